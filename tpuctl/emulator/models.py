"""The emulated Cloud TPU world: nodes, operations, queued resources and the rules that move them.

No HTTP here. A `World` wraps one JSON-able state dict (what the state file holds) and the
time `now`. Every request first calls `advance()`, which applies, in time order, every
transition due by `now` (CREATING -> READY after `boot_seconds`, DELETING -> gone, spot
preemption, queued resources getting capacity, ...). Since changes follow from stored
timestamps, several processes sharing one state file agree on what the world looks like.

Stored records are the API's camelCase JSON plus private keys starting with `_`, which the
`view()` that formats a reply drops.

The record constants, `WorldSettings` and the pure helpers live in `records`. Queued
resources are a collaborator the world owns (`queued.QueuedResources`, as `world.queued`),
reaching the world only through the public methods its `Host` protocol names. `World` builds
on mixins for the rest: `maintenance.Maintenance` (maintenance events, guest attributes),
`node_specs.NodeSpecs` (a create body -> a node), `operations.Operations` (long-running
operations, cancel and delete) and `locations.Locations` (the catalogue as the API lists it). How v2 and v2alpha1 show the same
records is `alpha.py`'s.
The names other modules import from here (`World`, `WorldSettings`, `parse_capacity`,
`new_state`, ...) stay importable from this module.
"""

from __future__ import annotations

import heapq
import itertools
import random
from datetime import datetime, timezone

from tpuctl.emulator import history
from tpuctl.emulator.exceptions import (
    Aborted,
    AlreadyExists,
    ApiError,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
    error_for_status,
)
from tpuctl.emulator.locations import Locations, check_zone
from tpuctl.emulator.maintenance import Maintenance
from tpuctl.emulator.node_specs import NodeSpecs
from tpuctl.emulator.operations import Operations
from tpuctl.emulator.queued import QueuedResources
from tpuctl.emulator.records import (
    EMPTY_TYPE,
    GONE,
    HOLDING_CAPACITY,
    STATE_VERSION,
    TIMED_TRANSITIONS,
    UPDATABLE,
    WorldSettings,
    check_labels,
    check_resource_id,
    generation_of,
    new_state,
    normalize_node_body,
    parse_capacity,
    rfc3339,
    snapshot,
    view,
    zone_of,
)

# Imported from here by the server, the responses, the CLI, the local adapter and tests.
__all__ = ["STATE_VERSION", "World", "WorldSettings", "new_state", "parse_capacity", "rfc3339"]


class World(Maintenance, NodeSpecs, Operations, Locations):
    """The state of every emulated project at one instant, and the operations on it.

    `events` collects ("ready" | "gone", node view) pairs for the server's hooks, fired
    after the state is saved: "ready" when a node becomes READY, "gone" when it stops
    being READY (stopped, preempted, deleted).
    """

    def __init__(self, state: dict, base_now: datetime, record_events: bool = True):
        self.state = state
        state.setdefault("history", [])  # a state file from before histories were kept
        self.record_events = record_events
        self._base = base_now.timestamp()
        self.now = self._base + state["clockOffsetSeconds"]
        self.settings = WorldSettings.from_dict(state["settings"])
        self.events: list[tuple[str, dict]] = []
        self.queued = QueuedResources(state, self)
        self.api_version = "v2"  # the API version of the request being served (alpha.py)

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
        check_zone(zone)
        generation = generation_of(generation_or_type)
        capacity = {z: dict(g) for z, g in self.settings.capacity.items()}
        capacity.setdefault(zone, {})[generation] = chips
        if chips is None:
            del capacity[zone][generation]
        self.configure(capacity=capacity)

    def add_fault(self, status: int = 503, count: int = 1, method: str | None = None,
                  path_contains: str | None = None, after_apply: bool = False, message: str | None = None) -> None:
        if int(count) < 1:
            raise InvalidArgument("A fault needs count >= 1.")
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
            return ResourceExhausted(
                "Quota exceeded for quota metric 'Requests' of service 'tpu.googleapis.com'."), False
        return None

    def advance_clock(self, seconds: float) -> None:
        """Move this world's time forward for every process sharing the state."""
        if seconds < 0:
            raise InvalidArgument("The clock only moves forward.")
        self.state["clockOffsetSeconds"] += seconds
        self.now += seconds
        self.advance()

    # ----- the ground truth: what ran, and what it would cost (history.py, billing.py) -----

    def usage(self) -> list[dict]:
        """Per node incarnation, its READY intervals (aware datetimes, chip-seconds) up to now."""
        return history.usage(self.state, datetime.fromtimestamp(self.now, timezone.utc))

    def billing_export(self, month: str | None = None, table=None) -> str:
        """Every charged second as a Cloud Billing usage cost export (CSV); `month` is YYYY-MM."""
        from tpuctl.emulator import billing

        return billing.export_csv(self.state, datetime.fromtimestamp(self.now, timezone.utc), month, table)

    # ----- the rules: what happens as time passes -----

    def advance(self) -> None:
        """Apply every transition due by `now`, earliest first, each at its own due time.

        After each one, queued resources react to what changed (capacity freed, a node
        READY or preempted) at that same time. Each node or request has at most one next
        event; a heap holds them, checked again when popped (lazy invalidation) and
        rebuilt when queued resources changed the world around them.
        """
        while True:
            order = itertools.count()
            heap = [(event[0], next(order), kind, key) for kind, key, event in self._all_events()]
            heapq.heapify(heap)
            while heap and heap[0][0] <= self.now:
                at, _, kind, key = heapq.heappop(heap)
                event = self._next_event(kind, key)
                if event is not None and event[0] != at:  # moved since queued: queue it again
                    heapq.heappush(heap, (event[0], next(order), kind, key))
                if event is None or event[0] != at:
                    continue
                event[1](at)
                if self.queued.reconcile(at):
                    break  # requests changed other records: rebuild the heap
                follow = self._next_event(kind, key)
                if follow is not None:
                    heapq.heappush(heap, (follow[0], next(order), kind, key))
            else:
                if not self.queued.reconcile(self.now):
                    return

    def _all_events(self):
        for key, node in self.state["nodes"].items():
            event = self._node_event(node)
            if event is not None:
                yield "node", key, event
        for key, event in self.queued.timed_changes():
            yield "qr", key, event

    def _next_event(self, kind: str, key: str):
        record = self.state["nodes" if kind == "node" else "queuedResources"].get(key)
        if record is None:
            return None
        return self._node_event(record) if kind == "node" else self.queued.next_change(record)

    def _node_event(self, node: dict):
        """(time, apply(at)) of the node's next scheduled change, or None."""
        state = node["state"]
        if state in TIMED_TRANSITIONS:
            next_state, delay = TIMED_TRANSITIONS[state]
            at = node["_since"] + getattr(self.settings, delay)
            if state == "CREATING" and node.get("_fail"):
                return at, lambda at: self._fail_create(node, at)
            if next_state is None:
                return at, lambda at: self._remove_node(node, at)
            return at, lambda at: self.set_node_state(node, next_state, at)
        if state == "READY" and self._preemptible(node):
            at = self._preempt_time(node)
            return None if at is None else (at, lambda at: self.set_node_state(node, "PREEMPTED", at))
        if state == "PREEMPTED" and node.get("queuedResource"):  # its request deletes it
            return node["_since"] + self.settings.delete_seconds, lambda at: self._remove_node(node, at)
        return None

    def _preempt_time(self, node: dict) -> float | None:
        times = [node["_preemptAt"]] if node.get("_preemptAt") is not None else []
        if self.settings.spot_preempt_after_seconds is not None:
            times.append(node["_since"] + self.settings.spot_preempt_after_seconds)
        return min(times, default=None)

    def set_node_state(self, node: dict, state: str, at: float) -> None:
        was = node["state"]
        node["state"], node["_since"] = state, at
        history.moved(self.state, node, state, at)
        node["health"] = "HEALTHY" if state == "READY" else "HEALTH_UNSPECIFIED"
        if was == "READY" and state != "READY":
            self._event("gone", node)
        if state == "PREEMPTED" and node.get("queuedResource") in self.state["queuedResources"]:
            self.state["queuedResources"][node["queuedResource"]]["_preempted"] = True  # SERVICE suspends it
        if state == "READY":
            for done in ("upcomingMaintenance", "healthDescription"):  # a maintenance event is over
                node.pop(done, None)
            rate = self.settings.spot_preempt_rate_per_hour
            node["_preemptAt"] = (at + self._rng().expovariate(rate / 3600.0)
                                  if rate > 0 and self._preemptible(node) else None)
            self._event("ready", node)
        for op in self.pending_operations(node["name"]):
            if op["_awaits"] == state:
                self.finish_operation(op, at, response=snapshot(node))

    def _event(self, kind: str, node: dict) -> None:
        if self.record_events:
            self.events.append((kind, snapshot(node)))

    def _remove_node(self, node: dict, at: float, error: ApiError | None = None) -> None:
        if node["state"] == "READY":
            self._event("gone", node)
        history.moved(self.state, node, history.DELETED, at)
        del self.state["nodes"][node["name"]]
        for op in self.pending_operations(node["name"]):
            if op["_awaits"] == GONE:
                self.finish_operation(op, at, response={"@type": EMPTY_TYPE})
            else:
                self.finish_operation(op, at, error=error or Aborted(f"Node {node['name']} was deleted."))

    def _fail_create(self, node: dict, at: float) -> None:
        self._remove_node(node, at, Internal(
            "An internal error has occurred while creating the TPU (emulated failure: fail_operations)."))

    # ----- nodes -----

    def list_nodes(self, parent: str) -> list[dict]:
        return [view(n) for n in self.in_parent(self.state["nodes"], parent)]

    def get_node(self, name: str) -> dict:
        return view(self._node(name))

    def create_node(self, parent: str, node_id: str | None, body: dict) -> dict:
        zone = check_zone(zone_of(parent))
        check_resource_id(node_id, "node id")
        name = f"{parent}/nodes/{node_id}"
        if name in self.state["nodes"]:
            raise AlreadyExists(f"Resource '{name}' already exists.")
        node = self._build_node(name, zone, normalize_node_body(body), self.now)
        op = self.new_operation(zone, "create", name, awaits="READY")
        if not self.fits(zone, node["_gen"], node["_chips"]):
            return self.finish_operation(op, self.now, error=self._no_capacity(zone))
        if self.settings.fail_operations and self._rng().random() < self.settings.fail_operations:
            node["_fail"] = True
        self._add_node(node, self.now)
        return self._settle(op)

    def delete_node(self, name: str) -> dict:
        node = self._node(name)
        op = self.new_operation(zone_of(name), "delete", name, awaits=GONE)
        if node["state"] != "DELETING":
            self.set_node_state(node, "DELETING", self.now)
        return self._settle(op)

    def stop_node(self, name: str) -> dict:
        node = self._node(name, required_state="READY", verb="stopped")
        if node["_hosts"] > 1:
            raise FailedPrecondition(f"Stopping is not supported for multi-host TPU {node['acceleratorType']}.")
        op = self.new_operation(zone_of(name), "stop", name, awaits="STOPPED")
        self.set_node_state(node, "STOPPING", self.now)
        return self._settle(op)

    def start_node(self, name: str) -> dict:
        node = self._node(name, required_state="STOPPED", verb="started")
        op = self.new_operation(zone_of(name), "start", name, awaits="READY")
        if not self.fits(node["_zone"], node["_gen"], node["_chips"]):
            return self.finish_operation(op, self.now, error=self._no_capacity(node["_zone"]))
        self.set_node_state(node, "STARTING", self.now)
        return self._settle(op)

    def update_node(self, name: str, body: dict, update_mask: str) -> dict:
        node = self._node(name)
        paths = [p.strip() for p in (update_mask or "").split(",") if p.strip()]
        if not paths:
            raise InvalidArgument("update_mask is required: name the fields to update, e.g. 'labels'.")
        unknown = [p for p in paths if p not in UPDATABLE]
        if unknown:
            raise InvalidArgument(f"Field '{unknown[0]}' cannot be updated; updatable: description, tags, labels, "
                                  "metadata, network_config.enable_external_ips.")
        check_labels(body.get("labels") or {})
        for path in paths:
            head, _, leaf = UPDATABLE[path].partition(".")
            if leaf:
                node[head] = {**node[head], leaf: bool((body.get(head) or {}).get(leaf, False))}
            else:
                node[head] = body.get(head, [] if head == "tags" else {} if head in ("labels", "metadata") else "")
        if "labels" in paths:
            history.relabelled(self.state, node, self.now)
        op = self.new_operation(zone_of(name), "update", name, awaits=None)
        return self.finish_operation(op, self.now, response=snapshot(node))

    def nodes_named(self, zone: str, node_id: str, project: str | None = None) -> list[dict]:
        """The nodes called `node_id` in `zone` (in any project unless one is given); NotFound if none."""
        matches = [n for n in self.state["nodes"].values()
                   if n["_zone"] == zone and n["name"].rsplit("/", 1)[1] == node_id
                   and (project is None or n["name"].split("/")[1] == project)]
        if not matches:
            raise NotFound(f"No node {node_id} in zone {zone}.")
        return matches

    def preempt(self, zone: str, node_id: str, project: str | None = None) -> list[dict]:
        """Preempt a READY spot/preemptible node now (any project unless one is given)."""
        matches = self.nodes_named(zone, node_id, project)
        for node in matches:
            if not self._preemptible(node) or node["state"] != "READY":
                raise FailedPrecondition(f"Node {node['name']} is not a READY spot or preemptible node.")
            self.set_node_state(node, "PREEMPTED", self.now)
        self.advance()
        return [view(n) for n in matches if n["name"] in self.state["nodes"]]

    def _add_node(self, node: dict, at: float) -> None:
        """Put a new node in the world and open its history (a new incarnation)."""
        self.state["nodes"][node["name"]] = node
        history.born(self.state, node, at)

    def add_node(self, name: str, zone: str, body: dict, at: float, queued_resource: dict) -> dict:
        """A queued resource's node, CREATING from `at`."""
        node = self._build_node(name, zone, body, at, queued_resource=queued_resource)
        self._add_node(node, at)
        return node

    def find_node(self, name: str) -> dict | None:
        return self.state["nodes"].get(name)

    def _node(self, name: str, required_state: str | None = None, verb: str = "") -> dict:
        check_zone(zone_of(name))
        node = self.state["nodes"].get(name)
        if node is None:
            raise NotFound(f"Resource '{name}' was not found.")
        if required_state and node["state"] != required_state:
            raise FailedPrecondition(f"The node {name} cannot be {verb} in state {node['state']}; "
                                     f"only a {required_state} node can.")
        return node

    @staticmethod
    def _preemptible(node: dict) -> bool:
        scheduling = node.get("schedulingConfig") or {}
        return bool(scheduling.get("spot") or scheduling.get("preemptible"))

    # ----- capacity -----

    def fits(self, zone: str, generation: str, chips: int) -> bool:
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

    # ----- helpers -----

    def serial(self) -> int:
        self.state["serial"] += 1
        return self.state["serial"]

    def _rng(self) -> random.Random:
        """A fresh draw source per use, from the seed and a stored counter: reproducible after a reset."""
        self.state["draws"] += 1
        return random.Random(f"{self.settings.seed}:rng:{self.state['draws']}")
