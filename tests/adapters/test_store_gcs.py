"""What only the GCS store does: gs:// addresses, a folder (PREFIX) per store, and its failures
told as tpuctl errors. Requests go to a real fake-gcs-server, or for refusals the fake server
cannot make (403, 503), to a tiny real HTTP server that answers every request with one status."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator

import pytest

from tpuctl.adapters.gcs_store import GcsStore
from tpuctl.adapters.store import ObjectNotFound, open_store
from tpuctl.errors import ConfigError, ExitCode, PermissionDeniedError, UnavailableError


def test_open_store_reads_gs_addresses_without_touching_the_network():
    store = open_store("gs://study-group/tpuctl/")
    assert isinstance(store, GcsStore)
    assert (store.bucket, store.prefix, store.url) == ("study-group", "tpuctl", "gs://study-group/tpuctl")
    assert open_store("gs://study-group").url == "gs://study-group"
    for url, message in [("gs://", "names no bucket"), ("gs:///tpuctl", "names no bucket"),
                         ("gs://Study_Group", "invalid bucket name 'Study_Group'"),
                         ("gs://study-group/../x", "invalid folder '../x'")]:
        with pytest.raises(ConfigError, match=message):
            open_store(url)


def test_the_store_module_and_a_gs_address_do_not_import_google():
    code = ("import sys; from tpuctl.adapters.store import open_store; open_store('gs://study-group/tpuctl'); "
            "print(sorted(m for m in sys.modules if m.startswith('google')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_prefix_isolates_stores_sharing_a_bucket(gcs_bucket, gcs_admin):
    team, team2, whole = (GcsStore(f"gs://{gcs_bucket}/team"), GcsStore(f"gs://{gcs_bucket}/team-2"),
                          GcsStore(f"gs://{gcs_bucket}"))
    team.create("configs/a.yaml", b"team")
    team2.create("configs/a.yaml", b"team-2")
    team2.create("configs/b.yaml", b"team-2")
    assert team.read("configs/a.yaml") == b"team" and team2.read("configs/a.yaml") == b"team-2"
    assert list(team.list()) == ["configs/a.yaml"]
    assert list(team2.list("configs/", start_after="configs/a.yaml")) == ["configs/b.yaml"]
    assert list(whole.list()) == ["team-2/configs/a.yaml", "team-2/configs/b.yaml", "team/configs/a.yaml"]
    with pytest.raises(ObjectNotFound):
        team.read("configs/b.yaml")
    assert gcs_admin.bucket(gcs_bucket).blob("team/configs/a.yaml").download_as_bytes() == b"team"


def test_objects_that_are_not_keys_are_not_listed(gcs_bucket, gcs_admin):
    for name in ["tpuctl/jobs/", "tpuctl/jobs/j1/.DS_Store", "tpuctl/jobs/j1/log"]:   # a console folder, junk
        gcs_admin.bucket(gcs_bucket).blob(name).upload_from_string(b"")
    assert list(GcsStore(f"gs://{gcs_bucket}/tpuctl").list("jobs/")) == ["jobs/j1/log"]


def test_an_unknown_bucket_is_a_config_error(gcs_bucket):
    store = GcsStore(f"gs://{gcs_bucket}-gone/tpuctl")
    message = f"The bucket {gcs_bucket}-gone of the group store gs://{gcs_bucket}-gone/tpuctl does not exist."
    for attempt in (lambda: store.read("configs/a.yaml"), lambda: store.create("configs/a.yaml", b"x"),
                    lambda: store.write("configs/a.yaml", b"x", if_generation=0), lambda: list(store.list()),
                    lambda: store.delete("configs/a.yaml")):
        with pytest.raises(ConfigError) as caught:
            attempt()
        assert caught.value.message == message
        assert f"gcloud storage buckets create gs://{gcs_bucket}-gone" in caught.value.hint


@pytest.mark.slow
def test_an_unreachable_store_is_unavailable_after_short_retries(monkeypatch):
    import socket

    with socket.socket() as sock:                    # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    store = GcsStore("gs://study-group/tpuctl", timeout=2, retry_deadline=1)
    for attempt in (lambda: store.read("configs/a.yaml"), lambda: store.create("configs/a.yaml", b"x"),
                    lambda: store.write("configs/a.yaml", b"x", if_generation=7), lambda: list(store.list()),
                    lambda: store.write("configs/a.yaml", b"x")):
        started = time.monotonic()
        with pytest.raises(UnavailableError) as caught:
            attempt()
        assert time.monotonic() - started < 5
        assert caught.value.message.startswith("The group store gs://study-group/tpuctl cannot be reached (")
        assert caught.value.exit_code == ExitCode.UNAVAILABLE


def test_missing_credentials_say_how_to_log_in(monkeypatch, tmp_path):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    with pytest.raises(PermissionDeniedError) as caught:
        GcsStore("gs://study-group/tpuctl").read("configs/a.yaml")
    assert caught.value.message == "No Google credentials found for the group store gs://study-group/tpuctl."
    assert "gcloud auth application-default login" in caught.value.hint


@pytest.fixture
def answering(monkeypatch) -> Iterator[Callable[[int], list[str]]]:
    """Point the store at a real HTTP server that answers every request with one status."""
    servers = []

    def start(status: int) -> list[str]:
        seen: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                seen.append(self.command)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.dumps({"error": {"code": status, "message": "no", "errors": [{"message": "no"}]}})
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{server.server_address[1]}")
        return seen

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_refused_account_is_a_permission_error_naming_the_bucket(answering):
    answering(403)
    store = GcsStore("gs://study-group/tpuctl", retry_deadline=1)
    for attempt in (lambda: store.read("configs/a.yaml"), lambda: store.create("configs/a.yaml", b"x"),
                    lambda: list(store.list())):
        with pytest.raises(PermissionDeniedError) as caught:
            attempt()
        assert caught.value.message == ("Your Google account may not use the bucket study-group of the group store "
                                        "gs://study-group/tpuctl.")
        assert "roles/storage.objectUser on gs://study-group" in caught.value.hint


def test_refused_credentials_are_a_permission_error(answering):
    answering(401)          # the client then refreshes its token; anonymous credentials cannot be refreshed
    with pytest.raises(PermissionDeniedError, match="credentials were refused for the bucket study-group"):
        GcsStore("gs://study-group/tpuctl", retry_deadline=1).read("configs/a.yaml")


@pytest.mark.slow
def test_a_failing_service_is_retried_then_unavailable(answering):
    seen = answering(503)
    store = GcsStore("gs://study-group/tpuctl", retry_deadline=4)      # room for a second try on a busy machine
    with pytest.raises(UnavailableError, match=r"cannot be reached \(HTTP 503, gave up after retrying\)"):
        store.create("configs/a.yaml", b"x")          # create-only: safe to retry
    assert seen.count("POST") >= 2
    seen = answering(503)       # (a server of its own: the write's requests alone)
    with pytest.raises(UnavailableError, match=r"cannot be reached \(HTTP 503\)"):
        GcsStore("gs://study-group/tpuctl", retry_deadline=4).write("configs/a.yaml", b"x")   # unconditional: never retried
    settled()
    assert seen == ["POST"]             # and no request of the client's own (its bucket-metadata fetch)


def settled() -> None:
    """Wait for the storage client's background threads (its bucket-metadata fetches) to end."""
    for thread in threading.enumerate():
        if getattr(getattr(thread, "_target", None), "__name__", "") == "_fetch_background":
            thread.join(10)
