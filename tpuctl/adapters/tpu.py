"""Cloud TPU through the official client (google-cloud-tpu, REST transport).

The only module that speaks to Cloud TPU. Retries and the polling of long-running operations
are google-api-core's, waiting on tpuctl's clock (tpu_retry.py); errors become one plain
sentence (tpu_errors.py); protos become NodeInfo / QueuedInfo (tpu_convert.py). What is
tpuctl's own here: a retry that meets the effect of an attempt whose reply was lost (a create
answered 409 by a node with our request id, a delete answered 404) counts as done. Google's
libraries are imported lazily (they cost ~240 ms).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from tpuctl.adapters.tpu_convert import node_info, queued_info
from tpuctl.adapters.tpu_errors import NotSent, api_status, gone, in_doubt, is_transient, translate_errors
from tpuctl.adapters.tpu_retry import Attempts, Pace, RetryPolicy, RetryProgress, clockless_retry, never_retry
from tpuctl.domain.clock import SystemClock, WaitingClock
from tpuctl.domain.listing import Listing
from tpuctl.domain.nodes import REQUEST_LABEL, NodeInfo
from tpuctl.domain.queued import QueuedInfo
from tpuctl.errors import CapacityError, NotFoundError, PermissionDeniedError, TpuctlError, UnavailableError

__all__ = ["Listing", "NotSent", "Progress", "RetryPolicy", "TpuApi", "in_doubt"]

Progress = Callable[[str], None]


def _every_page(pager, field: str, convert) -> Listing:
    """Every item of a paged listing, converted, with the locations it could not reach."""
    items, unreachable = [], []
    for page in pager.pages:
        items.extend(convert(item) for item in getattr(page, field))
        unreachable.extend(page.unreachable)
    return Listing(items, unreachable)


class _NotYet(Exception):
    """A node not yet in the state waited for (what the wait's api-core loop retries)."""

    def __init__(self, node: NodeInfo):
        super().__init__(node.state)
        self.node = node


class TpuApi:
    """The group's project as the Cloud TPU API shows it."""

    def __init__(
        self,
        project: str,
        endpoint: str = "",
        *,
        retry: RetryPolicy = RetryPolicy(),
        poll_interval: float = 0.5,
        poll_ceiling: float = 5.0,
        clock: WaitingClock | None = None,
        on_retry: RetryProgress | None = None,
    ):
        self.project = project
        self.on_retry = on_retry     # told before each wait between attempts; adapters never print
        self.endpoint = endpoint
        self.retry = retry
        self.poll_interval = poll_interval     # the first wait of a poll loop; each next is 1.5x, up to:
        self.poll_ceiling = poll_ceiling
        self.clock = clock or SystemClock()     # every wait and deadline of retries and polls
        self._client = None

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

    def _attempts(self, what: str) -> Attempts:
        return Attempts(what, self.retry, self.clock, self.on_retry)

    def _call(self, what: str, fn: Callable[[], Any],
              already_done: Callable[[Exception], bool] | None = None) -> Any:
        """Run one API call, retried on transient errors, its errors said in terms of `what`.

        A retry can meet the effect of an attempt whose reply was lost (409 on a create,
        404 on a delete); when `already_done(error)` says so, the call succeeded: None.
        """
        attempts = self._attempts(what)

        def attempt():
            try:
                return fn()
            except Exception as exc:
                if attempts.retried and already_done is not None and already_done(exc):
                    return None
                raise

        with translate_errors(what):
            return attempts.retry()(attempt)()

    # -- nodes ------------------------------------------------------------------------------
    def list_nodes(self, zone: str | None = None) -> Listing[NodeInfo]:
        """Every node in `zone`, or in every zone when zone is None (`locations/-`), with the
        zones that did not answer."""

        def fetch():
            from google.cloud import tpu_v2

            pager = self.client.list_nodes(request=tpu_v2.ListNodesRequest(parent=self._parent(zone)))
            return _every_page(pager, "nodes", node_info)

        return self._call(f"list TPUs in {zone or 'all zones'}", fetch)

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
            if wait:
                if operation is not None:
                    self._wait_operation(what, operation, on_progress, timeout)
                return self.wait_for_state(zone, name, {"READY"}, on_progress=on_progress, timeout=timeout)
            self._raise_if_failed(what, operation)     # e.g. no capacity, known at once
            try:
                return self.get_node(zone, name)
            except NotFoundError:  # accepted, not yet visible
                return NodeInfo(name=name, zone=zone, accelerator_type=accelerator_type, state="CREATING",
                                spot=spot, labels=dict(labels), runtime_version=runtime_version)
        except NotSent as exc:              # the create itself got through: it may well exist
            raise UnavailableError(exc.message, exc.hint) from None

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

        operation = self._call(what, send, already_done=gone if gone_ok else None)
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

    def pace(self, timeout: float | None, clock: WaitingClock | None = None) -> Pace:
        """This client's poll pace (first wait, growth, ceiling), on its clock unless given one."""
        return Pace(clock or self.clock, self.poll_interval, timeout, self.poll_ceiling)

    def wait_for_state(
        self, zone: str, name: str, states: set[str], *, on_progress: Progress | None = None, timeout: float = 3600
    ) -> NodeInfo:
        """Poll a node until it reaches one of `states`; a node that dies on the way is an error."""
        pace = self.pace(timeout)

        def look() -> NodeInfo:
            node = self.get_node(zone, name)
            if node.state in states:
                return node
            if node.state in {"PREEMPTED", "TERMINATED"}:
                raise CapacityError(f"TPU '{name}' was {node.state.lower()} before it became ready.",
                                    hint="Spot capacity is scarce: try again later, another zone, or `tpuctl create --queue`.")
            raise _NotYet(node)

        def between_looks(exc: Exception) -> None:
            state = exc.node.state
            if on_progress:
                on_progress(state)
            if not pace.wait():
                raise UnavailableError(f"TPU '{name}' is still {state} after {timeout:.0f} s.",
                                       hint="Check it later with `tpuctl describe`.")

        return clockless_retry(lambda exc: isinstance(exc, _NotYet), between_looks)(look)()

    def _wait_operation(self, what: str, operation, on_progress: Progress | None, timeout: float = 3600) -> None:
        """Poll a long-running operation with api-core's `Operation.result`, at our pace and on
        our clock; a failed poll is retried like any call, a failed operation says why."""
        from google.api_core.future.polling import POLLING_PREDICATE

        attempts, pace = self._attempts(what), self.pace(timeout)

        def between_polls(exc: Exception) -> None:
            if not POLLING_PREDICATE(exc):      # the poll itself failed
                attempts.wait_or_give_up(exc)
                return
            attempts.succeeded()
            if on_progress:
                on_progress("working")
            if not pace.wait():
                raise UnavailableError(f"Could not {what}: still running after {timeout:.0f} s.")

        polling = clockless_retry(lambda exc: POLLING_PREDICATE(exc) or is_transient(exc), between_polls)
        with translate_errors(what):
            operation.result(retry=never_retry(), polling=polling)

    def _raise_if_failed(self, what: str, operation) -> None:
        """A finished operation's error, as one sentence (one look, no wait)."""
        if operation is not None and self._call(what, lambda: operation.done(retry=never_retry())):
            with translate_errors(what):
                operation.result()

    # -- queued resources -------------------------------------------------------------------
    def _queued_path(self, zone: str, name: str) -> str:
        return f"{self._parent(zone)}/queuedResources/{name}"

    def list_queued_resources(self, zone: str | None = None) -> Listing[QueuedInfo]:
        def fetch():
            from google.cloud import tpu_v2

            pager = self.client.list_queued_resources(
                request=tpu_v2.ListQueuedResourcesRequest(parent=self._parent(zone)))
            return _every_page(pager, "queued_resources", queued_info)

        return self._call(f"list queued resources in {zone or 'all zones'}", fetch)

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
        operation = self._call(what, lambda: self.client.delete_queued_resource(request=request), already_done=gone)
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


# -- client ----------------------------------------------------------------------------------
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


