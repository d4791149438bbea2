"""`tpuctl extend` and `tpuctl keep`: what a member does about the reaper's warnings.

A lease is renewed through budget admission (the added hours are weighed like a create), then
written to the node's lease label, which also drops any warning the reaper left there; the
ledger records the new lease, so committed spend follows it. A keep date spares a TPU from the
idle and budget rules (never from its lease) and is a ledger event as well as a label.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tpuctl.adapters.tpu import TpuApi
from tpuctl.domain.budgets import Admission, UsageRequest
from tpuctl.domain.durations import check_hours
from tpuctl.domain.events import KEEP_SET, NODE_LEASE_EXTENDED
from tpuctl.domain.nodes import LEASE_LABEL, REQUEST_LABEL, NodeInfo, lease_label_value
from tpuctl.domain.reaping import KEEP_LABEL, Warning, warning_labels, warning_of
from tpuctl.domain.times import format_time
from tpuctl.errors import ConflictError, UsageError
from tpuctl.services.ledger import Books
from tpuctl.services.nodes import info_payload

ENDED = frozenset({"PREEMPTED", "TERMINATED", "DELETING"})


@dataclass(frozen=True)
class Extended:
    node: NodeInfo
    admission: Admission
    until: datetime
    cleared: Warning | None          # the reaper's warning it took away, if any


def extend(api: TpuApi, books: Books, node: NodeInfo, hours: float, override_reason: str | None = None) -> Extended:
    """Add `hours` to the lease (counted from now if it has ended), admitted against the
    owner's budget; clears the reaper's warning."""
    hours = check_hours(hours, "--hours")
    if node.state in ENDED:
        raise ConflictError(f"TPU '{node.name}' is {node.state}; its lease cannot be extended.",
                            hint="Create a new TPU instead.")
    now = books.clock.now()
    usage = UsageRequest.for_type(node.owner or books.actor, node.zone, node.accelerator_type, node.spot,
                                  str(hours), chips=node.chips, request_id=node.labels.get(REQUEST_LABEL))
    books.observe_nodes([node])
    admission = books.admit(usage, override_reason)
    until = max(node.lease_until or now, now) + timedelta(hours=hours)
    labels = {**warning_labels(node.labels, None), LEASE_LABEL: lease_label_value(until)}
    after = api.set_labels(node.zone, node.name, labels)
    books.record(NODE_LEASE_EXTENDED, {**info_payload(after), "reason": f"lease extended by {hours:g} h"})
    return Extended(after, admission, after.lease_until or until, warning_of(node))


def keep(api: TpuApi, books: Books, node: NodeInfo, until: datetime, reason: str | None = None) -> NodeInfo:
    """Spare the TPU from the idle and budget rules until `until` (a label and a ledger event)."""
    now = books.clock.now()
    if until <= now:
        raise UsageError(f"--until {format_time(until)} is not in the future.")
    if node.state in ENDED:
        raise ConflictError(f"TPU '{node.name}' is {node.state}; there is nothing to keep.")
    after = api.set_labels(node.zone, node.name, {**node.labels, KEEP_LABEL: str(int(until.timestamp()))})
    payload = {"zone": node.zone, "node": node.name, "owner": node.owner, "until": format_time(until)}
    books.record(KEEP_SET, {**payload, **({"reason": reason[:500]} if reason else {})})
    return after


@dataclass(frozen=True)
class ReaperNote:
    """A line of `spend`: what the reaper warned about or did to one of the member's TPUs."""

    time: datetime
    zone: str
    node: str
    kind: str                 # warned | acted
    action: str               # warn's follow-up (delete, stop, warn) or what was done
    rule: str
    reason: str
    act_at: datetime | None = None

    def sentence(self) -> str:
        if self.kind == "warned":
            if self.act_at is None or self.action == "warn":
                return f"{self.node}: warned at {self.time:%H:%M} UTC: {self.reason}"
            done = "deleted" if self.action == "delete" else "stopped"
            return f"{self.node}: {done} at {self.act_at:%Y-%m-%d %H:%M} UTC unless acted on: {self.reason}"
        done = {"delete": "deleted", "stop": "stopped", "delete_queued": "deleted", "resume": "resumed"}[self.action]
        return f"{self.node}: {done} by the reaper at {self.time:%Y-%m-%d %H:%M} UTC: {self.reason}"


def reaper_notes(db, who: str, start: datetime, end: datetime) -> list[ReaperNote]:
    """The reaper's warnings and actions on `who`'s TPUs in [start, end), oldest first."""
    from tpuctl.domain.events import REAP_ACTED, REAP_WARNED, optional_time

    notes = []
    for event in db.events_between({REAP_WARNED, REAP_ACTED}, start, end):
        p = event.payload
        if p.get("owner") != who:
            continue
        warned = event.kind == REAP_WARNED
        notes.append(ReaperNote(event.time, p["zone"], p["node"], "warned" if warned else "acted",
                                (p.get("then") or "warn") if warned else p["action"], p["rule"], p["reason"],
                                optional_time(p.get("act_at"))))
    return sorted(notes, key=lambda n: n.time)
