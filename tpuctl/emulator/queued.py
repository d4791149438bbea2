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

from tpuctl.emulator.exceptions import AlreadyExists, ApiError, FailedPrecondition, InvalidArgument, NotFound
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


class QueuedResources:
    """The queued-resource half of `World` (mixed into it): the API methods and the reconciling rules.

    Not usable alone: it relies on what `World` defines -- `state`, `now`, `_changes`, and the
    methods `advance`, `_check_zone`, `_in_parent`, `_serial`, `_fits`, `_accelerator`,
    `_check_runtime`, `_build_node`, `_add_node`, `_set_state`, `_new_operation`, `_finish`,
    `_pending_operations`, `_settle` and `get_operation`. `World.advance` calls
    `_reconcile_queued_resources` after every transition and `World._qr_event` schedules the
    timed changes (valid-after reached, valid-until expired) through `_set_qr_state`.
    """

    # ----- queued resources -----

    def list_queued_resources(self, parent: str) -> list[dict]:
        return [view(qr) for qr in self._in_parent(self.state["queuedResources"], parent)]

    def get_queued_resource(self, name: str) -> dict:
        return view(self._queued_resource(name))

    def create_queued_resource(self, parent: str, qr_id: str | None, body: dict, request_id: str | None) -> dict:
        """Accept a request for nodes; it waits for capacity, first come first served."""
        zone = self._check_zone(zone_of(parent))
        request_key = f"{parent}:{request_id}" if request_id else None
        if request_key in self.state["requestIds"]:  # a retried create: same operation, no second request
            return self.get_operation(self.state["requestIds"][request_key])
        check_resource_id(qr_id, "queued resource id")
        name = f"{parent}/queuedResources/{qr_id}"
        if name in self.state["queuedResources"]:
            raise AlreadyExists(f"Resource '{name}' already exists.")
        if sum(tier in body for tier in ("spot", "guaranteed", "bestEffort")) > 1:
            raise InvalidArgument("Set at most one tier: spot, guaranteed or best effort.")
        if "guaranteed" in body and (body["guaranteed"] or {}).get("minDuration"):
            parse_duration(body["guaranteed"]["minDuration"])
        qr = {k: body[k] for k in ("tpu", "spot", "guaranteed", "bestEffort", "reservationName") if k in body}
        qr.update({"name": name, "createTime": rfc3339(self.now), "_zone": zone, "_nodes": [], "_seq": self._serial(),
                   "_queuedAt": self.now, "_policy": body.get("queueingPolicy") or {}})
        qr["_plan"] = self._plan_nodes(qr, qr_id)
        self._set_validity(qr, self.now)
        self._set_qr_state(qr, "ACCEPTED", self.now)
        self.state["queuedResources"][name] = qr
        op = self._new_operation(zone, "create", name, awaits=None)
        if request_key:
            self.state["requestIds"][request_key] = op["name"]
        self.advance()
        return self._finish(op, self.now, response=snapshot(qr))

    def delete_queued_resource(self, name: str, force: bool = False) -> dict:
        qr = self._queued_resource(name)
        live = [n for n in qr["_nodes"] if n in self.state["nodes"]]
        if live and not force:
            raise FailedPrecondition(f"The queued resource {name} still has nodes ({', '.join(live)}); "
                                     "delete them first or delete with force=true.")
        op = self._new_operation(zone_of(name), "delete", name, awaits=GONE)
        if qr["state"]["state"] != "DELETING":
            self._set_qr_state(qr, "DELETING", self.now, initiator="USER")
        return self._settle(op)

    def reset_queued_resource(self, name: str) -> dict:
        """Queue a SUSPENDED (or FAILED) request again, at the back of the queue."""
        qr = self._queued_resource(name)
        if qr["state"]["state"] not in ("SUSPENDED", "FAILED"):
            raise FailedPrecondition(f"Only a SUSPENDED or FAILED queued resource can be reset; "
                                     f"{name} is {qr['state']['state']}.")
        qr["_nodes"], qr["_queuedAt"], qr["_preempted"] = [], self.now, False
        self._set_validity(qr, self.now)
        self._set_qr_state(qr, "ACCEPTED", self.now)
        op = self._new_operation(zone_of(name), "reset", name, awaits=None)
        self.advance()
        return self._finish(op, self.now, response=snapshot(qr))

    def _queued_resource(self, name: str) -> dict:
        self._check_zone(zone_of(name))
        qr = self.state["queuedResources"].get(name)
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
                if name in self.state["nodes"] or any(p["name"] == name for p in plan):
                    raise AlreadyExists(f"Node '{name}' already exists.")
                accel = self._accelerator(qr["_zone"], body)
                self._check_runtime(qr["_zone"], accel, body)
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

    def _set_qr_state(self, qr: dict, state: str, at: float, initiator: str | None = None,
                      error: ApiError | None = None) -> None:
        self._changes += 1
        qr["_since"] = at
        qr["state"] = {"state": state}
        if state in STATE_DATA:
            qr["state"][STATE_DATA[state]] = {}
        if initiator:
            qr["state"]["stateInitiator"] = initiator
        if error is not None:
            qr["state"]["failedData"] = {"error": error.operation_error()}

    def _reconcile_queued_resources(self, at: float) -> bool:
        """Move requests on from what their nodes and the free capacity say, at time `at`; True if anything changed."""
        before = self._changes
        for qr in list(self.state["queuedResources"].values()):
            state = qr["state"]["state"]
            nodes = [self.state["nodes"].get(name) for name in qr["_nodes"]]
            if state in ("PROVISIONING", "ACTIVE"):
                if any(n is None or n["state"] in LOST for n in nodes):
                    self._set_qr_state(qr, "SUSPENDING", at, initiator="SERVICE" if qr.get("_preempted") else "USER")
                elif state == "PROVISIONING" and all(n["state"] == "READY" for n in nodes):
                    self._set_qr_state(qr, "ACTIVE", at)
            if qr["state"]["state"] in ("SUSPENDING", "DELETING"):
                self._wind_down(qr, [n for n in nodes if n is not None], at)
        self._provision_waiting(at)
        return self._changes != before

    def _wind_down(self, qr: dict, live: list[dict], at: float) -> None:
        """Delete a suspending or deleting request's nodes; once they are gone, finish the request."""
        for node in live:
            if node["state"] not in ("DELETING", "PREEMPTED"):
                self._set_state(node, "DELETING", at)
        if live:
            return
        if qr["state"]["state"] == "SUSPENDING":
            self._set_qr_state(qr, "SUSPENDED", at, initiator=qr["state"].get("stateInitiator"))
            return
        del self.state["queuedResources"][qr["name"]]
        self._changes += 1
        for op in self._pending_operations(qr["name"]):
            self._finish(op, at, response={"@type": EMPTY_TYPE})

    def _provision_waiting(self, at: float) -> None:
        """First come, first served per zone and generation: a request that does not fit blocks later ones."""
        waiting = sorted((qr for qr in self.state["queuedResources"].values()
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
            if not all(self._fits(qr["_zone"], gen, chips) for gen, chips in needs.items()):
                blocked |= pools
                continue
            taken = [p["name"] for p in qr["_plan"] if p["name"] in self.state["nodes"]]
            if taken:
                self._set_qr_state(qr, "FAILED", at, error=AlreadyExists(f"Node(s) {', '.join(taken)} already exist."))
                continue
            for planned in qr["_plan"]:
                node = self._build_node(planned["name"], qr["_zone"], planned["body"], at, queued_resource=qr)
                if planned["multislice"]:
                    node["multisliceNode"] = True
                self._add_node(node, at)
                qr["_nodes"].append(node["name"])
            self._set_qr_state(qr, "PROVISIONING", at)
