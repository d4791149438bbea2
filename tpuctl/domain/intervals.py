"""Usage intervals: when each node incarnation was READY, replayed from its node.* events.

A node incarnation (zone + name + the create request id, or its createTime for nodes tpuctl
did not make) accrues from node.ready / node.started until node.stopped / node.preempted /
node.deleted. Replay sorts by (time, kind rank, id) and ignores duplicate ids, so the
same set of events gives the same intervals in whatever order or how often it arrives.
Times are cut to whole seconds: billing is per second.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from operator import itemgetter
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Iterable, Mapping

from tpuctl.domain.accelerators import parse_accelerator_type
from tpuctl.domain.events import (
    NODE_CLAIMED, NODE_CREATED, NODE_DELETED, NODE_KINDS, NODE_PREEMPTED, NODE_READY, NODE_STARTED,
    NODE_STOPPED, QUEUED_CREATED, QUEUED_KINDS, UNATTRIBUTED, Event, optional_time,
)
from tpuctl.domain.times import canonical_text
from tpuctl.errors import UsageError

# Within one second: created, then accrual starts, then stops, then deletion.
RANK = {NODE_CREATED: 0, NODE_READY: 1, NODE_STARTED: 1, NODE_CLAIMED: 1, NODE_STOPPED: 2, NODE_PREEMPTED: 2,
        NODE_DELETED: 3}
ACCRUE = frozenset({NODE_READY, NODE_STARTED})
STOP_STATUS = {NODE_STOPPED: "stopped", NODE_PREEMPTED: "preempted", NODE_DELETED: "deleted"}
# FACTS.md: a preemptible TPU preempted in its first minute is not charged.
FREE_PREEMPTION = timedelta(minutes=1)

SortKey = tuple[datetime, int, str]


def sort_key(event: Event) -> SortKey:
    return (event.time, RANK.get(event.kind, 0), event.id)


def node_subject(payload: Mapping[str, Any]) -> str:
    """One node incarnation: a name can be reused, a create request id cannot."""
    create_time = payload.get("create_time")
    incarnation = payload.get("request_id") or (create_time and _canonical(create_time)) or "-"
    return f"{payload['zone']}/{payload['node']}/{incarnation}"


@lru_cache(maxsize=4096)
def _canonical(text: str) -> str:
    return canonical_text(text)      # every sighting of a node names its createTime again


def queued_subject(payload: Mapping[str, Any]) -> str:
    return f"queued/{payload['zone']}/{payload['name']}/{payload.get('request_id') or '-'}"


def subject_of(event: Event) -> str | None:
    """Which node or queued request an event is about (None for group-level events)."""
    if event.kind in NODE_KINDS:
        return node_subject(event.payload)
    if event.kind in QUEUED_KINDS:
        return queued_subject(event.payload)
    return None


def _second(when: datetime) -> datetime:
    return when.replace(microsecond=0)


@lru_cache(maxsize=1024)
def _generation_and_chips(accelerator_type: str, chips: Any) -> tuple[str, int]:
    try:
        accelerator = parse_accelerator_type(accelerator_type)
    except UsageError:
        return "unknown", int(chips or 0)
    return accelerator.generation, int(chips) if chips else accelerator.chips


@dataclass(frozen=True)
class NodeSpec:
    """What a node is and whose it is, merged from its events (later non-empty values win)."""

    zone: str
    node: str
    accelerator_type: str
    generation: str
    chips: int
    spot: bool
    owner: str
    lease_until: datetime | None
    request_id: str | None
    create_time: datetime | None

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], previous: NodeSpec | None = None) -> NodeSpec:
        """The payload's spec merged onto `previous`. Memoised per payload: a node's events repeat
        the same payload, and replay merges one per event; payloads that give equal specs (a
        sighting's differs only in its source) give the same object, so a repeat is `is`."""
        try:
            key = (*payload.values(), *payload)
            fresh = _SPECS.get(key)
        except TypeError:                   # not a payload the schema passed: no memo
            return cls._alone(payload).onto(previous)
        if fresh is None:
            if len(_SPECS) >= 10_000:
                _SPECS.clear()
                _SAME.clear()
            made = cls._alone(payload)
            fresh = _SPECS[key] = _SAME.setdefault(made, made)
        return fresh if fresh is previous else fresh.onto(previous)

    @classmethod
    def _alone(cls, payload: Mapping[str, Any]) -> NodeSpec:
        generation, chips = _generation_and_chips(payload["accelerator_type"], payload.get("chips"))
        return cls(zone=payload["zone"], node=payload["node"], accelerator_type=payload["accelerator_type"],
                   generation=generation, chips=chips, spot=bool(payload.get("spot")),
                   owner=payload.get("owner") or UNATTRIBUTED, lease_until=optional_time(payload.get("lease_until")),
                   request_id=payload.get("request_id") or None, create_time=optional_time(payload.get("create_time")))

    def onto(self, previous: NodeSpec | None) -> NodeSpec:
        """This spec, with what `previous` knew that it leaves empty (a later unlabeled sighting
        keeps the known owner, lease, request and createTime); itself when nothing shows through."""
        if previous is None:
            return self
        owner = previous.owner if self.owner == UNATTRIBUTED else self.owner
        lease_until = self.lease_until or previous.lease_until
        request_id = self.request_id or previous.request_id
        create_time = self.create_time or previous.create_time
        if (owner, lease_until, request_id, create_time) == (self.owner, self.lease_until, self.request_id,
                                                              self.create_time):
            return self
        return replace(self, owner=owner, lease_until=lease_until, request_id=request_id, create_time=create_time)


_SPECS: dict[tuple, NodeSpec] = {}          # payload -> its spec alone
_SAME: dict[NodeSpec, NodeSpec] = {}         # each spec to its first equal one


@dataclass(frozen=True)
class UsageInterval:
    """A stretch of READY time of one node incarnation; `end` is `now` for a running node."""

    subject: str
    seq: int
    spec: NodeSpec
    start: datetime
    end: datetime
    charged: bool = True

    @property
    def member(self) -> str:
        return self.spec.owner

    @property
    def seconds(self) -> int:
        return max(0, int((self.end - self.start).total_seconds()))

    @property
    def chip_seconds(self) -> int:
        return self.spec.chips * self.seconds if self.charged else 0

    def clipped(self, start: datetime, end: datetime) -> UsageInterval | None:
        """The part inside [start, end), or None."""
        lo, hi = max(self.start, start), min(self.end, end)
        return replace(self, start=lo, end=hi) if lo < hi else None


@dataclass(frozen=True)
class NodeState:
    """Where one incarnation stands after the events replayed so far."""

    subject: str
    spec: NodeSpec
    first_seen: datetime
    last: SortKey
    status: str = "created"                 # created | ready | stopped | preempted | deleted
    accruing_since: datetime | None = None
    first_ready: datetime | None = None
    seq: int = 0                            # closed intervals so far

    @property
    def accruing(self) -> bool:
        return self.accruing_since is not None

    @property
    def closed(self) -> bool:
        return self.status == "deleted"

    def open_interval(self, now: datetime) -> UsageInterval | None:
        """The running interval up to `now` (charged: it is not over yet)."""
        if self.accruing_since is None or now <= self.accruing_since:
            return None
        return UsageInterval(self.subject, self.seq, self.spec, self.accruing_since, _second(now))


def replay(events: Iterable[Event], state: NodeState | None = None) -> tuple[NodeState | None, list[UsageInterval]]:
    """Replay one incarnation's events (from `state`, if they all sort after it): its state and
    the intervals these events closed. One step per event, in (time, kind rank, id) order:

    - a deleted node seen running by a sync (ready or started, source "observed") accrues
      again: reality wins;
    - a claim while accruing closes the old owner's interval and opens the new owner's;
    - ready or started opens an interval unless one is open;
    - stopped, preempted or deleted closes it (uncharged: a spot node preempted within a
      minute of its first READY, in its first interval).

    The spec merges each payload in (later non-empty values win). Kept in local variables,
    one NodeState at the end: a bulk load replays a million events."""
    return _replayed(sorted([(sort_key(event), event) for event in unique(events)], key=itemgetter(0)), state)


def replay_after(events: list[Event], state: NodeState | None) -> tuple[NodeState | None, list[UsageInterval]] | None:
    """`replay` of new events (distinct ids, none replayed yet) onto `state`, or None when one
    sorts at or before the last event `state` holds: then the node is replayed from all its events."""
    keyed = sorted([(sort_key(event), event) for event in events], key=itemgetter(0))
    if state is not None and keyed and keyed[0][0] <= state.last:
        return None
    return _replayed(keyed, state)


def _replayed(keyed: list[tuple[SortKey, Event]], state: NodeState | None) -> tuple[NodeState | None, list[UsageInterval]]:
    intervals: list[UsageInterval] = []
    if not keyed:
        return state, intervals
    if state is None:
        event = keyed[0][1]
        spec = NodeSpec.from_payload(event.payload)
        state = NodeState(node_subject(event.payload), spec, first_seen=_second(event.time), last=keyed[0][0])
    subject, spec, status, since = state.subject, state.spec, state.status, state.accruing_since
    first_ready, seq, payload = state.first_ready, state.seq, None
    for last, event in keyed:
        kind, old = event.kind, spec
        if event.payload != payload:            # (most events repeat their node's payload)
            payload = event.payload
            spec = NodeSpec.from_payload(payload, spec)
        if status == "deleted":
            if kind in ACCRUE and payload.get("source") == "observed":
                status, since = "ready", _second(event.time)
        elif kind == NODE_CLAIMED:
            if since is not None and spec.owner != old.owner:
                at = _second(event.time)
                intervals.append(UsageInterval(subject, seq, old, since, at))
                seq, since = seq + 1, at
        elif kind in ACCRUE:
            if since is None:
                status = "ready"
                since = _second(event.time)
                first_ready = first_ready or since
        elif kind in STOP_STATUS:
            status = STOP_STATUS[kind]
            if since is not None:
                at = _second(event.time)
                free = spec.spot and kind == NODE_PREEMPTED and seq == 0 and at - first_ready < FREE_PREEMPTION
                intervals.append(UsageInterval(subject, seq, spec, since, at, charged=not free))
                seq, since = seq + 1, None
    return _changed(state, {"spec": spec, "last": last, "status": status, "accruing_since": since,
                            "first_ready": first_ready, "seq": seq}), intervals


def _changed(state: Any, changes: dict[str, Any]) -> Any:
    """dataclasses.replace(state, **changes) for a NodeState or QueuedRequest (no __post_init__),
    five times faster: a bulk load makes hundreds of thousands."""
    new = object.__new__(type(state))
    new.__dict__.update(state.__dict__)
    new.__dict__.update(changes)
    return new


def unique(events: Iterable[Event]) -> list[Event]:
    return list({event.id: event for event in events}.values())


def node_histories(events: Iterable[Event]) -> dict[str, tuple[NodeState, list[UsageInterval]]]:
    """Every node incarnation's final state and closed intervals."""
    by_subject: dict[str, list[Event]] = {}
    for event in events:
        if event.kind in NODE_KINDS:
            by_subject.setdefault(node_subject(event.payload), []).append(event)
    return {subject: replay(group) for subject, group in by_subject.items()}


@dataclass(frozen=True)
class QueuedRequest:
    """A queued resource: waiting until provisioned, failed or deleted (whichever came first)."""

    subject: str
    zone: str
    name: str
    node: str
    owner: str
    accelerator_type: str
    generation: str
    chips: int
    spot: bool
    lease_hours: Decimal
    request_id: str | None
    status: str = "waiting"
    ended: SortKey | None = None
    since: datetime | None = None           # its earliest event: how long the API may take to list it

    @property
    def waiting(self) -> bool:
        return self.status == "waiting"


def apply_queued(current: QueuedRequest | None, event: Event) -> QueuedRequest:
    """Order-free: the earliest ending event decides the final status, the earliest event `since`."""
    payload = event.payload
    generation, chips = _generation_and_chips(payload["accelerator_type"], payload.get("chips"))
    request = current or QueuedRequest(
        subject=queued_subject(payload), zone=payload["zone"], name=payload["name"], node=payload["node"],
        owner=payload.get("owner") or UNATTRIBUTED, accelerator_type=payload["accelerator_type"],
        generation=generation, chips=chips, spot=bool(payload.get("spot")),
        lease_hours=Decimal(str(payload.get("lease_hours") or 0)), request_id=payload.get("request_id"),
        since=event.time)
    if request.since is None or event.time < request.since:
        request = _changed(request, {"since": event.time})
    key = sort_key(event)
    if event.kind != QUEUED_CREATED and (request.ended is None or key < request.ended):
        request = _changed(request, {"status": event.kind.split(".", 1)[1], "ended": key})
    return request


def queued_requests(events: Iterable[Event]) -> dict[str, QueuedRequest]:
    requests: dict[str, QueuedRequest] = {}
    for event in unique(events):
        if event.kind in QUEUED_KINDS:
            subject = queued_subject(event.payload)
            requests[subject] = apply_queued(requests.get(subject), event)
    return requests
