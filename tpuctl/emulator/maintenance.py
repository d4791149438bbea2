"""Maintenance events and guest attributes: the v2alpha1 methods a TPU VM's host has.

A maintenance event (`simulateMaintenanceEvent`, `performMaintenance`, or
`performMaintenanceQueuedResource` for some nodes of a request) takes a READY node through
the states a host maintenance shows: REPAIRING, health UNHEALTHY_MAINTENANCE and an
ONGOING `upcomingMaintenance`, for `maintenance_seconds`, then READY and HEALTHY again.
Leaving READY fires the "gone" hook (local mode SIGTERMs the node's agents, as the
maintenance notice stops a real worker's processes) and coming back fires "ready" (fresh
agents). Billing follows the states: REPAIRING is not READY, so it is not charged. The
node's operation is done when it is READY again; a queued resource's when maintenance has
started on every node it names.

Guest attributes are what the node's workers published: a test (or an agent, through the
control surface) sets them; `getGuestAttributes` serves them per worker.
"""

from __future__ import annotations

from tpuctl.emulator.exceptions import FailedPrecondition, InvalidArgument
from tpuctl.emulator.records import rfc3339, snapshot, view, zone_of


class Maintenance:
    """The maintenance half of `World` (mixed into it); relies on `_node`, `queued`,
    `set_node_state`, `new_operation`, `finish_operation`, `_settle`, `advance`, `state`, `now`, `settings`."""

    def simulate_maintenance_event(self, name: str, worker_ids: list | None = None) -> dict:
        node = self._node(name, required_state="READY", verb="put through maintenance")
        workers = self._workers(node, worker_ids)
        op = self.new_operation(zone_of(name), "simulateMaintenanceEvent", name, awaits="READY")
        self._start_maintenance(node, "UNSCHEDULED", workers[:1])  # the API fires on the first worker only
        return self._settle(op)

    def perform_maintenance(self, name: str) -> dict:
        node = self._node(name, required_state="READY", verb="put through maintenance")
        op = self.new_operation(zone_of(name), "performMaintenance", name, awaits="READY")
        self._start_maintenance(node, "SCHEDULED", list(range(node["_hosts"])))
        return self._settle(op)

    def perform_maintenance_queued_resource(self, name: str, node_names: list | None = None) -> dict:
        qr = self.queued.record(name)
        if qr["state"]["state"] != "ACTIVE":
            raise FailedPrecondition(f"Maintenance needs an ACTIVE queued resource; {name} is {qr['state']['state']}.")
        parent = name.rsplit("/queuedResources/", 1)[0]
        wanted = [n if "/" in n else f"{parent}/nodes/{n}" for n in (node_names or [])] or list(qr["_nodes"])
        strangers = [n for n in wanted if n not in qr["_nodes"]]
        if strangers:
            raise InvalidArgument(f"Node(s) {', '.join(strangers)} do not belong to the queued resource {name}.")
        nodes = [self._node(n, required_state="READY", verb="put through maintenance") for n in wanted]
        op = self.new_operation(zone_of(name), "performMaintenanceQueuedResource", name, awaits=None)
        for node in nodes:
            self._start_maintenance(node, "SCHEDULED", list(range(node["_hosts"])))
        self.advance()
        return self.finish_operation(op, self.now, response=snapshot(qr))

    def maintain(self, zone: str, node_id: str, project: str | None = None) -> list[dict]:
        """A maintenance event now on a READY node (any project unless one is given): the control surface."""
        matches = self.nodes_named(zone, node_id, project)
        for node in matches:
            self.simulate_maintenance_event(node["name"])
        return [view(n) for n in matches if n["name"] in self.state["nodes"]]

    def _start_maintenance(self, node: dict, kind: str, workers: list[int]) -> None:
        at, until = self.now, self.now + self.settings.maintenance_seconds
        self.set_node_state(node, "REPAIRING", at)
        node["health"] = "UNHEALTHY_MAINTENANCE"
        node["healthDescription"] = f"Host maintenance on worker(s) {', '.join(map(str, workers))}."
        node["upcomingMaintenance"] = {"type": kind, "maintenanceStatus": "ONGOING", "canReschedule": False,
                                       "windowStartTime": rfc3339(at), "windowEndTime": rfc3339(until)}

    @staticmethod
    def _workers(node: dict, worker_ids: list | None) -> list[int]:
        try:
            workers = [int(w) for w in worker_ids or [0]]
        except (TypeError, ValueError):
            raise InvalidArgument(f"Worker ids must be numbers, not {worker_ids}.") from None
        bad = [w for w in workers if not 0 <= w < node["_hosts"]]
        if bad:
            raise InvalidArgument(f"Worker {bad[0]} does not exist: {node['name']} has workers 0-{node['_hosts'] - 1}.")
        return workers

    # ----- guest attributes -----

    def set_guest_attribute(self, name: str, worker: int, namespace: str, key: str, value: str) -> dict:
        node = self._node(name)
        [worker] = self._workers(node, [worker])
        if not namespace or not key or "/" in namespace + key:
            raise InvalidArgument("A guest attribute needs a namespace and a key, neither containing '/'.")
        node.setdefault("_guestAttributes", {}).setdefault(str(worker), {})[f"{namespace}/{key}"] = str(value)
        return self.get_guest_attributes(name, f"{namespace}/{key}", [worker])

    def get_guest_attributes(self, name: str, query_path: str | None = None, worker_ids: list | None = None) -> dict:
        """Per worker asked (all by default), its attributes under `query_path` (`ns/`, `ns/key`, or all)."""
        node = self._node(name)
        workers = self._workers(node, worker_ids) if worker_ids else list(range(node["_hosts"]))
        path = (query_path or "").strip("/")
        stored = node.get("_guestAttributes") or {}
        replies = []
        for worker in workers:
            items = []
            for full, value in sorted((stored.get(str(worker)) or {}).items()):
                namespace, key = full.split("/", 1)
                if not path or path in (namespace, full):
                    items.append({"namespace": namespace, "key": key, "value": value})
            replies.append({"queryPath": query_path or "", "queryValue": {"items": items}})
        return {"guestAttributes": replies}
