"""Metering: usage in chip-seconds per pricing key, priced once, split by UTC month; and
observation, which turns what the Cloud TPU API lists into the events tpuctl missed.

Usage is summed as integer chip-seconds per (zone, generation, type, spot) before any
price is applied, so totals do not depend on the order intervals are added in.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Context, Decimal
from typing import Any, Callable, Collection, Iterable, Mapping

from tpuctl.domain.accelerators import parse_accelerator_type
from tpuctl.domain.events import (
    NODE_CREATED, NODE_DELETED, NODE_PREEMPTED, NODE_READY, NODE_STARTED, NODE_STOPPED, QUEUED_CREATED,
    QUEUED_DELETED, QUEUED_FAILED, QUEUED_PROVISIONED, UNATTRIBUTED, Event, new_event, node_payload, queued_payload,
)
from tpuctl.domain.intervals import (
    STOP_STATUS, NodeSpec, NodeState, QueuedRequest, UsageInterval, node_subject, queued_subject,
)
from tpuctl.domain.nodes import ACCRUING_STATES, LEASE_MINUTES_LABEL, REQUEST_LABEL, TERMINAL_STATES, NodeInfo
from tpuctl.domain.queued import HOLDING_STATES, QueuedInfo
from tpuctl.domain.prices import Pricing
from tpuctl.errors import UsageError

MONEY_QUANTUM = Decimal("0.000001")       # costs are kept to a millionth, shown to a cent
SECONDS_PER_HOUR = 3600
_MONTH_RE = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")
FIRST_YEAR, LAST_YEAR = 2000, 2100     # months a member may name (Cloud TPU began in 2018)


def month_of(when: datetime) -> str:
    return f"{when.astimezone(timezone.utc):%Y-%m}"


def check_month(month: str) -> str:
    """A month a member typed (`--month 2026-05`), refused unless it is YYYY-MM in a sane year."""
    match = _MONTH_RE.match(month)
    if not match:
        raise UsageError(f"'{month}' is not a month like 2026-05.")
    if not FIRST_YEAR <= int(match.group(1)) <= LAST_YEAR:
        raise UsageError(f"'{month}' is not a month tpuctl can report on: the year must be {FIRST_YEAR} to {LAST_YEAR}.")
    return month


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) in UTC."""
    match = _MONTH_RE.match(month)
    if not match:
        raise UsageError(f"'{month}' is not a month like 2026-05.")
    year, number = int(match.group(1)), int(match.group(2))
    start = datetime(year, number, 1, tzinfo=timezone.utc)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=timezone.utc)
    return start, end


def split_by_month(interval: UsageInterval) -> list[tuple[str, UsageInterval]]:
    """Cut an interval at UTC month boundaries."""
    parts, start = [], interval.start
    while start < interval.end:
        _, month_end = month_bounds(month_of(start))
        part = interval.clipped(start, month_end)
        if part is not None:
            parts.append((month_of(start), part))
        start = month_end
    return parts


@dataclass(frozen=True, order=True)
class PriceKey:
    """Everything a price depends on."""

    zone: str
    generation: str
    accelerator_type: str
    spot: bool
    granted: bool = False       # inside the group's TRC grant (domain/grants.py): free

    @classmethod
    def of(cls, spec: NodeSpec | QueuedRequest) -> PriceKey:
        return cls(spec.zone, spec.generation, spec.accelerator_type, spec.spot)

    def rate(self, pricing: Pricing) -> Decimal:
        """Price per chip-hour of usage under this key."""
        if self.granted:
            return Decimal(0)
        return pricing.price_for(self.generation, self.zone, self.spot, self.accelerator_type)


Usage = Counter  # Counter[PriceKey] of chip-seconds


@dataclass(frozen=True)
class Amount:
    """Money and chip-seconds together: money budgets and chip-hour budgets read one each."""

    money: Decimal = Decimal(0)
    chip_seconds: int = 0

    @property
    def chip_hours(self) -> Decimal:
        return (Decimal(self.chip_seconds) / SECONDS_PER_HOUR).quantize(MONEY_QUANTUM, ROUND_HALF_EVEN)

    def __add__(self, other: Amount) -> Amount:
        return Amount(self.money + other.money, self.chip_seconds + other.chip_seconds)


def cost(chip_seconds: int, rate: Decimal) -> Decimal:
    """chips x seconds x price per chip-hour, to the millionth."""
    return (rate * chip_seconds / SECONDS_PER_HOUR).quantize(MONEY_QUANTUM, ROUND_HALF_EVEN)


def price_usage(usage: Mapping[PriceKey, int], pricing: Pricing) -> Amount:
    total = Amount()
    for key in sorted(usage):
        rate = key.rate(pricing)
        total += Amount(cost(usage[key], rate), usage[key])
    return total


def hourly_price(pricing: Pricing, zone: str, accelerator_type: str, spot: bool, chips: int | None = None) -> Decimal:
    """What a node costs per hour (for `types` and `create`); ConfigError if unpriced."""
    accelerator = parse_accelerator_type(accelerator_type)
    rate = pricing.price_for(accelerator.generation, zone, spot, accelerator.name)
    return rate * (chips or accelerator.chips)


def add_usage(into: dict[str, Counter], member: str, key: PriceKey, chip_seconds: int) -> None:
    if chip_seconds:
        into.setdefault(member, Counter())[key] += chip_seconds


def month_usage(intervals: Iterable[UsageInterval], month: str) -> dict[str, Counter]:
    """Chip-seconds per member and pricing key inside one month."""
    start, end = month_bounds(month)
    usage: dict[str, Counter] = {}
    for interval in intervals:
        part = interval.clipped(start, end)
        if part is not None:
            add_usage(usage, part.member, PriceKey.of(part.spec), part.chip_seconds)
    return usage


def running_usage(states: Iterable[NodeState], month: str, now: datetime) -> dict[str, Counter]:
    """Chip-seconds that nodes still accruing have used inside `month` up to `now`
    (the open intervals' share, without building them: admission calls this often)."""
    start, end = month_bounds(month)
    until = min(now.replace(microsecond=0), end)
    usage: dict[str, Counter] = {}
    for state in states:
        if state.accruing_since is not None:
            seconds = int((until - max(state.accruing_since, start)).total_seconds())
            if seconds > 0:
                add_usage(usage, state.spec.owner, PriceKey.of(state.spec), state.spec.chips * seconds)
    return usage


def committed_usage(states: Iterable[NodeState], queued: Iterable[QueuedRequest], now: datetime) -> dict[str, Counter]:
    """What running (or starting) nodes will use until their lease ends, and what waiting
    queued requests will use over their whole lease once provisioned."""
    usage: dict[str, Counter] = {}
    places = set()
    for state in states:
        if state.closed or state.status not in ("created", "ready"):
            continue
        places.add((state.spec.zone, state.spec.node))
        lease = state.spec.lease_until
        if lease is not None and lease > now:
            seconds = int((lease - now).total_seconds())
            add_usage(usage, state.spec.owner, PriceKey.of(state.spec), state.spec.chips * seconds)
    for request in queued:
        if request.waiting and (request.zone, request.node) not in places:
            seconds = int(request.lease_hours * SECONDS_PER_HOUR)
            add_usage(usage, request.owner, PriceKey.of(request), request.chips * seconds)
    return usage


def with_grant(usage: Mapping[str, Counter], covered: Mapping[str, Counter]) -> dict[str, Counter]:
    """Move the chip-seconds a TRC grant covers (per member and key) to the free, granted key."""
    moved = {member: Counter(counter) for member, counter in usage.items()}
    for member, counter in covered.items():
        mine = moved.setdefault(member, Counter())
        for key, chip_seconds in counter.items():
            take = min(chip_seconds, mine.get(key, 0))
            if take > 0:
                mine[key] -= take
                mine[replace(key, granted=True)] += take
        moved[member] = +mine
    return moved


def merge(*usages: Mapping[str, Counter]) -> dict[str, Counter]:
    merged: dict[str, Counter] = {}
    for usage in usages:
        for member, counter in usage.items():
            merged.setdefault(member, Counter()).update(counter)
    return merged


# --- observation -------------------------------------------------------------------------

# A node tpuctl has written node.created for may not be listed yet: its create call can be
# under way. Only after this long unseen is it taken as never made.
CREATE_GRACE = timedelta(minutes=15)
_STOP_KIND = {"STOPPED": NODE_STOPPED, "PREEMPTED": NODE_PREEMPTED, "TERMINATED": NODE_DELETED,
              "DELETING": NODE_DELETED}


def node_info_payload(info: NodeInfo, state: NodeState | None = None, source: str = "observed") -> dict:
    """The node.* payload for a node as the API lists it (what the ledger knows fills gaps)."""
    try:
        chips = info.chip_count
    except UsageError:
        chips = state.spec.chips if state else 0
    owner = info.owner or (state.spec.owner if state else UNATTRIBUTED)
    return node_payload(zone=info.zone, node=info.name, accelerator_type=info.accelerator_type, chips=chips,
                        spot=info.spot, owner=owner, lease_until=info.lease_until,
                        request_id=info.labels.get(REQUEST_LABEL), create_time=info.create_time, source=source)


def info_subject(info: NodeInfo) -> str:
    """The incarnation a listed node is (its tpuctl-request label, else its createTime)."""
    return node_subject(node_info_payload(info))


def _from_spec(spec: NodeSpec) -> dict:
    return node_payload(zone=spec.zone, node=spec.node, accelerator_type=spec.accelerator_type, chips=spec.chips,
                        spot=spec.spot, owner=spec.owner, lease_until=spec.lease_until,
                        request_id=spec.request_id, create_time=spec.create_time, source="observed")


def _observations(actor: str, now: datetime) -> tuple[list[Event], Callable[..., None]]:
    """The events a sync records as it compares, and how it adds one (at a time it knows, or now)."""
    events: list[Event] = []

    def emit(kind: str, payload: dict, at: datetime = now) -> None:
        events.append(new_event(kind, actor, payload, now, time=at))

    return events, emit


def _pair_up(listed: Iterable[Any], known: Iterable[Any], subject_of: Callable[[Any], str]) -> tuple[list, list]:
    """Each listed thing with the ledger's record of it (None: one the ledger never saw), and the
    records of what the API no longer lists."""
    by_subject = {record.subject: record for record in known}
    subjects = [(info, subject_of(info)) for info in listed]
    seen = {subject for _, subject in subjects}
    return ([(info, by_subject.get(subject)) for info, subject in subjects],
            [record for subject, record in by_subject.items() if subject not in seen])


def observe(nodes: Iterable[NodeInfo], known: Iterable[NodeState], now: datetime, actor: str,
            unreachable_zones: Collection[str] = (), create_grace: timedelta = CREATE_GRACE) -> list[Event]:
    """The node.* events (source "observed") that bring the ledger in line with what the API
    lists now. `known` holds every open incarnation and any closed one the API still lists.

    Clocks differ (the API's createTime, this machine, another member's), so an observation is
    never dated after `now`, nor before what the ledger already holds for that incarnation (see
    `_not_before`): a deletion sorted before its node's start would reopen it, to be "deleted"
    again at every sync.
    """
    events, emit = _observations(actor, now)
    pairs, unlisted = _pair_up(nodes, known, info_subject)
    for info, state in pairs:
        payload = node_info_payload(info, state)
        accrues, stop_kind = info.state in ACCRUING_STATES, _STOP_KIND.get(info.state)
        if state is None:
            if info.state not in TERMINAL_STATES:      # a node tpuctl never saw
                born = min(info.create_time or now, now)
                emit(NODE_CREATED, payload, born)
                if accrues:
                    emit(NODE_READY, payload, born)
            continue
        after = _not_before(state, now)
        if state.closed:
            if accrues:
                emit(NODE_STARTED, payload, after)
        elif accrues and not state.accruing:
            if state.status == "created":               # its creator never wrote node.ready
                emit(NODE_READY, payload, min(max(info.create_time or now, state.first_seen), after))
            else:
                emit(NODE_STARTED, payload, after)
        elif stop_kind and STOP_STATUS[stop_kind] != state.status:
            emit(stop_kind, payload, after)
    for state in unlisted:
        if state.closed or state.spec.zone in unreachable_zones:
            continue
        if state.status == "created" and now - state.first_seen < create_grace:
            continue
        emit(NODE_DELETED, _from_spec(state.spec), _not_before(state, now))
    return events


CLOCK_DRIFT = timedelta(minutes=10)     # how far ahead another member's clock may plausibly run


def _not_before(state: NodeState, now: datetime) -> datetime:
    """When an observation of this incarnation is dated: not before its last event, which a member
    whose clock runs ahead may have written a little "later" than now; but a last event further
    ahead than clocks drift is an absurd (or forged) time, and following it would let a member
    stop the billing of a running TPU by writing its deletion in the far future."""
    last = state.last[0]
    return last if now < last <= now + CLOCK_DRIFT else now


_QUEUED_END = {"ACTIVE": QUEUED_PROVISIONED, "DELETING": QUEUED_DELETED, **dict.fromkeys(HOLDING_STATES, QUEUED_FAILED)}
# Rounded up so that a lease of whole minutes gives back all its seconds (20 min -> 1200 s, not 1199).
_HOURS = Context(rounding=ROUND_CEILING)


def queued_info_payload(info: QueuedInfo, request: QueuedRequest | None = None, source: str = "observed") -> dict:
    """The queued.* payload for a queued resource as the API lists it."""
    try:
        chips = parse_accelerator_type(info.accelerator_type).chips * max(1, len(info.node_ids))
    except UsageError:
        chips = request.chips if request else 0
    minutes = info.labels.get(LEASE_MINUTES_LABEL, "")
    lease_hours = _HOURS.divide(Decimal(minutes), 60) if minutes.isdigit() else (request.lease_hours if request else 0)
    return queued_payload(zone=info.zone, name=info.name, node=info.node_ids[0] if info.node_ids else info.name,
                          accelerator_type=info.accelerator_type, chips=chips, spot=info.spot,
                          owner=info.owner or (request.owner if request else UNATTRIBUTED), lease_hours=lease_hours,
                          request_id=info.labels.get(REQUEST_LABEL), source=source)


def queued_info_subject(info: QueuedInfo) -> str:
    """The ledger request a listed queued resource is (its tpuctl-request label, if any)."""
    return queued_subject({"zone": info.zone, "name": info.name, "request_id": info.labels.get(REQUEST_LABEL)})


def _from_request(request: QueuedRequest) -> dict:
    return queued_payload(zone=request.zone, name=request.name, node=request.node,
                          accelerator_type=request.accelerator_type, chips=request.chips, spot=request.spot,
                          owner=request.owner, lease_hours=request.lease_hours, request_id=request.request_id,
                          source="observed")


def observe_queued(listed: Iterable[QueuedInfo], known: Iterable[QueuedRequest], now: datetime, actor: str,
                   unreachable_zones: Collection[str] = (), create_grace: timedelta = CREATE_GRACE) -> list[Event]:
    """The queued.* events (source "observed") that bring the ledger in line with what the API
    lists now: requests made with gcloud, and waits that ended without tpuctl. `known` holds
    every waiting request and any other the API still lists. Only a waiting request changes:
    its first end (provisioned, failed, deleted) is final.
    """
    events, emit = _observations(actor, now)
    pairs, unlisted = _pair_up(listed, known, queued_info_subject)
    for info, request in pairs:
        if request is not None and not request.waiting:
            continue
        payload, end_kind = queued_info_payload(info, request), _QUEUED_END.get(info.state)
        if request is None:                              # a request tpuctl never saw
            emit(QUEUED_CREATED, payload, info.create_time or now)
        if end_kind:
            emit(end_kind, payload)
    for request in unlisted:
        if not request.waiting or request.zone in unreachable_zones:
            continue
        if request.since is not None and now - request.since < create_grace:
            continue
        emit(QUEUED_DELETED, _from_request(request))
    return events
