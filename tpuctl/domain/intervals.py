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
        """Memoised: a node's events repeat the same payload, and replay builds a spec per event
        (keyed by the previous spec's identity, which the memo keeps alive: hashing it is slow)."""
        try:
            key = (*payload.values(), *payload, id(previous))
            found = _SPECS.get(key)
        except TypeError:                   # not a payload the schema passed: no memo
            return cls._merged(payload, previous)
        if found is None or found[0] is not previous:
            if len(_SPECS) >= 10_000:
                _SPECS.clear()
            merged = cls._merged(payload, previous)
            found = _SPECS[key] = (previous, previous if merged == previous else merged)
        return found[1]

    @classmethod
    def _merged(cls, payload: Mapping[str, Any], previous: NodeSpec | None) -> NodeSpec:
        generation, chips = _generation_and_chips(payload["accelerator_type"], payload.get("chips"))
        owner = payload.get("owner") or UNATTRIBUTED
        if previous is not None and owner == UNATTRIBUTED:
            owner = previous.owner          # a later unlabeled sighting keeps the known owner
        return cls(zone=payload["zone"], node=payload["node"], accelerator_type=payload["accelerator_type"],
                   generation=generation, chips=chips, spot=bool(payload.get("spot")), owner=owner,
                   lease_until=optional_time(payload.get("lease_until")) or (previous and previous.lease_until),
                   request_id=payload.get("request_id") or (previous and previous.request_id),
                   create_time=optional_time(payload.get("create_time")) or (previous and previous.create_time))


_SPECS: dict[tuple, tuple[NodeSpec | None, NodeSpec]] = {}


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


def apply(state: NodeState | None, event: Event) -> tuple[NodeState, UsageInterval | None]:
    """One step of replay; returns the new state and the interval this event closed, if any."""
    at, kind, last = _second(event.time), event.kind, sort_key(event)
    spec = NodeSpec.from_payload(event.payload, state.spec if state else None)
    if state is None:
        state = NodeState(node_subject(event.payload), spec, first_seen=at, last=last)
    changes: dict[str, Any] = {"spec": spec, "last": last}
    interval = None
    if state.closed:
        # The ledger thought it deleted, yet a sync saw it running: reality wins.
        if kind in ACCRUE and event.payload.get("source") == "observed":
            changes.update(status="ready", accruing_since=at)
    elif kind == NODE_CLAIMED and state.accruing and spec.owner != state.spec.owner:
        # `tpuctl claim`: the time so far stays with the old owner, the rest goes to the new one
        interval = UsageInterval(state.subject, state.seq, state.spec, state.accruing_since, at)
        changes.update(seq=state.seq + 1, accruing_since=at)
    elif kind in ACCRUE and not state.accruing:
        changes.update(status="ready", accruing_since=at, first_ready=state.first_ready or at)
    elif kind in STOP_STATUS:
        changes.update(status=STOP_STATUS[kind], accruing_since=None)
        if state.accruing:
            free = (spec.spot and kind == NODE_PREEMPTED and state.seq == 0
                    and at - state.first_ready < FREE_PREEMPTION)
            interval = UsageInterval(state.subject, state.seq, spec, state.accruing_since, at, charged=not free)
            changes["seq"] = state.seq + 1
    return _changed(state, changes), interval


def _changed(state: Any, changes: dict[str, Any]) -> Any:
    """dataclasses.replace(state, **changes) for a NodeState or QueuedRequest (no __post_init__),
    five times faster: replay makes one per event."""
    new = object.__new__(type(state))
    new.__dict__.update(state.__dict__)
    new.__dict__.update(changes)
    return new


def unique(events: Iterable[Event]) -> list[Event]:
    return list({event.id: event for event in events}.values())


def replay(events: Iterable[Event], state: NodeState | None = None) -> tuple[NodeState | None, list[UsageInterval]]:
    """Replay one incarnation's events (from `state`, if they all sort after it)."""
    intervals = []
    for event in sorted(unique(events), key=sort_key):
        state, interval = apply(state, event)
        if interval is not None:
            intervals.append(interval)
    return state, intervals


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
