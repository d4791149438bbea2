"""The group store in a Google Cloud Storage bucket: `gs://BUCKET[/PREFIX]`.

Same contract as LocalStore (see tpuctl.adapters.store), built on GCS generations: create()
is an upload with ifGenerationMatch=0, a CAS write one with ifGenerationMatch=N, and
read_versioned() takes the generation from the download's own reply (one request, so the bytes
and the generation always belong together). GCS generations are large numbers that only grow,
never 1, 2, 3 as in the local store.

google-cloud-storage is imported only when the first request is made, so `tpuctl --help` and
commands that never touch the store stay fast.

Retries are the library's own (backoff on 429, 5xx and dropped connections, up to
`retry_deadline` seconds). Uploads retry only when they carry a generation precondition: a
retried create or CAS can never apply twice. The price: a create() whose first attempt
succeeded but whose reply was lost gets 412 on the retry and raises ObjectExists; callers use
unique ids (event ids) for create-only keys, so that is safe to surface. Likewise a CAS write
retried after a lost reply raises PreconditionFailed (the caller re-reads and finds its own
write), and a delete() ObjectNotFound. Unconditional writes are not retried.
"""

from __future__ import annotations

import os
import re
import threading
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import urlparse

from tpuctl.adapters.store import ObjectExists, ObjectNotFound, PreconditionFailed, check_key
from tpuctl.errors import ConfigError, ConflictError, PermissionDeniedError, UnavailableError

if TYPE_CHECKING:
    from google.cloud.storage import Bucket

EMULATOR_PROJECT = "tpuctl-emulator"    # any project will do for fake-gcs-server
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")


def parse_gcs_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of `gs://BUCKET[/PREFIX]`; ConfigError for anything else."""
    parsed = urlparse(url)
    bucket, prefix = parsed.netloc, parsed.path.strip("/")
    if not bucket:
        raise ConfigError(f"Group store {url} names no bucket.", hint="Write it as gs://BUCKET or gs://BUCKET/FOLDER.")
    if not _BUCKET_RE.match(bucket):
        raise ConfigError(f"Group store {url} has an invalid bucket name '{bucket}'.",
                          hint="Bucket names are lowercase letters, digits, '-', '_' and '.'.")
    if prefix:
        try:
            check_key(prefix)
        except ConfigError:
            raise ConfigError(f"Group store {url} has an invalid folder '{prefix}'.",
                              hint="Folder names are letters, digits and . _ = @ + -, separated by '/'.") from None
    return bucket, prefix


class GcsStore:
    """A group store in a GCS bucket, keys optionally under a folder (PREFIX) of it.

    `timeout` bounds each HTTP request; `retry_deadline` bounds all retries of one operation.
    The client is made on first use and shared by threads (google-cloud-storage allows that).
    """

    parallel_reads = 16         # each read is one round trip; 16 at once are 13x faster at 20 ms RTT

    def __init__(self, url: str, *, timeout: float = 60.0, retry_deadline: float = 30.0):
        self.bucket, self.prefix = parse_gcs_url(url)
        self.url = f"gs://{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")
        self.timeout = timeout
        self.retry_deadline = retry_deadline
        self._root = f"{self.prefix}/" if self.prefix else ""
        self._lock = threading.Lock()
        self._bucket_ref: Bucket | None = None
        self._retry: Any = None                   # the library's retry objects, made with the client
        self._retry_if_generation: Any = None
        self._bucket_seen = False

    def expect_ledger(self, expected: bool = True) -> None:
        """(A bucket is never unmounted: there is no empty stand-in to write into by mistake.)"""

    def __repr__(self) -> str:
        return f"GcsStore({self.url!r})"

    # -- client
    def _make_client(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.auth.exceptions import DefaultCredentialsError
        from google.cloud import storage

        # google-cloud-storage 3.17 fetches each bucket's metadata in a background thread for its
        # OpenTelemetry spans, which tpuctl does not record: one request per command, for nothing
        os.environ.setdefault("DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA", "true")
        if os.environ.get("STORAGE_EMULATOR_HOST"):       # the client sends its requests there
            return storage.Client(project=EMULATOR_PROJECT, credentials=AnonymousCredentials())
        try:
            return storage.Client(project=None)          # ADC; objects need no project
        except DefaultCredentialsError:
            raise PermissionDeniedError(
                f"No Google credentials found for the group store {self.url}.",
                hint="Run `gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS).",
            ) from None

    def _bucket(self) -> Bucket:
        with self._lock:
            if self._bucket_ref is None:
                from google.cloud.storage.retry import DEFAULT_RETRY, ConditionalRetryPolicy, is_generation_specified

                self._retry = DEFAULT_RETRY.with_timeout(self.retry_deadline)
                # Like DEFAULT_RETRY_IF_GENERATION_SPECIFIED, with our deadline.
                self._retry_if_generation = ConditionalRetryPolicy(self._retry, is_generation_specified,
                                                                   ["query_params"])
                self._bucket_ref = self._make_client().bucket(self.bucket)
            return self._bucket_ref

    def _name(self, key: str) -> str:
        return self._root + check_key(key)

    # -- contract
    def create(self, key: str, data: bytes) -> None:
        self._upload(key, data, 0, ObjectExists)

    def read(self, key: str) -> bytes:
        return self.read_versioned(key)[0]

    def read_versioned(self, key: str) -> tuple[bytes, int]:
        blob = self._bucket().blob(self._name(key))
        with self._errors(key):
            data = blob.download_as_bytes(timeout=self.timeout, retry=self._retry)
        return data, int(blob.generation)       # from the download reply's x-goog-generation

    def write(self, key: str, data: bytes, if_generation: int | None = None) -> int:
        return self._upload(key, data, if_generation, PreconditionFailed)

    def delete(self, key: str) -> None:
        blob = self._bucket().blob(self._name(key))
        with self._errors(key):
            blob.delete(timeout=self.timeout, retry=self._retry)

    def written_at(self, key: str) -> datetime:
        bucket = self._bucket()
        with self._errors(key):
            blob = bucket.get_blob(self._name(key), timeout=self.timeout, retry=self._retry)
        if blob is None:
            raise ObjectNotFound(f"{key} is not in the group store.")
        return blob.time_created

    def list(self, prefix: str = "", start_after: str | None = None) -> Iterator[str]:
        """GCS lists names in byte order; start_offset is inclusive, so an equal name is skipped."""
        bucket = self._bucket()
        after = None if start_after is None else self._root + start_after
        with self._errors(None):
            blobs = bucket.client.list_blobs(bucket, prefix=self._root + prefix, start_offset=after,
                                             fields="items(name),nextPageToken", timeout=self.timeout,
                                             retry=self._retry)
            for blob in blobs:                        # pages are fetched as the caller iterates
                key = blob.name[len(self._root):]
                if (after is None or blob.name > after) and _is_key(key):
                    yield key

    # -- helpers
    def _upload(self, key: str, data: bytes, if_generation: int | None, conflict: type[ConflictError]) -> int:
        blob = self._bucket().blob(self._name(key))
        with self._errors(key, if_generation, conflict):
            blob.upload_from_string(data, content_type="application/octet-stream", if_generation_match=if_generation,
                                    timeout=self.timeout, retry=self._retry_if_generation)
        return int(blob.generation)

    def _bucket_missing(self) -> bool:
        """Tell a missing bucket from a missing object (both are 404) with a one-item list."""
        from google.api_core import exceptions as api

        if not self._bucket_seen:
            try:
                bucket = self._bucket()
                next(iter(bucket.client.list_blobs(bucket, max_results=1, timeout=self.timeout, retry=None)), None)
                self._bucket_seen = True
            except api.NotFound:
                return True
            except api.GoogleAPIError:
                pass                                  # cannot tell: say the object is missing
        return False

    @contextmanager
    def _errors(self, key: str | None, if_generation: int | None = None,
                conflict: type[ConflictError] = PreconditionFailed) -> Iterator[None]:
        """Turn the library's exceptions into tpuctl's, each one sentence with a way out."""
        import requests
        from google.api_core import exceptions as api
        from google.auth import exceptions as auth

        try:
            yield
        except api.PreconditionFailed:
            raise conflict(f"{key} already exists in the group store." if if_generation == 0 else
                           f"{key} changed in the group store (expected generation {if_generation}).") from None
        except api.NotFound:
            if key is None or self._bucket_missing():
                raise ConfigError(
                    f"The bucket {self.bucket} of the group store {self.url} does not exist.",
                    hint=f"Check `store` in your profile (or TPUCTL_STORE), or create the bucket: "
                         f"`gcloud storage buckets create gs://{self.bucket}`.",
                ) from None
            raise ObjectNotFound(f"{key} is not in the group store.") from None
        except (api.Unauthorized, api.Forbidden):
            raise PermissionDeniedError(
                f"Your Google account may not use the bucket {self.bucket} of the group store {self.url}.",
                hint=f"Ask the group admin to grant you roles/storage.objectUser on gs://{self.bucket}, or run "
                     "`gcloud auth application-default login` with the account the group knows.",
            ) from None
        except (api.RetryError, api.ServerError, api.TooManyRequests, requests.RequestException,
                auth.TransportError, ConnectionError) as exc:
            raise UnavailableError(f"The group store {self.url} cannot be reached ({_why(exc)}).",
                                   hint="Check your network connection and try again.") from exc
        except auth.GoogleAuthError:                  # e.g. a token that can no longer be refreshed
            raise PermissionDeniedError(
                f"Your Google credentials were refused for the bucket {self.bucket} of the group store {self.url}.",
                hint="Run `gcloud auth application-default login` again.",
            ) from None


def _is_key(key: str) -> bool:
    """Objects that are no valid key (a console 'folder/' placeholder) are not the store's."""
    try:
        check_key(key)
        return True
    except ConfigError:
        return False


def _why(exc: BaseException) -> str:
    from google.api_core import exceptions as api

    cause = exc.cause if isinstance(exc, api.RetryError) and exc.cause else exc
    status = cause.code if isinstance(cause, api.GoogleAPICallError) else None
    status = status or getattr(getattr(cause, "response", None), "status_code", None)   # media: InvalidResponse
    what = f"HTTP {status}" if status else type(cause).__name__
    return f"{what}, gave up after retrying" if cause is not exc else what
