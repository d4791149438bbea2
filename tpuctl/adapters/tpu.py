"""Cloud TPU through the official client (google-cloud-tpu, REST transport).

The only module that speaks to Cloud TPU. It imports the Google libraries lazily (they cost
~240 ms), retries 429/503 with backoff, makes a retried create idempotent, and turns every
google.api_core exception into a TpuctlError with one plain sentence.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from tpuctl.domain.accelerators import from_accelerator_config
from tpuctl.domain.nodes import REQUEST_LABEL, NodeInfo
from tpuctl.domain.queued import QueuedInfo
from tpuctl.errors import (
    CapacityError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    TpuctlError,
    UnavailableError,
    UsageError,
)

Progress = Callable[[str], None]
RetryProgress = Callable[[TpuctlError, int, int, float], None]   # (why, next attempt, attempts, delay)


class NotSent(UnavailableError):
    """Every attempt failed before anything reached Cloud TPU (no connection could be made),
    so the call certainly changed nothing."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for 429/503 and dropped connections."""

    attempts: int = 5
    initial: float = 0.5
    multiplier: float = 2.0
    maximum: float = 10.0

    def delays(self) -> Iterator[float]:
        delay = self.initial
        for _ in range(self.attempts - 1):
            yield delay
            delay = min(delay * self.multiplier, self.maximum)


@dataclass(frozen=True)
class Zone:
    name: str
    location: str


def _every_page(pager, field: str, convert) -> tuple[list, list[str]]:
    """Every item of a paged listing, converted, and the locations it could not reach."""
    items, unreachable = [], []
    for page in pager.pages:
        items.extend(convert(item) for item in getattr(page, field))
        unreachable.extend(page.unreachable)
    return items, unreachable


class TpuApi:
    """The group's project as the Cloud TPU API shows it."""

    def __init__(
        self,
        project: str,
        endpoint: str = "",
        *,
        retry: RetryPolicy = RetryPolicy(),
        poll_interval: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: RetryProgress | None = None,
    ):
        self.project = project
        self.on_retry = on_retry     # told before each wait between attempts; adapters never print
        self.endpoint = endpoint
        self.retry = retry
        self.poll_interval = poll_interval
        self._sleep = sleep
        self._client = None
        self.unreachable: list[str] = []   # zones the last all-zones listing could not reach

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def client(self):
        if self._client is None:
            self._client = _make_client(self.endpoint)
        return self._client

    def _parent(self, zone: str | None) -> str:
        return f"projects/{self.project}/locations/{zone or '-'}"

    def _node_path(self, zone: str, name: str) -> str:
        return f"{self._parent(zone)}/nodes/{name}"

    def _call(self, what: str, fn: Callable[[], Any],
              already_done: Callable[[Exception], bool] | None = None) -> Any:
        """Run one API call with retries on 429/503, translating errors for `what`.

        A retry can meet the effect of an attempt whose reply was lost (409 on a create,
        404 on a delete); when `already_done(error)` says so, the call succeeded: None.
        """
        delays = self.retry.delays()
        retried = sent = False
        attempt = 1
        while True:
            try:
                with translate_errors(what):
                    try:
                        return fn()
                    except Exception as exc:
                        if retried and already_done is not None and already_done(exc):
                            return None
                        raise
            except _Retryable as exc:
                retried = True
                sent = sent or not isinstance(exc.final, NotSent)
                delay = next(delays, None)
                if delay is None:
                    final = exc.final
                    if sent and isinstance(final, NotSent):     # an earlier attempt may have got through
                        final = UnavailableError(final.message, final.hint)
                    final.transient = True
                    raise final from None
                attempt += 1
                if self.on_retry is not None:
                    self.on_retry(exc.final, attempt, self.retry.attempts, delay)
                self._sleep(delay)

    # -- nodes ------------------------------------------------------------------------------
    def list_nodes(self, zone: str | None = None) -> list[NodeInfo]:
        """Every node in `zone`, or in every zone when zone is None (`locations/-`)."""

        def fetch():
            from google.cloud import tpu_v2

            pager = self.client.list_nodes(request=tpu_v2.ListNodesRequest(parent=self._parent(zone)))
            return _every_page(pager, "nodes", node_info)

        nodes, self.unreachable = self._call(f"list TPUs in {zone or 'all zones'}", fetch)
        return nodes

    def get_node(self, zone: str, name: str) -> NodeInfo:
        return node_info(self._call(f"find TPU '{name}' in {zone}", lambda: self.client.get_node(name=self._node_path(zone, name))))

    def create_node(
        self,
        zone: str,
        name: str,
        *,
        accelerator_type: str,
        runtime_version: str,
        spot: bool,
        labels: dict[str, str],
        metadata: dict[str, str] | None = None,
        wait: bool = True,
        on_progress: Progress | None = None,
        timeout: float = 3600,
    ) -> NodeInfo:
        """Create a node; a retry after a lost reply finds its own node (by the request label)."""
        from google.cloud import tpu_v2

        node = tpu_v2.Node(
            accelerator_type=accelerator_type,
            runtime_version=runtime_version,
            labels=labels,
            metadata=metadata or {},
            scheduling_config=tpu_v2.SchedulingConfig(spot=spot),
        )
        what = f"create TPU '{name}' in {zone}"

        def ours(exc: Exception) -> bool:
            return api_status(exc) == "ALREADY_EXISTS" and self._is_ours(zone, name, labels.get(REQUEST_LABEL))

        operation = self._call(what, lambda: self.client.create_node(parent=self._parent(zone), node_id=name, node=node),
                               already_done=ours)
        try:
            return self._follow_create(zone, name, operation, what, accelerator_type, runtime_version, spot, labels,
                                       wait, on_progress, timeout)
        except NotSent as exc:              # the create itself got through: it may well exist
            raise UnavailableError(exc.message, exc.hint) from None

    def _follow_create(self, zone, name, operation, what, accelerator_type, runtime_version, spot, labels, wait,
                       on_progress, timeout) -> NodeInfo:
        if not wait:
            if operation is not None and self._call(what, operation.done):
                self._raise_if_failed(what, operation)  # e.g. no capacity, known at once
            try:
                return self.get_node(zone, name)
            except NotFoundError:  # accepted, not yet visible
                return NodeInfo(name=name, zone=zone, accelerator_type=accelerator_type, state="CREATING",
                                spot=spot, labels=dict(labels), runtime_version=runtime_version)
        if operation is not None:
            self._wait_operation(what, operation, on_progress, timeout)
        return self.wait_for_state(zone, name, {"READY"}, on_progress=on_progress, timeout=timeout)

    def _is_ours(self, zone: str, name: str, request_id: str | None) -> bool:
        try:
            existing = self.client.get_node(name=self._node_path(zone, name))
        except Exception:
            return False
        return bool(request_id) and existing.labels.get(REQUEST_LABEL) == request_id

    def delete_node(self, zone: str, name: str, *, wait: bool = True, on_progress: Progress | None = None) -> None:
        self._lifecycle(zone, name, "delete", wait, on_progress, gone_ok=True)

    def stop_node(self, zone: str, name: str, *, wait: bool = True, on_progress: Progress | None = None) -> NodeInfo | None:
        return self._lifecycle(zone, name, "stop", wait, on_progress)

    def start_node(self, zone: str, name: str, *, wait: bool = True, on_progress: Progress | None = None) -> NodeInfo | None:
        return self._lifecycle(zone, name, "start", wait, on_progress)

    def _lifecycle(self, zone, name, verb, wait, on_progress, gone_ok=False):

        path = self._node_path(zone, name)
        method = getattr(self.client, f"{verb}_node")
        what = f"{verb} TPU '{name}' in {zone}"

        def send():
            return method(name=path) if verb == "delete" else method(request={"name": path})

        operation = self._call(what, send, already_done=_gone if gone_ok else None)
        if wait and operation is not None:
            self._wait_operation(what, operation, on_progress)
        if verb == "delete" or not wait:
            return None
        return self.get_node(zone, name)

    def set_labels(self, zone: str, name: str, labels: dict[str, str]) -> NodeInfo:
        """Replace a node's labels (update_node with the mask 'labels'); the same labels twice is a no-op."""
        from google.cloud import tpu_v2
        from google.protobuf import field_mask_pb2

        request = tpu_v2.UpdateNodeRequest(node=tpu_v2.Node(name=self._node_path(zone, name), labels=labels),
                                           update_mask=field_mask_pb2.FieldMask(paths=["labels"]))
        what = f"relabel TPU '{name}' in {zone}"
        operation = self._call(what, lambda: self.client.update_node(request=request))
        if operation is not None:
            self._wait_operation(what, operation, None, timeout=600)
        return self.get_node(zone, name)

    def wait_for_state(
        self, zone: str, name: str, states: set[str], *, on_progress: Progress | None = None, timeout: float = 3600
    ) -> NodeInfo:
        """Poll a node until it reaches one of `states`; a node that dies on the way is an error."""
        for _ in self._paced(timeout):
            node = self.get_node(zone, name)
            if node.state in states:
                return node
            if node.state in {"PREEMPTED", "TERMINATED"}:
                raise CapacityError(f"TPU '{name}' was {node.state.lower()} before it became ready.",
                                    hint="Spot capacity is scarce: try again later, another zone, or `tpuctl create --queue`.")
            if on_progress:
                on_progress(node.state)
        raise UnavailableError(f"TPU '{name}' is still {node.state} after {timeout:.0f} s.",
                               hint="Check it later with `tpuctl describe`.")

    def _wait_operation(self, what: str, operation, on_progress: Progress | None, timeout: float = 3600) -> None:
        for _ in self._paced(timeout):
            if self._call(what, operation.done):
                self._raise_if_failed(what, operation)
                return
            if on_progress:
                on_progress("working")
        raise UnavailableError(f"Could not {what}: still running after {timeout:.0f} s.")

    def _paced(self, timeout: float) -> Iterator[None]:
        """Pace a poll loop: a look now, then after sleeps growing 1.5x up to 5 s, until
        `timeout` has passed (the caller then says what it was waiting for)."""
        deadline = time.monotonic() + timeout
        interval = self.poll_interval
        while True:
            yield
            if time.monotonic() > deadline:
                return
            self._sleep(interval)
            interval = min(interval * 1.5, 5.0)

    @staticmethod
    def _raise_if_failed(what: str, operation) -> None:
        """A finished operation's error, as one sentence (its result is not needed)."""
        try:
            with translate_errors(what):
                operation.result(timeout=0)
        except _Retryable as exc:
            raise exc.final from None

    # -- queued resources -------------------------------------------------------------------
    def _queued_path(self, zone: str, name: str) -> str:
        return f"{self._parent(zone)}/queuedResources/{name}"

    def list_queued_resources(self, zone: str | None = None) -> list[QueuedInfo]:
        def fetch():
            from google.cloud import tpu_v2

            pager = self.client.list_queued_resources(
                request=tpu_v2.ListQueuedResourcesRequest(parent=self._parent(zone)))
            return _every_page(pager, "queued_resources", queued_info)

        found, self.unreachable = self._call(f"list queued resources in {zone or 'all zones'}", fetch)
        return found

    def get_queued_resource(self, zone: str, name: str) -> QueuedInfo:
        return queued_info(self._call(f"find queued resource '{name}' in {zone}",
                                      lambda: self.client.get_queued_resource(name=self._queued_path(zone, name))))

    def create_queued_resource(
        self,
        zone: str,
        name: str,
        *,
        node_ids: list[str],
        accelerator_type: str,
        runtime_version: str,
        spot: bool,
        guaranteed: bool,
        labels: dict[str, str],
        request_id: str,
        metadata: dict[str, str] | None = None,
        valid_until: datetime | None = None,
        valid_after: datetime | None = None,
        node_metadata: dict[str, dict[str, str]] | None = None,
    ) -> QueuedInfo:
        """Ask for capacity; the request id makes a retried create idempotent server-side.
        `node_metadata` gives a node its own metadata (its agent's startup script names it)."""
        from google.cloud import tpu_v2

        QR = tpu_v2.QueuedResource

        def node(node_id: str):
            return tpu_v2.Node(accelerator_type=accelerator_type, runtime_version=runtime_version, labels=labels,
                               metadata=(node_metadata or {}).get(node_id, metadata or {}),
                               scheduling_config=tpu_v2.SchedulingConfig(spot=spot))

        resource = QR(tpu=QR.Tpu(node_spec=[QR.Tpu.NodeSpec(parent=self._parent(zone), node_id=node_id,
                                                             node=node(node_id)) for node_id in node_ids]))
        if spot:
            resource.spot = QR.Spot()
        elif guaranteed:
            resource.guaranteed = QR.Guaranteed()
        if valid_until or valid_after:
            resource.queueing_policy = QR.QueueingPolicy(valid_until_time=valid_until, valid_after_time=valid_after)
        request = tpu_v2.CreateQueuedResourceRequest(parent=self._parent(zone), queued_resource_id=name,
                                                     queued_resource=resource, request_id=request_id)
        what = f"queue '{name}' in {zone}"

        def ours(exc: Exception) -> bool:
            return api_status(exc) == "ALREADY_EXISTS" and self._queued_is_ours(zone, name, request_id)

        operation = self._call(what, lambda: self.client.create_queued_resource(request=request), already_done=ours)
        if operation is not None:
            self._wait_operation(what, operation, None, timeout=600)
        return self.get_queued_resource(zone, name)

    def _queued_is_ours(self, zone: str, name: str, request_id: str) -> bool:
        try:
            return self.get_queued_resource(zone, name).labels.get(REQUEST_LABEL) == request_id
        except TpuctlError:
            return False

    def delete_queued_resource(self, zone: str, name: str, *, force: bool = False, wait: bool = True,
                               on_progress: Progress | None = None) -> None:
        from google.cloud import tpu_v2

        request = tpu_v2.DeleteQueuedResourceRequest(name=self._queued_path(zone, name), force=force)
        what = f"delete queued resource '{name}' in {zone}"
        operation = self._call(what, lambda: self.client.delete_queued_resource(request=request), already_done=_gone)
        if wait and operation is not None:
            self._wait_operation(what, operation, on_progress)

    # -- catalogue --------------------------------------------------------------------------
    def list_accelerator_types(self, zone: str) -> list[str]:
        def fetch():
            return [t.type_ for t in self.client.list_accelerator_types(parent=self._parent(zone))]

        return sorted(self._call(f"list accelerator types in {zone}", fetch))

    def list_runtime_versions(self, zone: str) -> list[str]:
        def fetch():
            return [v.version for v in self.client.list_runtime_versions(parent=self._parent(zone))]

        return sorted(self._call(f"list runtime versions in {zone}", fetch))

    def list_zones(self) -> list[str]:
        def fetch():
            from google.cloud.location import locations_pb2

            reply = self.client.list_locations(locations_pb2.ListLocationsRequest(name=f"projects/{self.project}"))
            return [loc.location_id for loc in reply.locations]

        return sorted(self._call("list zones", fetch))


# -- conversion ------------------------------------------------------------------------------
def node_info(node) -> NodeInfo:
    """A tpu_v2.Node in plain terms (state by name: gcloud and the proto number them differently)."""
    from google.cloud import tpu_v2

    parts = node.name.split("/")
    zone, short = parts[3], parts[-1]
    chips = None
    config = node.accelerator_config
    if config and config.topology and config.type_:
        try:
            chips = from_accelerator_config(tpu_v2.AcceleratorConfig.Type(config.type_).name, config.topology).chips
        except UsageError:
            chips = None
    sched = node.scheduling_config
    return NodeInfo(
        name=short,
        zone=zone,
        accelerator_type=node.accelerator_type,
        state=tpu_v2.Node.State(node.state).name,
        spot=bool(sched and (sched.spot or sched.preemptible)),
        labels=dict(node.labels),
        runtime_version=node.runtime_version,
        create_time=_aware(node.create_time),
        health=tpu_v2.Node.Health(node.health).name if node.health else "",
        workers=max(1, len(node.network_endpoints)),
        queued_resource=node.queued_resource,
        chips=chips,
    )


def queued_info(resource) -> QueuedInfo:
    from google.cloud import tpu_v2

    parts = resource.name.split("/")
    specs = list(resource.tpu.node_spec)
    first = specs[0].node if specs else tpu_v2.Node()
    node_ids: list[str] = []
    for spec in specs:
        if spec.node_id:
            node_ids.append(spec.node_id)
        elif spec.multislice_params and spec.multislice_params.node_count:
            prefix = spec.multislice_params.node_id_prefix or parts[-1]
            node_ids.extend(f"{prefix}-{i}" for i in range(spec.multislice_params.node_count))
    tier = "spot" if "spot" in resource else "guaranteed" if "guaranteed" in resource else "on-demand"
    state = resource.state
    policy = resource.queueing_policy
    failure = state.failed_data.error.message if "failed_data" in state else ""
    return QueuedInfo(
        name=parts[-1],
        zone=parts[3],
        state=tpu_v2.QueuedResourceState.State(state.state).name,
        accelerator_type=first.accelerator_type,
        node_ids=tuple(node_ids),
        tier=tier,
        labels=dict(first.labels),
        create_time=_aware(resource.create_time),
        valid_until=_aware(policy.valid_until_time) if "valid_until_time" in policy else None,
        valid_after=_aware(policy.valid_after_time) if "valid_after_time" in policy else None,
        failure=failure,
        initiator=tpu_v2.QueuedResourceState.StateInitiator(state.state_initiator).name if state.state_initiator else "",
    )


def _aware(value) -> datetime | None:
    """Proto timestamps in aware UTC; an unset one (epoch 0) is None."""
    if not isinstance(value, datetime) or value.timestamp() <= 0:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


# -- client and errors -----------------------------------------------------------------------
def _make_client(endpoint: str):
    from google.cloud import tpu_v2

    if endpoint.startswith("http://"):
        from google.auth.credentials import AnonymousCredentials

        return tpu_v2.TpuClient(
            transport="rest",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": endpoint},
        )
    import google.auth
    from google.auth import exceptions as auth_exc

    try:
        credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    except auth_exc.DefaultCredentialsError:
        raise PermissionDeniedError(
            "No Google Cloud credentials were found on this machine.",
            hint="Run `gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS), "
            "or use the built-in emulator with `--profile local`.",
        ) from None
    options = {"api_endpoint": endpoint} if endpoint else None
    return tpu_v2.TpuClient(transport="rest", credentials=credentials, client_options=options)


class _Retryable(Exception):
    """A transient failure; `final` is what to raise once retries run out."""

    def __init__(self, final: TpuctlError):
        self.final = final


@contextmanager
def translate_errors(what: str):
    """Turn Google and transport exceptions into one plain sentence about `what`.

    Over REST the exception class follows the HTTP code (409 is Conflict, 400 BadRequest), so
    the Google status name in the reply body decides: ALREADY_EXISTS vs ABORTED, and
    INVALID_ARGUMENT vs FAILED_PRECONDITION.
    """
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc
    import requests

    try:
        yield
    except TpuctlError:
        raise
    except gexc.GoogleAPICallError as exc:
        raise _translated(what, exc, api_status(exc)) from None
    except auth_exc.RefreshError as exc:
        raise PermissionDeniedError(f"Could not {what}: your credentials were refused ({exc}).",
                                    hint="Run `gcloud auth application-default login` again.") from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        error = NotSent if _never_sent(exc) else UnavailableError
        raise _Retryable(error(f"Could not {what}: the Cloud TPU API is unreachable ({type(exc).__name__}).",
                                          hint="Check your network (or that the emulator is running) and try again.")) from None


def _translated(what: str, exc, status: str) -> Exception:
    message = api_message(exc)
    if status == "NOT_FOUND":
        return NotFoundError(f"Could not {what}: it does not exist ({message}).",
                             hint="`tpuctl list --all-zones` shows what exists.")
    if status == "ALREADY_EXISTS":
        return ConflictError(f"Could not {what}: the name is already taken ({message}).",
                             hint="Pick another name, or delete the existing one first.")
    if status in ("FAILED_PRECONDITION", "ABORTED"):
        return ConflictError(f"Could not {what}: {message}.")
    if status in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
        return PermissionDeniedError(f"Could not {what}: permission denied ({message}).",
                                     hint="Check that your account has the TPU Admin role on the project.")
    if exc.code == 429 and hasattr(getattr(exc, "response", None), "status_code"):
        return _Retryable(CapacityError(f"Could not {what}: the API kept answering 'too many requests' ({message}).",
                                        hint="Wait a minute and try again."))
    if status == "RESOURCE_EXHAUSTED":
        # An operation that failed for capacity or quota (429 replies to a request are retried above).
        return CapacityError(f"Could not {what}: {message}.",
                             hint="Try another zone, a smaller type, or `tpuctl create --queue` to wait for capacity.")
    if status in ("UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED") or exc.code in (500, 502, 503, 504):
        return _Retryable(UnavailableError(f"Could not {what}: the Cloud TPU API is unavailable ({message}).",
                                           hint="Check your network (or that the emulator is running) and try again."))
    if status == "INVALID_ARGUMENT" or exc.code == 400:
        return _invalid(what, message)
    return TpuctlError(f"Could not {what}: {message}.")


def _invalid(what: str, message: str) -> UsageError:
    """A refused argument; an accelerator type the zone does not offer points at `tpuctl types`,
    not at the API path the server names."""
    import re

    if "accelerator type" not in message.lower():
        return UsageError(f"Could not {what}: {message}.")
    message = re.sub(r";?\s*see projects/\S*$", "", message).rstrip(".")
    zone = re.search(r"\bin (?:zone )?([a-z]+-[a-z]+[0-9]+-[a-z])\b", f"{message} {what}")
    hint = f"`tpuctl types --zone {zone.group(1)}` lists the types it offers." if zone else \
        "`tpuctl types --zone ZONE` lists the types a zone offers."
    return UsageError(f"Could not {what}: {message}.", hint=hint)


def in_doubt(exc: TpuctlError) -> bool:
    """Whether a call that failed this way may still have taken effect: retries ran out, the
    API went away or a wait timed out (not: nothing was sent, or Cloud TPU said no)."""
    if isinstance(exc, NotSent):
        return False
    return isinstance(exc, UnavailableError) or getattr(exc, "transient", False)


def _never_sent(exc: Exception) -> bool:
    """A connection that could not even be opened: the request never left this machine."""
    import requests
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(exc.args[0] if exc.args else None, "reason", None)
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


def _gone(exc: Exception) -> bool:
    """A retried delete whose first attempt went through."""
    return api_status(exc) == "NOT_FOUND"


def api_status(exc) -> str:
    """The Google status name (NOT_FOUND, ALREADY_EXISTS, ...) of an API error."""
    response = getattr(exc, "response", None)
    try:
        status = response.json()["error"]["status"]
        if status:
            return str(status)
    except Exception:
        pass
    grpc_code = getattr(exc, "grpc_status_code", None)
    if grpc_code is not None:
        return grpc_code.name
    return {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
            409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}.get(getattr(exc, "code", None) or 0, "UNKNOWN")


def api_message(exc) -> str:
    """The server's own sentence, without the method and URL the REST transport prepends."""
    response = getattr(exc, "response", None)
    try:
        message = response.json()["error"]["message"]
    except Exception:
        message = getattr(exc, "message", None) or str(exc)
    return str(message).strip().rstrip(".")
