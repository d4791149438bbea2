"""Queued resources: requests for TPU nodes that wait for capacity, as the emulated world runs them.

A create is accepted at once (its operation is done immediately; a repeated `request_id`
returns the same operation) after every planned node is checked like a node create: one
node per `node_spec.node_id`, or `multislice_params.node_count` nodes named
`PREFIX-0`, `PREFIX-1`, ... The request then moves through these states:

- ACCEPTED until its queueing policy's valid-after time, then WAITING_FOR_RESOURCES.
  Still ACCEPTED or WAITING_FOR_RESOURCES at its valid-until time: FAILED (deadline exceeded).
- WAITING_FOR_RESOURCES requests are served first come, first served per zone and TPU
  generation: the oldest one that does not fit the zone's free capacity blocks every later
  request needing that pool. One that fits gets all its nodes at once (CREATING, spot if the
  request is spot tier) and becomes PROVISIONING; if a planned node name is already taken
  it is FAILED instead.
- PROVISIONING becomes ACTIVE once every node is READY.
- PROVISIONING or ACTIVE with a node preempted, deleting, terminated or gone is SUSPENDING
  (initiator SERVICE after a preemption, else USER): its other nodes are deleted, and once
  none is left it is SUSPENDED. `reset` puts a SUSPENDED or FAILED request back at the end
  of the queue (ACCEPTED, validity window restarted).
- Delete refuses while the request still has nodes unless `force`; a forced delete is
  DELETING: the nodes are deleted first, then the request goes and the operation is done.
"""

from __future__ import annotations

from typing import Protocol

from tpuctl.emulator.exceptions import AlreadyExists, ApiError, DeadlineExceeded, FailedPrecondition, InvalidArgument, NotFound
from tpuctl.emulator.locations import check_zone
from tpuctl.emulator.node_specs import accelerator_of, check_runtime
from tpuctl.emulator.records import (
    EMPTY_TYPE,
    GONE,
    LOST,
    STATE_DATA,
    check_labels,
    check_resource_id,
    normalize_node_body,
    parse_duration,
    parse_time,
    rfc3339,
    snapshot,
    view,
    zone_of,
)


class Host(Protocol):
    """What queued resources use of the world they live in (`World`), and nothing more:
    its time, capacity, nodes and operations."""

    now: float

    def advance(self) -> None: ...
    def in_parent(self, records: dict, parent: str) -> list[dict]: ...
    def serial(self) -> int: ...
    def fits(self, zone: str, generation: str, chips: int) -> bool: ...
    def find_node(self, name: str) -> dict | None: ...
    def add_node(self, name: str, zone: str, body: dict, at: float, queued_resource: dict) -> dict: ...
    def set_node_state(self, node: dict, state: str, at: float) -> None: ...
    def new_operation(self, zone: str, verb: str, target: str, awaits: str | None) -> dict: ...
    def finish_operation(self, op: dict, at: float, response: dict | None = None) -> dict: ...
    def pending_operations(self, target: str) -> list[dict]: ...
    def get_operation(self, name: str) -> dict: ...


class QueuedResources:
    """The world's queued resources: the API methods and the rules that move them.

    Its records live in the world's state document (`queuedResources`, and `requestIds` for
    retried creates); everything else it asks of the world through `Host`. `World.advance`
    calls `reconcile` after every transition and schedules `next_change` (valid-after
    reached, valid-until expired).
    """

    def __init__(self, state: dict, world: Host):
        self.state, self.world = state, world
        self.changes = 0        # counts what it changed, so the world knows when to look again

    @property
    def records(self) -> dict:
        return self.state["queuedResources"]

    def list(self, parent: str) -> list[dict]:
        return [view(qr) for qr in self.world.in_parent(self.records, parent)]

    def get(self, name: str) -> dict:
        return view(self.record(name))

    def create(self, parent: str, qr_id: str | None, body: dict, request_id: str | None) -> dict:
        """Accept a request for nodes; it waits for capacity, first come first served."""
        zone = check_zone(zone_of(parent))
        request_key = f"{parent}:{request_id}" if request_id else None
        if request_key in self.state["requestIds"]:  # a retried create: same operation, no second request
            return self.world.get_operation(self.state["requestIds"][request_key])
        check_resource_id(qr_id, "queued resource id")
        name = f"{parent}/queuedResources/{qr_id}"
        if name in self.records:
            raise AlreadyExists(f"Resource '{name}' already exists.")
        if sum(tier in body for tier in ("spot", "guaranteed", "bestEffort")) > 1:
            raise InvalidArgument("Set at most one tier: spot, guaranteed or best effort.")
        if "guaranteed" in body and (body["guaranteed"] or {}).get("minDuration"):
            parse_duration(body["guaranteed"]["minDuration"])
        qr = {k: body[k] for k in ("tpu", "spot", "guaranteed", "bestEffort", "reservationName") if k in body}
        qr.update({"name": name, "createTime": rfc3339(self.world.now), "_zone": zone, "_nodes": [], "_seq": self.world.serial(),
                   "_queuedAt": self.world.now, "_policy": body.get("queueingPolicy") or {}})
        qr["_plan"] = self._plan_nodes(qr, qr_id)
        self._set_validity(qr, self.world.now)
        self._set_state(qr, "ACCEPTED", self.world.now)
        self.records[name] = qr
        op = self.world.new_operation(zone, "create", name, awaits=None)
        if request_key:
            self.state["requestIds"][request_key] = op["name"]
        self.world.advance()
        return self.world.finish_operation(op, self.world.now, response=snapshot(qr))

    def delete(self, name: str, force: bool = False) -> dict:
        qr = self.record(name)
        live = [n for n in qr["_nodes"] if self.world.find_node(n) is not None]
        if live and not force:
            raise FailedPrecondition(f"The queued resource {name} still has nodes ({', '.join(live)}); "
                                     "delete them first or delete with force=true.")
        op = self.world.new_operation(zone_of(name), "delete", name, awaits=GONE)
        if qr["state"]["state"] != "DELETING":
            self._set_state(qr, "DELETING", self.world.now, initiator="USER")
        self.world.advance()
        return view(op)

    def reset(self, name: str) -> dict:
        """Queue a SUSPENDED (or FAILED) request again, at the back of the queue."""
        qr = self.record(name)
        if qr["state"]["state"] not in ("SUSPENDED", "FAILED"):
            raise FailedPrecondition(f"Only a SUSPENDED or FAILED queued resource can be reset; "
                                     f"{name} is {qr['state']['state']}.")
        qr["_nodes"], qr["_queuedAt"], qr["_preempted"] = [], self.world.now, False
        self._set_validity(qr, self.world.now)
        self._set_state(qr, "ACCEPTED", self.world.now)
        op = self.world.new_operation(zone_of(name), "reset", name, awaits=None)
        self.world.advance()
        return self.world.finish_operation(op, self.world.now, response=snapshot(qr))

    def record(self, name: str) -> dict:
        check_zone(zone_of(name))
        qr = self.records.get(name)
        if qr is None:
            raise NotFound(f"Resource '{name}' was not found.")
        return qr

    def _plan_nodes(self, qr: dict, qr_id: str) -> list[dict]:
        """The nodes a request will make: [{name, body, gen, chips}], each checked like a node create."""
        specs = (qr.get("tpu") or {}).get("nodeSpec") or []
        if not specs:
            raise InvalidArgument("tpu.node_spec must name at least one node.")
        parent = qr["name"].rsplit("/queuedResources/", 1)[0]
        plan = []
        for spec in specs:
            if spec.setdefault("parent", parent) != parent:
                raise InvalidArgument(f"node_spec.parent {spec['parent']} must be the queued resource's location.")
            if "multiNodeParams" in spec:                     # v2alpha1's name for it
                spec["multisliceParams"] = spec.pop("multiNodeParams")
            multislice = spec.get("multisliceParams")
            if multislice and spec.get("nodeId") or not (multislice or spec.get("nodeId")):
                raise InvalidArgument("Each node_spec needs exactly one of node_id and multislice_params.")
            if multislice:
                count = int(multislice.get("nodeCount") or 0)
                if count < 2:
                    raise InvalidArgument("multislice_params.node_count must be greater than 1.")
                prefix = multislice.get("nodeIdPrefix") or qr_id
                node_ids = [f"{prefix}-{i}" for i in range(count)]
            else:
                node_ids = [spec["nodeId"]]
            body = spec["node"] = normalize_node_body(spec.get("node") or {})
            for node_id in node_ids:
                check_resource_id(node_id, "node id")
                name = f"{parent}/nodes/{node_id}"
                if self.world.find_node(name) is not None or any(p["name"] == name for p in plan):
                    raise AlreadyExists(f"Node '{name}' already exists.")
                accel = accelerator_of(qr["_zone"], body)
                check_runtime(qr["_zone"], accel, body)
                check_labels(body.get("labels") or {})
                plan.append({"name": name, "gen": accel.generation, "chips": accel.chips,
                             "multislice": bool(multislice), "body": body})
        return plan

    def _set_validity(self, qr: dict, base: float) -> None:
        """Absolute valid-after / valid-until times from the queueing policy as asked; the API
        answers with them as times (`validUntilTime`, `validAfterTime`), durations resolved."""
        policy = qr["_policy"] if "_policy" in qr else qr.get("queueingPolicy") or {}
        after = until = None
        if policy.get("validAfterDuration"):
            after = base + parse_duration(policy["validAfterDuration"])
        if policy.get("validAfterTime"):
            after = parse_time(policy["validAfterTime"])
        if policy.get("validUntilDuration"):
            until = base + parse_duration(policy["validUntilDuration"])
        if policy.get("validUntilTime"):
            until = parse_time(policy["validUntilTime"])
        interval = policy.get("validInterval") or {}
        if interval.get("startTime"):
            after = parse_time(interval["startTime"])
        if interval.get("endTime"):
            until = parse_time(interval["endTime"])
        qr["_validAfter"], qr["_validUntil"] = after, until
        shown = {"validInterval": interval} if interval else {}
        if after is not None and not interval.get("startTime"):
            shown["validAfterTime"] = rfc3339(after)
        if until is not None and not interval.get("endTime"):
            shown["validUntilTime"] = rfc3339(until)
        if shown:
            qr["queueingPolicy"] = shown

    def _set_state(self, qr: dict, state: str, at: float, initiator: str | None = None,
                      error: ApiError | None = None) -> None:
        self.changes += 1
        qr["_since"] = at
        qr["state"] = {"state": state}
        if state in STATE_DATA:
            qr["state"][STATE_DATA[state]] = {}
        if initiator:
            qr["state"]["stateInitiator"] = initiator
        if error is not None:
            qr["state"]["failedData"] = {"error": error.operation_error()}

    def reconcile(self, at: float) -> bool:
        """Move requests on from what their nodes and the free capacity say, at time `at`; True if anything changed."""
        before = self.changes
        for qr in list(self.records.values()):
            state = qr["state"]["state"]
            nodes = [self.world.find_node(name) for name in qr["_nodes"]]
            if state in ("PROVISIONING", "ACTIVE"):
                if any(n is None or n["state"] in LOST for n in nodes):
                    self._set_state(qr, "SUSPENDING", at, initiator="SERVICE" if qr.get("_preempted") else "USER")
                elif state == "PROVISIONING" and all(n["state"] == "READY" for n in nodes):
                    self._set_state(qr, "ACTIVE", at)
            if qr["state"]["state"] in ("SUSPENDING", "DELETING"):
                self._wind_down(qr, [n for n in nodes if n is not None], at)
        self._provision_waiting(at)
        return self.changes != before

    def _wind_down(self, qr: dict, live: list[dict], at: float) -> None:
        """Delete a suspending or deleting request's nodes; once they are gone, finish the request."""
        for node in live:
            if node["state"] not in ("DELETING", "PREEMPTED"):
                self.changes += 1
                self.world.set_node_state(node, "DELETING", at)
        if live:
            return
        if qr["state"]["state"] == "SUSPENDING":
            self._set_state(qr, "SUSPENDED", at, initiator=qr["state"].get("stateInitiator"))
            return
        del self.records[qr["name"]]
        self.changes += 1
        for op in self.world.pending_operations(qr["name"]):
            self.world.finish_operation(op, at, response={"@type": EMPTY_TYPE})

    def _provision_waiting(self, at: float) -> None:
        """First come, first served per zone and generation: a request that does not fit blocks later ones."""
        waiting = sorted((qr for qr in self.records.values()
                          if qr["state"]["state"] == "WAITING_FOR_RESOURCES"),
                         key=lambda qr: (qr["_queuedAt"], qr["_seq"]))
        blocked: set[tuple[str, str]] = set()
        for qr in waiting:
            needs: dict[str, int] = {}
            for planned in qr["_plan"]:
                needs[planned["gen"]] = needs.get(planned["gen"], 0) + planned["chips"]
            pools = {(qr["_zone"], gen) for gen in needs}
            if pools & blocked:
                continue
            if not all(self.world.fits(qr["_zone"], gen, chips) for gen, chips in needs.items()):
                blocked |= pools
                continue
            taken = [p["name"] for p in qr["_plan"] if self.world.find_node(p["name"]) is not None]
            if taken:
                self._set_state(qr, "FAILED", at, error=AlreadyExists(f"Node(s) {', '.join(taken)} already exist."))
                continue
            for planned in qr["_plan"]:
                node = self.world.add_node(planned["name"], qr["_zone"], planned["body"], at, queued_resource=qr)
                if planned["multislice"]:
                    node["multisliceNode"] = True
                qr["_nodes"].append(node["name"])
            self._set_state(qr, "PROVISIONING", at)

    def timed_changes(self):
        """(key, (time, apply)) of every request with a timed change ahead."""
        for key, qr in self.records.items():
            change = self.next_change(qr)
            if change is not None:
                yield key, change

    def next_change(self, qr: dict):
        """(time, apply(at)) of a request's next timed change: valid-after reached or valid-until expired."""
        state = qr["state"]["state"]
        changes = []
        if state in ("ACCEPTED", "WAITING_FOR_RESOURCES") and qr["_validUntil"] is not None:
            changes.append((qr["_validUntil"], lambda at: self._set_state(qr, "FAILED", at, error=DeadlineExceeded(
                f"The queued resource {qr['name']} could not be provisioned before its valid-until time."))))
        if state == "ACCEPTED":
            at = max(qr["_since"], qr["_validAfter"] or qr["_since"])
            changes.append((at, lambda at: self._set_state(qr, "WAITING_FOR_RESOURCES", at)))
        return min(changes, default=None, key=lambda change: change[0])
