"""Long-running operations of the emulated world: made by every mutating call, finished by the rules.

An operation waits for its target to reach a state (`_awaits`: READY, STOPPED, GONE, or
None for one finished at once). `cancel_operation` and `delete_operation` follow
google.longrunning: a cancel is best effort -- a node create still under way is undone (no
node is left; the operation ends CANCELLED), any other operation only notes
`cancelRequested` and carries on -- and a delete forgets the operation without cancelling it.
"""

from __future__ import annotations

import random

from tpuctl.emulator.exceptions import ApiError, Cancelled, NotFound
from tpuctl.emulator.locations import check_zone
from tpuctl.emulator.records import (
    EMPTY_TYPE,
    MAX_DONE_OPERATIONS,
    METADATA_TYPE,
    NODE_TYPE,
    QUEUED_RESOURCE_TYPE,
    rfc3339,
    view,
    zone_of,
)


class Operations:
    """The operations half of `World` (mixed into it); relies on `state`, `now`, `settings`,
    `in_parent`, `serial`, `advance` and `_remove_node`."""

    def get_operation(self, name: str) -> dict:
        return view(self._operation(name))

    def list_operations(self, parent: str) -> list[dict]:
        return [view(op) for op in self.in_parent(self.state["operations"], parent)]

    def cancel_operation(self, name: str) -> dict:
        """Best effort: undo a node create still under way; otherwise only note the request."""
        op = self._operation(name)
        if op["done"]:
            return {}
        op["metadata"]["cancelRequested"] = True
        node = self.state["nodes"].get(op["_target"])
        if op["metadata"]["verb"] == "create" and node is not None and node["state"] == "CREATING":
            self._remove_node(node, self.now, Cancelled(f"Operation {name} was cancelled; no node was made."))
        self.advance()
        return {}

    def delete_operation(self, name: str) -> dict:
        """Forget an operation; what it started goes on."""
        op = self._operation(name)
        del self.state["operations"][name]
        self._unpend(op)
        return {}

    def _operation(self, name: str) -> dict:
        check_zone(zone_of(name))
        op = self.state["operations"].get(name)
        if op is None:
            raise NotFound(f"Operation '{name}' was not found.")
        return op

    def new_operation(self, zone: str, verb: str, target: str, awaits: str | None) -> dict:
        serial = self.serial()
        suffix = random.Random(f"{self.settings.seed}:op:{serial}").getrandbits(48)
        project = target.split("/")[1]
        name = f"projects/{project}/locations/{zone}/operations/operation-{int(self.now * 1000)}-{suffix:012x}"
        op = {"name": name, "done": False,
              "metadata": {"@type": METADATA_TYPE, "createTime": rfc3339(self.now), "target": target,
                           "verb": verb, "cancelRequested": False, "apiVersion": getattr(self, "api_version", "v2")},
              "_target": target, "_awaits": awaits, "_seq": serial}
        self.state["operations"][name] = op
        self.state["pending"].setdefault(target, []).append(name)
        return op

    def finish_operation(self, op: dict, at: float, response: dict | None = None, error: ApiError | None = None) -> dict:
        op["done"] = True
        op["metadata"]["endTime"] = rfc3339(at)
        self._unpend(op)
        if error is not None:
            op["error"] = error.operation_error()
        else:
            resource_type = NODE_TYPE if "/nodes/" in op["_target"] else QUEUED_RESOURCE_TYPE
            op["response"] = response if "@type" in response else {"@type": resource_type, **response}
        self._prune_operations()
        return view(op)

    def _unpend(self, op: dict) -> None:
        pending = self.state["pending"].get(op["_target"], [])
        if op["name"] in pending:
            pending.remove(op["name"])
            if not pending:
                del self.state["pending"][op["_target"]]

    def pending_operations(self, target: str) -> list[dict]:
        return [self.state["operations"][name] for name in self.state["pending"].get(target, [])
                if name in self.state["operations"]]

    def _prune_operations(self) -> None:
        """Forget the oldest finished operations once there are clearly too many."""
        ops = self.state["operations"]
        if len(ops) <= MAX_DONE_OPERATIONS + 100:
            return
        done = [name for name, op in ops.items() if op["done"]]
        for name in done[: max(0, len(done) - MAX_DONE_OPERATIONS)]:
            del ops[name]

    def _settle(self, op: dict) -> dict:
        """Apply what is already due (e.g. a zero boot delay) so the reply shows it."""
        self.advance()
        return view(op)


__all__ = ["EMPTY_TYPE", "Operations"]
