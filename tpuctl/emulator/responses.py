"""Parse a request, call the World, format the JSON the API (or the control surface) answers.

Handlers return a JSON-able dict or raise an `ApiError`; the server turns either into a reply.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from tpuctl.emulator.alpha import V2, present
from tpuctl.emulator.exceptions import InvalidArgument
from tpuctl.emulator.models import World, WorldSettings, rfc3339

# The Cloud TPU API does not document its page sizes; these follow AIP-158 habits and are
# small enough that a client which ignores nextPageToken is caught with a few hundred nodes.
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class TextReply:
    """A reply that is not JSON (the billing export's CSV)."""

    text: str
    content_type: str = "text/csv; charset=UTF-8"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    body: dict = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)

    @property
    def parent(self) -> str:
        return self.groups["parent"]

    @property
    def name(self) -> str:
        return self.groups["name"]

    def flag(self, key: str) -> bool:
        return self.query.get(key, "").lower() in ("true", "1")


def paged(items: list[dict], req: Request, key: str) -> dict:
    """One page of `items` (sorted by name), with a nextPageToken when more follow."""
    try:
        size = int(req.query.get("pageSize") or 0)
    except ValueError:
        raise InvalidArgument(f"Invalid page_size '{req.query['pageSize']}'.") from None
    if size < 0:
        raise InvalidArgument("page_size must not be negative.")
    size = min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    start = 0
    if req.query.get("pageToken"):
        after = _decode_token(req.query["pageToken"])
        start = next((i for i, item in enumerate(items) if item["name"] > after), len(items))
    page = items[start:start + size]
    reply: dict = {key: page}
    if start + size < len(items):
        reply["nextPageToken"] = base64.urlsafe_b64encode(page[-1]["name"].encode()).decode()
    return reply


def _with_unreachable(reply: dict, world: World, req: Request) -> dict:
    """A wildcard listing names the zones it could not reach (on its first page)."""
    lost = [] if req.query.get("pageToken") else world.unreachable(req.parent)
    return {**reply, "unreachable": lost} if lost else reply


def _decode_token(token: str) -> str:
    try:
        return base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidArgument(f"Invalid page_token '{token}'.") from None


class TpuResponses:
    """The Cloud TPU REST surface, v2 or v2alpha1 (`alpha.py`): one world, shown as `version` asks."""

    def __init__(self, world: World, version: str = V2):
        self.world = world
        self.version = world.api_version = version

    def call(self, handler: str, req: Request) -> dict:
        return present(getattr(self, handler)(req), self.version)

    def list_locations(self, req: Request) -> dict:
        return paged(self.world.list_locations(req.name.split("/")[1]), req, "locations")

    def get_location(self, req: Request) -> dict:
        return self.world.get_location(req.name)

    def generate_service_identity(self, req: Request) -> dict:
        project = req.parent.split("/")[1]
        return {"identity": {"email": f"service-{project}@cloud-tpu.iam.gserviceaccount.com"}}

    def list_nodes(self, req: Request) -> dict:
        return _with_unreachable(paged(self.world.list_nodes(req.parent), req, "nodes"), self.world, req)

    def get_node(self, req: Request) -> dict:
        return self.world.get_node(req.name)

    def create_node(self, req: Request) -> dict:
        return self.world.create_node(req.parent, req.query.get("nodeId"), req.body)

    def delete_node(self, req: Request) -> dict:
        return self.world.delete_node(req.name)

    def update_node(self, req: Request) -> dict:
        return self.world.update_node(req.name, req.body, req.query.get("updateMask", ""))

    def stop_node(self, req: Request) -> dict:
        return self.world.stop_node(req.name)

    def start_node(self, req: Request) -> dict:
        return self.world.start_node(req.name)

    def get_guest_attributes(self, req: Request) -> dict:
        return self.world.get_guest_attributes(req.name, req.body.get("queryPath"), req.body.get("workerIds"))

    def simulate_maintenance_event(self, req: Request) -> dict:
        return self.world.simulate_maintenance_event(req.name, req.body.get("workerIds"))

    def perform_maintenance(self, req: Request) -> dict:
        return self.world.perform_maintenance(req.name)

    def perform_maintenance_queued_resource(self, req: Request) -> dict:
        return self.world.perform_maintenance_queued_resource(req.name, req.body.get("nodeNames"))

    def list_queued_resources(self, req: Request) -> dict:
        return _with_unreachable(paged(self.world.queued.list(req.parent), req, "queuedResources"),
                                 self.world, req)

    def get_queued_resource(self, req: Request) -> dict:
        return self.world.queued.get(req.name)

    def create_queued_resource(self, req: Request) -> dict:
        return self.world.queued.create(
            req.parent, req.query.get("queuedResourceId"), req.body, req.query.get("requestId"))

    def delete_queued_resource(self, req: Request) -> dict:
        return self.world.queued.delete(req.name, force=req.flag("force"))

    def reset_queued_resource(self, req: Request) -> dict:
        return self.world.queued.reset(req.name)

    def list_operations(self, req: Request) -> dict:
        return paged(self.world.list_operations(req.parent), req, "operations")

    def get_operation(self, req: Request) -> dict:
        return self.world.get_operation(req.name)

    def cancel_operation(self, req: Request) -> dict:
        return self.world.cancel_operation(req.name)

    def delete_operation(self, req: Request) -> dict:
        return self.world.delete_operation(req.name)

    def list_accelerator_types(self, req: Request) -> dict:
        return paged(self.world.list_accelerator_types(req.parent), req, "acceleratorTypes")

    def get_accelerator_type(self, req: Request) -> dict:
        return self.world.get_accelerator_type(req.name)

    def list_runtime_versions(self, req: Request) -> dict:
        return paged(self.world.list_runtime_versions(req.parent), req, "runtimeVersions")

    def get_runtime_version(self, req: Request) -> dict:
        return self.world.get_runtime_version(req.name)


class ControlResponses:
    """The emulator's own surface (`/emulator/v1/...`) for tests and benchmarks in other processes.

    Bodies use the same snake_case names as the Python API (`EmulatorServer`).
    """

    def __init__(self, world: World, clock_control: bool):
        self.world = world
        self.clock_control = clock_control

    def health(self, req: Request) -> dict:
        # "agents": whether booted nodes start tpuctl agents here (only the built-in local emulator's do)
        return {"ok": True, "time": rfc3339(self.world.now), "agents": bool(self.world.record_events)}

    def get_settings(self, req: Request) -> dict:
        return self.world.settings.to_dict()

    def reset(self, req: Request) -> dict:
        settings = WorldSettings.from_dict(req.body) if req.body else None
        self.world.reset(settings)
        return self.world.settings.to_dict()

    def configure(self, req: Request) -> dict:
        return self.world.configure(**req.body).to_dict()

    def faults(self, req: Request) -> dict:
        body = self._require(req, ())
        allowed = {"status", "count", "method", "path_contains", "after_apply", "message"}
        if set(body) - allowed:
            raise InvalidArgument(f"Unknown fault field(s): {', '.join(sorted(set(body) - allowed))}.")
        self.world.add_fault(**body)
        return {"faults": self.world.state["faults"]}

    def preempt(self, req: Request) -> dict:
        body = self._require(req, ("zone", "node"))
        return {"nodes": self.world.preempt(body["zone"], body["node"], body.get("project"))}

    def maintenance(self, req: Request) -> dict:
        body = self._require(req, ("zone", "node"))
        return {"nodes": self.world.maintain(body["zone"], body["node"], body.get("project"))}

    def set_guest_attribute(self, req: Request) -> dict:
        """`{node: full name, worker, namespace, key, value}`: what that worker publishes."""
        body = self._require(req, ("node", "namespace", "key", "value"))
        return self.world.set_guest_attribute(body["node"], body.get("worker", 0), body["namespace"], body["key"],
                                              body["value"])

    def capacity(self, req: Request) -> dict:
        body = self._require(req, ("zone", "chips"))
        generation = body.get("generation") or body.get("type")
        if not generation:
            raise InvalidArgument("Give 'generation' (e.g. v4) or 'type' (e.g. v4-8).")
        self.world.set_capacity(body["zone"], generation, body["chips"])
        return {"capacity": self.world.settings.capacity}

    def advance_clock(self, req: Request) -> dict:
        if not self.clock_control:
            raise InvalidArgument("This emulator runs on real time: start it with a manual clock to move time.")
        self.world.advance_clock(float(self._require(req, ("seconds",))["seconds"]))
        return {"time": rfc3339(self.world.now)}

    def usage(self, req: Request) -> dict:
        """The ground truth for tests: every node incarnation's READY intervals (RFC 3339 UTC times,
        chip-seconds as exact decimal strings)."""
        return {"nodes": _plain_json(self.world.usage()), "time": rfc3339(self.world.now)}

    def billing_export(self, req: Request) -> TextReply:
        """`?month=YYYY-MM`: that invoice month's rows of the Cloud Billing export (all rows without it)."""
        return TextReply(self.world.billing_export(req.query.get("month")))

    @staticmethod
    def _require(req: Request, keys: tuple[str, ...]) -> dict:
        missing = [k for k in keys if k not in req.body]
        if missing:
            raise InvalidArgument(f"Missing field(s) in the request body: {', '.join(missing)}.")
        return req.body


def _plain_json(value):
    """Datetimes as RFC 3339 UTC to the microsecond and Decimals as strings, for a JSON reply."""
    if isinstance(value, dict):
        return {k: _plain_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds").replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return format(value, "f")
    return value
