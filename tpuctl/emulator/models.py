"""The emulated Cloud TPU world: nodes, operations, queued resources and the rules that move them.

No HTTP here. A `World` wraps one JSON-able state dict (what the state file holds) and the
time `now`. Every request first calls `advance()`, which applies, in time order, every
transition due by `now` (CREATING -> READY after `boot_seconds`, DELETING -> gone, spot
preemption, queued resources getting capacity, ...). Since changes follow from stored
timestamps, several processes sharing one state file agree on what the world looks like.

Stored records are the API's camelCase JSON plus private keys starting with `_`, which the
`view()` that formats a reply drops.
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone

from tpuctl.emulator import catalog
from tpuctl.emulator.exceptions import (
    Aborted, ApiError, FailedPrecondition, Internal, InvalidArgument, NotFound, AlreadyExists,
    ResourceExhausted, Unavailable, error_for_status,
)

STATE_VERSION = 1
MAX_DONE_OPERATIONS = 2000
_ID_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
TYPE_PREFIX = "type.googleapis.com/"
NODE_TYPE = TYPE_PREFIX + "google.cloud.tpu.v2.Node"
QUEUED_RESOURCE_TYPE = TYPE_PREFIX + "google.cloud.tpu.v2.QueuedResource"
EMPTY_TYPE = TYPE_PREFIX + "google.protobuf.Empty"
METADATA_TYPE = TYPE_PREFIX + "google.cloud.tpu.v2.OperationMetadata"

# A node in one of these states holds its chips in the zone's capacity.
HOLDING_CAPACITY = frozenset({"CREATING", "READY", "STARTING", "STOPPING", "DELETING", "RESTARTING",
                              "REPAIRING", "REIMAGING"})
# state -> (next state, the setting holding the delay); None: the node is gone.
TIMED_TRANSITIONS = {
    "CREATING": ("READY", "boot_seconds"),
    "STARTING": ("READY", "start_seconds"),
    "STOPPING": ("STOPPED", "stop_seconds"),
    "DELETING": (None, "delete_seconds"),
}
GONE = "GONE"  # what a delete operation waits for
_DISK_MODES = {0: "DISK_MODE_UNSPECIFIED", 1: "READ_WRITE", 2: "READ_ONLY"}
# Node fields a create request may set; everything else is output only.
_NODE_INPUT_FIELDS = ("description", "labels", "metadata", "tags", "networkConfig", "networkConfigs",
                      "serviceAccount", "schedulingConfig", "dataDisks", "shieldedInstanceConfig",
                      "cidrBlock", "runtimeVersion")
# updateMask paths (camelCase or snake_case) -> Node field
_UPDATABLE = {"description": "description", "tags": "tags", "labels": "labels", "metadata": "metadata",
              "networkConfig.enableExternalIps": "networkConfig.enableExternalIps",
              "network_config.enable_external_ips": "networkConfig.enableExternalIps"}


@dataclass
class WorldSettings:
    """How the emulated world behaves; stored in the state, changeable live (`configure`)."""

    boot_seconds: float = 0.0          # CREATING -> READY
    delete_seconds: float = 0.0        # DELETING -> gone
    stop_seconds: float = 0.0          # STOPPING -> STOPPED
    start_seconds: float = 0.0         # STARTING -> READY
    latency_ms: float = 0.0            # added to every API reply
    fail_rate: float = 0.0             # fraction of API requests answered 503 or 429 (not applied)
    fail_operations: float = 0.0      # fraction of node creates whose operation ends in an error
    spot_preempt_after_seconds: float | None = None   # a spot node is preempted this long after READY
    spot_preempt_rate_per_hour: float = 0.0           # or at random (exponential, seeded)
    seed: int = 0
    capacity: dict[str, dict[str, int]] = field(default_factory=dict)  # zone -> generation -> chips

    @classmethod
    def from_dict(cls, data: dict) -> WorldSettings:
        return cls().updated(**data)

    def to_dict(self) -> dict:
        return asdict(self)

    def updated(self, **changes) -> WorldSettings:
        """A copy with `changes`; unknown names are an error, not silently ignored."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise InvalidArgument(f"Unknown emulator setting(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}.")
        data = {**self.to_dict(), **changes}
        data["capacity"] = {zone: {catalog.generation_of(g): int(c) for g, c in gens.items()}
                            for zone, gens in (data["capacity"] or {}).items()}
        return WorldSettings(**data)


def new_state(settings: WorldSettings | None = None) -> dict:
    """An empty world: what a fresh state file holds."""
    return {"version": STATE_VERSION, "settings": (settings or WorldSettings()).to_dict(), "serial": 0, "draws": 0,
            "clockOffsetSeconds": 0.0, "nodes": {}, "operations": {}, "queuedResources": {},
            "requestIds": {}, "faults": []}


def view(record: dict) -> dict:
    """A stored record as the API shows it: without the private `_` keys."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def parse_duration(text: str) -> float:
    """A protobuf Duration in JSON form, e.g. `3600s` or `1.5s`."""
    if not isinstance(text, str) or not text.endswith("s"):
        raise InvalidArgument(f"Invalid duration '{text}': expected seconds such as '3600s'.")
    try:
        return float(text[:-1])
    except ValueError:
        raise InvalidArgument(f"Invalid duration '{text}': expected seconds such as '3600s'.") from None


def zone_of(name: str) -> str:
    """`projects/P/locations/Z/...` -> Z."""
    return name.split("/")[3]


def check_resource_id(resource_id: str | None, what: str) -> str:
    if not resource_id or not _ID_RE.match(resource_id):
        raise InvalidArgument(
            f"Invalid {what} '{resource_id or ''}': it must be 1-63 characters, lowercase letters, digits "
            "and hyphens, start with a letter and not end with a hyphen (regex [a-z]([-a-z0-9]*[a-z0-9])?).")
    return resource_id


def check_labels(labels: dict) -> dict:
    if not isinstance(labels, dict) or len(labels) > 64:
        raise InvalidArgument("Labels must be a map of at most 64 entries.")
    for key, value in labels.items():
        if not _LABEL_KEY_RE.match(key) or not isinstance(value, str) or not _LABEL_VALUE_RE.match(value):
            raise InvalidArgument(
                f"Invalid label {key}={value}: keys are 1-63 lowercase letters, digits, '_' or '-' starting "
                "with a letter; values are up to 63 of the same.")
    return labels


class World:
    """The state of every emulated project at one instant, and the operations on it.

    `events` collects ("ready" | "gone", node view) pairs for the server's hooks, fired
    after the state is saved: "ready" when a node becomes READY, "gone" when it stops
    being READY (stopped, preempted, deleted).
    """

    def __init__(self, state: dict, base_now: datetime):
        self.state = state
        self._base = base_now.timestamp()
        self.now = self._base + state["clockOffsetSeconds"]
        self.settings = WorldSettings.from_dict(state["settings"])
        self.events: list[tuple[str, dict]] = []

    # ----- settings, faults and time (the control surface) -----

    def reset(self, settings: WorldSettings | None = None) -> None:
        """An empty world, keeping the current settings unless new ones are given."""
        self.settings = settings or self.settings
        serial = self.state["serial"]  # kept, so ids stay unique across resets (draws restart)
        self.state.clear()
        self.state.update(new_state(self.settings), serial=serial)
        self.now = self._base

    def configure(self, **changes) -> WorldSettings:
        self.settings = self.settings.updated(**changes)
        self.state["settings"] = self.settings.to_dict()
        self.advance()
        return self.settings

    def set_capacity(self, zone: str, generation_or_type: str, chips: int | None) -> None:
        """Limit a zone's chips of one generation; None removes the limit."""
        self._check_zone(zone)
        generation = self._generation(generation_or_type)
        capacity = {z: dict(g) for z, g in self.settings.capacity.items()}
        capacity.setdefault(zone, {})[generation] = chips
        if chips is None:
            del capacity[zone][generation]
        self.configure(capacity=capacity)

    def add_fault(self, status: int = 503, count: int = 1, method: str | None = None,
                  path_contains: str | None = None, after_apply: bool = False, message: str | None = None) -> None:
        self.state["faults"].append({"status": int(status), "count": int(count), "method": method and method.upper(),
                                     "pathContains": path_contains, "afterApply": bool(after_apply),
                                     "message": message})

    def take_fault(self, method: str, target: str) -> tuple[ApiError, bool] | None:
        """The fault this request meets, if any: (error, applied first?). Consumes injected ones."""
        for fault in self.state["faults"]:
            if fault["method"] not in (None, method) or (fault["pathContains"] or "") not in target:
                continue
            fault["count"] -= 1
            self.state["faults"] = [f for f in self.state["faults"] if f["count"] > 0]
            return error_for_status(fault["status"], fault["message"]), fault["afterApply"]
        if self.settings.fail_rate and self._rng().random() < self.settings.fail_rate:
            if self._rng().random() < 0.5:
                return Unavailable("The service is currently unavailable."), False
            return ResourceExhausted("Quota exceeded for quota metric 'Requests' of service 'tpu.googleapis.com'."), False
        return None

    def advance_clock(self, seconds: float) -> None:
        """Move this world's time forward for every process sharing the state."""
        if seconds < 0:
            raise InvalidArgument("The clock only moves forward.")
        self.state["clockOffsetSeconds"] += seconds
        self.now += seconds
        self.advance()

    # ----- the rules: what happens as time passes -----

    def advance(self) -> None:
        """Apply every transition due by `now`, earliest first, each at its own due time."""
        while True:
            due = min(self._due_events(), default=None, key=lambda e: e[0])
            if due is None or due[0] > self.now:
                break
            at, apply = due
            apply(at)

    def _due_events(self):
        """(time, apply(at)) for every scheduled change, due or not."""
        for node in self.state["nodes"].values():
            state = node["state"]
            if state in TIMED_TRANSITIONS:
                next_state, delay = TIMED_TRANSITIONS[state]
                at = node["_since"] + getattr(self.settings, delay)
                if state == "CREATING" and node.get("_fail"):
                    yield at, lambda at, n=node: self._fail_create(n, at)
                elif next_state is None:
                    yield at, lambda at, n=node: self._remove_node(n, at)
                else:
                    yield at, lambda at, n=node, s=next_state: self._set_state(n, s, at)
            elif state == "READY" and self._preemptible(node):
                at = self._preempt_time(node)
                if at is not None:
                    yield at, lambda at, n=node: self._set_state(n, "PREEMPTED", at)

    def _preempt_time(self, node: dict) -> float | None:
        times = [node["_preemptAt"]] if node.get("_preemptAt") is not None else []
        if self.settings.spot_preempt_after_seconds is not None:
            times.append(node["_since"] + self.settings.spot_preempt_after_seconds)
        return min(times, default=None)

    def _set_state(self, node: dict, state: str, at: float) -> None:
        was = node["state"]
        node["state"], node["_since"] = state, at
        node["health"] = "HEALTHY" if state == "READY" else "HEALTH_UNSPECIFIED"
        if was == "READY" and state != "READY":
            self.events.append(("gone", view(node)))
        if state == "READY":
            rate = self.settings.spot_preempt_rate_per_hour
            node["_preemptAt"] = (at + self._rng().expovariate(rate / 3600.0)
                                  if rate > 0 and self._preemptible(node) else None)
            self.events.append(("ready", view(node)))
        for op in self._pending_operations(node["name"]):
            if op["_awaits"] == state:
                self._finish(op, at, response=view(node))

    def _remove_node(self, node: dict, at: float, error: ApiError | None = None) -> None:
        if node["state"] == "READY":
            self.events.append(("gone", view(node)))
        del self.state["nodes"][node["name"]]
        for op in self._pending_operations(node["name"]):
            if op["_awaits"] == GONE:
                self._finish(op, at, response={"@type": EMPTY_TYPE})
            else:
                self._finish(op, at, error=error or Aborted(f"Node {node['name']} was deleted."))

    def _fail_create(self, node: dict, at: float) -> None:
        self._remove_node(node, at, Internal(
            "An internal error has occurred while creating the TPU (emulated failure: fail_operations)."))

    # ----- nodes -----

    def list_nodes(self, parent: str) -> list[dict]:
        return [view(n) for n in self._in_parent(self.state["nodes"], parent, wildcard=True)]

    def get_node(self, name: str) -> dict:
        return view(self._node(name))

    def create_node(self, parent: str, node_id: str | None, body: dict) -> dict:
        zone = self._check_zone(zone_of(parent))
        check_resource_id(node_id, "node id")
        name = f"{parent}/nodes/{node_id}"
        if name in self.state["nodes"]:
            raise AlreadyExists(f"Resource '{name}' already exists.")
        node = self._build_node(name, zone, body)
        op = self._new_operation(zone, "create", name, awaits="READY")
        if not self._fits(zone, node["_gen"], node["_chips"]):
            return self._finish(op, self.now, error=self._no_capacity(zone))
        if self.settings.fail_operations and self._rng().random() < self.settings.fail_operations:
            node["_fail"] = True
        self.state["nodes"][name] = node
        return self._settle(op)

    def delete_node(self, name: str) -> dict:
        node = self._node(name)
        op = self._new_operation(zone_of(name), "delete", name, awaits=GONE)
        if node["state"] != "DELETING":
            self._set_state(node, "DELETING", self.now)
        return self._settle(op)

    def stop_node(self, name: str) -> dict:
        node = self._node(name)
        if node["state"] != "READY":
            raise FailedPrecondition(f"The node {name} cannot be stopped in state {node['state']}; only a READY node can.")
        if node["_hosts"] > 1:
            raise FailedPrecondition(f"Stopping is not supported for multi-host TPU {node['acceleratorType']}.")
        op = self._new_operation(zone_of(name), "stop", name, awaits="STOPPED")
        self._set_state(node, "STOPPING", self.now)
        return self._settle(op)

    def start_node(self, name: str) -> dict:
        node = self._node(name)
        if node["state"] != "STOPPED":
            raise FailedPrecondition(f"The node {name} cannot be started in state {node['state']}; only a STOPPED node can.")
        op = self._new_operation(zone_of(name), "start", name, awaits="READY")
        if not self._fits(node["_zone"], node["_gen"], node["_chips"]):
            return self._finish(op, self.now, error=self._no_capacity(node["_zone"]))
        self._set_state(node, "STARTING", self.now)
        return self._settle(op)

    def update_node(self, name: str, body: dict, update_mask: str) -> dict:
        node = self._node(name)
        paths = [p.strip() for p in (update_mask or "").split(",") if p.strip()]
        if not paths:
            raise InvalidArgument("update_mask is required: name the fields to update, e.g. 'labels'.")
        for path in paths:
            if path not in _UPDATABLE:
                raise InvalidArgument(f"Field '{path}' cannot be updated; updatable: description, tags, labels, "
                                      "metadata, network_config.enable_external_ips.")
        for path in paths:
            head, _, leaf = _UPDATABLE[path].partition(".")
            if leaf:
                node[head][leaf] = bool((body.get(head) or {}).get(leaf, False))
            else:
                value = body.get(head, [] if head == "tags" else {} if head in ("labels", "metadata") else "")
                node[head] = check_labels(value) if head == "labels" else value
        op = self._new_operation(zone_of(name), "update", name, awaits=None)
        return self._finish(op, self.now, response=view(node))

    def preempt(self, zone: str, node_id: str, project: str | None = None) -> list[dict]:
        """Preempt a READY spot/preemptible node now (any project unless one is given)."""
        matches = [n for n in self.state["nodes"].values()
                   if n["_zone"] == zone and n["name"].rsplit("/", 1)[1] == node_id
                   and (project is None or n["name"].split("/")[1] == project)]
        if not matches:
            raise NotFound(f"No node {node_id} in zone {zone}.")
        for node in matches:
            if not self._preemptible(node) or node["state"] != "READY":
                raise FailedPrecondition(f"Node {node['name']} is not a READY spot or preemptible node.")
            self._set_state(node, "PREEMPTED", self.now)
        self.advance()
        return [view(n) for n in matches if n["name"] in self.state["nodes"]]

    def _node(self, name: str) -> dict:
        self._check_zone(zone_of(name))
        node = self.state["nodes"].get(name)
        if node is None:
            raise NotFound(f"Resource '{name}' was not found.")
        return node

    def _build_node(self, name: str, zone: str, body: dict, queued_resource: str | None = None) -> dict:
        """A new CREATING node from a create request's body, checked against the zone's catalogue."""
        accel = self._accelerator(zone, body)
        runtime = body.get("runtimeVersion")
        if not runtime:
            raise InvalidArgument("runtime_version is required, e.g. tpu-ubuntu2204-base.")
        if runtime not in catalog.RUNTIME_VERSIONS[accel.generation] or runtime not in catalog.runtime_versions(zone):
            raise InvalidArgument(f"Runtime version '{runtime}' is not supported for {accel.name} in zone {zone}; "
                                  f"supported: {', '.join(catalog.RUNTIME_VERSIONS[accel.generation])}.")
        node = {k: body[k] for k in _NODE_INPUT_FIELDS if k in body}
        check_labels(node.setdefault("labels", {}))
        node.setdefault("metadata", {})
        project = name.split("/")[1]
        scheduling = body.get("schedulingConfig") or {}
        network = {"network": f"projects/{project}/global/networks/default",
                   "subnetwork": f"projects/{project}/regions/{zone.rsplit('-', 1)[0]}/subnetworks/default",
                   "enableExternalIps": False, **(body.get("networkConfig") or {})}
        serial = self._serial()
        node.update({
            "name": name,
            "acceleratorType": accel.name,
            "acceleratorConfig": {"type": catalog.CONFIG_TYPES[accel.generation], "topology": catalog.topology(accel)},
            "state": "CREATING",
            "health": "HEALTH_UNSPECIFIED",
            "schedulingConfig": {k: bool(scheduling.get(k, False)) for k in ("preemptible", "spot", "reserved")},
            "networkConfig": network,
            "networkEndpoints": [self._endpoint(network["enableExternalIps"]) for _ in range(accel.hosts)],
            "createTime": rfc3339(self.now),
            "id": str(random.Random(f"{self.settings.seed}:id:{serial}").getrandbits(62)),
            "apiVersion": "V2",
            "_zone": zone, "_gen": accel.generation, "_chips": accel.chips, "_hosts": accel.hosts,
            "_since": self.now, "_seq": serial,
        })
        if "dataDisks" in node:
            node["dataDisks"] = [{**d, "mode": _DISK_MODES.get(d.get("mode"), d.get("mode", "READ_WRITE"))}
                                 for d in node["dataDisks"]]
        if queued_resource:
            node["queuedResource"] = queued_resource
        return node

    def _accelerator(self, zone: str, body: dict):
        """The accelerator type a create asks for, by name or by acceleratorConfig."""
        name, config = body.get("acceleratorType"), body.get("acceleratorConfig")
        if name:
            accel = catalog.find_type(zone, name)
            if accel is None:
                raise InvalidArgument(f"Accelerator type '{name}' is not available in zone {zone}; "
                                      f"see projects/-/locations/{zone}/acceleratorTypes.")
            return accel
        if config:
            kind = config.get("type")
            kind = catalog.CONFIG_TYPE_NUMBERS.get(kind, kind) if isinstance(kind, int) else kind
            accel = catalog.find_type_by_config(zone, kind, config.get("topology", ""))
            if accel is None:
                raise InvalidArgument(f"Accelerator config {kind} {config.get('topology')} is not available in zone {zone}.")
            return accel
        raise InvalidArgument("accelerator_type or accelerator_config is required.")

    def _endpoint(self, external: bool) -> dict:
        serial = self._serial()
        endpoint = {"ipAddress": f"10.{128 + serial // 65536 % 64}.{serial // 256 % 256}.{serial % 256}", "port": 8470}
        if external:
            endpoint["accessConfig"] = {"externalIp": f"34.{serial // 65536 % 256}.{serial // 256 % 256}.{serial % 256}"}
        return endpoint

    @staticmethod
    def _preemptible(node: dict) -> bool:
        scheduling = node.get("schedulingConfig") or {}
        return bool(scheduling.get("spot") or scheduling.get("preemptible"))

    # ----- capacity -----

    def _fits(self, zone: str, generation: str, chips: int) -> bool:
        limit = self.settings.capacity.get(zone, {}).get(generation)
        return limit is None or self.used_chips(zone, generation) + chips <= limit

    def used_chips(self, zone: str, generation: str) -> int:
        return sum(n["_chips"] for n in self.state["nodes"].values()
                   if n["_zone"] == zone and n["_gen"] == generation and n["state"] in HOLDING_CAPACITY)

    @staticmethod
    def _no_capacity(zone: str) -> ResourceExhausted:
        return ResourceExhausted(
            f'There is no more capacity in the zone "{zone}"; you can try in another zone where Cloud TPU '
            "Nodes are offered (see https://cloud.google.com/tpu/docs/regions) [EID: 0xemulator]")

    # ----- operations -----

    def get_operation(self, name: str) -> dict:
        self._check_zone(zone_of(name))
        op = self.state["operations"].get(name)
        if op is None:
            raise NotFound(f"Operation '{name}' was not found.")
        return view(op)

    def list_operations(self, parent: str) -> list[dict]:
        return [view(op) for op in self._in_parent(self.state["operations"], parent, wildcard=True)]

    def _new_operation(self, zone: str, verb: str, target: str, awaits: str | None) -> dict:
        serial = self._serial()
        suffix = random.Random(f"{self.settings.seed}:op:{serial}").getrandbits(48)
        project = target.split("/")[1]
        name = f"projects/{project}/locations/{zone}/operations/operation-{int(self.now * 1000)}-{suffix:012x}"
        op = {"name": name, "done": False,
              "metadata": {"@type": METADATA_TYPE, "createTime": rfc3339(self.now), "target": target,
                           "verb": verb, "cancelRequested": False, "apiVersion": "v2"},
              "_target": target, "_awaits": awaits, "_seq": serial}
        self.state["operations"][name] = op
        return op

    def _finish(self, op: dict, at: float, response: dict | None = None, error: ApiError | None = None) -> dict:
        op["done"] = True
        op["metadata"]["endTime"] = rfc3339(at)
        if error is not None:
            op["error"] = error.operation_error()
        else:
            resource_type = NODE_TYPE if "/nodes/" in op["_target"] else QUEUED_RESOURCE_TYPE
            op["response"] = response if "@type" in response else {"@type": resource_type, **response}
        self._prune_operations()
        return view(op)

    def _pending_operations(self, target: str) -> list[dict]:
        return [op for op in self.state["operations"].values() if not op["done"] and op["_target"] == target]

    def _prune_operations(self) -> None:
        ops = self.state["operations"]
        done = [name for name, op in ops.items() if op["done"]]
        for name in done[: max(0, len(done) - MAX_DONE_OPERATIONS)]:
            del ops[name]

    def _settle(self, op: dict) -> dict:
        """Apply what is already due (e.g. a zero boot delay) so the reply shows it."""
        self.advance()
        return view(op)

    # ----- catalogue -----

    def list_locations(self, project: str) -> list[dict]:
        return [self._location(project, zone) for zone in sorted(catalog.ZONES)]

    def get_location(self, name: str) -> dict:
        project, zone = name.split("/")[1], zone_of(name)
        if zone not in catalog.ZONES:
            raise NotFound(f"Location '{name}' was not found.")
        return self._location(project, zone)

    @staticmethod
    def _location(project: str, zone: str) -> dict:
        return {"name": f"projects/{project}/locations/{zone}", "locationId": zone,
                "labels": {"cloud.googleapis.com/region": zone.rsplit("-", 1)[0]}}

    def list_accelerator_types(self, parent: str) -> list[dict]:
        zone = self._check_zone(zone_of(parent))
        return [self._accelerator_type(parent, t) for t in catalog.accelerator_types(zone)]

    def get_accelerator_type(self, name: str) -> dict:
        parent, _, type_name = name.rpartition("/acceleratorTypes/")
        accel = catalog.find_type(self._check_zone(zone_of(parent)), type_name)
        if accel is None:
            raise NotFound(f"Accelerator type '{name}' was not found.")
        return self._accelerator_type(parent, accel)

    @staticmethod
    def _accelerator_type(parent: str, accel) -> dict:
        return {"name": f"{parent}/acceleratorTypes/{accel.name}", "type": accel.name,
                "acceleratorConfigs": [{"type": catalog.CONFIG_TYPES[accel.generation],
                                        "topology": catalog.topology(accel)}]}

    def list_runtime_versions(self, parent: str) -> list[dict]:
        zone = self._check_zone(zone_of(parent))
        return [{"name": f"{parent}/runtimeVersions/{v}", "version": v} for v in catalog.runtime_versions(zone)]

    def get_runtime_version(self, name: str) -> dict:
        parent, _, version = name.rpartition("/runtimeVersions/")
        if version not in catalog.runtime_versions(self._check_zone(zone_of(parent))):
            raise NotFound(f"Runtime version '{name}' was not found.")
        return {"name": name, "version": version}

    # ----- helpers -----

    def _check_zone(self, zone: str) -> str:
        if zone not in catalog.ZONES:
            raise InvalidArgument(f"Invalid location '{zone}': Cloud TPU is not offered there "
                                  f"(zones: {', '.join(sorted(catalog.ZONES))}).")
        return zone

    @staticmethod
    def _generation(generation_or_type: str) -> str:
        try:
            return catalog.generation_of(generation_or_type)
        except Exception:
            raise InvalidArgument(f"'{generation_or_type}' is neither a TPU generation nor an accelerator type.") from None

    def _in_parent(self, records: dict, parent: str, wildcard: bool) -> list[dict]:
        """Records under `projects/P/locations/Z` (or every zone for `locations/-`), by name."""
        project, zone = parent.split("/")[1], zone_of(parent)
        if not (wildcard and zone == "-"):
            self._check_zone(zone)
        prefix = f"projects/{project}/locations/"
        return sorted((r for r in records.values() if r["name"].startswith(prefix)
                       and (zone == "-" or zone_of(r["name"]) == zone)), key=lambda r: r["name"])

    def _serial(self) -> int:
        self.state["serial"] += 1
        return self.state["serial"]

    def _rng(self) -> random.Random:
        """A fresh draw source per use, from the seed and a stored counter: reproducible after a reset."""
        self.state["draws"] += 1
        return random.Random(f"{self.settings.seed}:rng:{self.state['draws']}")
