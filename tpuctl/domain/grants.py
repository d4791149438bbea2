"""The group's TPU Research Cloud grant: so many chips of one generation, on demand or spot,
in one zone, free until a date. Cloud TPU's API does not say what is free, so the treasurer
records it (`tpuctl grant add`) and tpuctl prices by it.

Several grants may hold at once (one per zone, generation and model). A later `grant add`
for the same zone, generation and model wins from its start to its end, and `grant end`
stops it from that moment: replayed in recording order, every terminal gets the same periods.

Who gets the free chips when several TPUs share a grant: first come, first served by when
each TPU started running (the start of its usage interval; ties by name). At every moment
the earliest-started TPUs take the grant's chips until none are left; the rest is paid at
list price. A TPU may be partly inside (16 of its 32 chips free). When an earlier TPU stops,
the next ones move up. The same rule prices a request before anything is made: it gets the
grant's chips that the TPUs already there (running or being created) leave.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Iterable, Sequence

from tpuctl.domain.intervals import UsageInterval

MODELS = ("spot", "on_demand")
DAY = timedelta(days=1)
WARN_DAYS = (7, 1)          # everyone is told this many days before a grant ends


@dataclass(frozen=True)
class Grant:
    """One period of a grant: `chips` free chips in [start, until)."""

    zone: str
    generation: str
    model: str                  # "spot" | "on_demand"
    chips: int
    start: datetime
    until: datetime
    set_by: str = ""
    event_id: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.zone, self.generation, self.model)

    @property
    def spot(self) -> bool:
        return self.model == "spot"

    def covers(self, zone: str, generation: str, spot: bool) -> bool:
        return self.zone == zone and self.generation == generation and self.spot == spot

    def active(self, at: datetime) -> bool:
        return self.start <= at < self.until

    def days_left(self, now: datetime) -> int:
        """Whole days until it ends, counting a part day as one (0 once it has ended)."""
        return max(0, math.ceil((self.until - now) / DAY))

    def describe(self) -> str:
        """e.g. "32 spot v4 chips in us-central2-b"."""
        return f"{self.chips} {self.model.replace('_', '-')} {self.generation} chips in {self.zone}"


def _outside(period: Grant, lo: datetime, hi: datetime) -> list[Grant]:
    """What is left of `period` outside [lo, hi)."""
    parts = []
    if period.start < lo:
        parts.append(replace(period, until=min(period.until, lo)))
    if period.until > hi:
        parts.append(replace(period, start=max(period.start, hi)))
    return [p for p in parts if p.start < p.until]


class GrantBook:
    """The grant events' replay state (kept by budgets.group_rules with the other decisions)."""

    def __init__(self) -> None:
        self.periods: list[Grant] = []

    def set(self, grant: Grant) -> str | None:
        if grant.until <= grant.start:
            return "a grant must end after it starts"
        self.periods = [part for p in self.periods
                        for part in (_outside(p, grant.start, grant.until) if p.key == grant.key else [p])]
        self.periods.append(grant)
        return None

    def end(self, key: tuple[str, str, str], at: datetime) -> str | None:
        if not any(p.key == key and p.until > at for p in self.periods):
            return f"there is no grant for {key[2].replace('_', '-')} {key[1]} in {key[0]} running at {at:%Y-%m-%d %H:%M}"
        self.periods = [part for p in self.periods
                        for part in (_outside(p, at, datetime.max.replace(tzinfo=at.tzinfo)) if p.key == key else [p])]
        return None


def current(grants: Sequence[Grant], now: datetime) -> list[Grant]:
    """Per zone, generation and model: the period running now, else the next, else the last one."""
    by_key: dict[tuple, Grant] = {}
    for grant in sorted(grants, key=lambda g: g.start):
        held = by_key.get(grant.key)
        if held is None or not held.active(now) and (held.until <= now or grant.start < held.start):
            by_key[grant.key] = grant
    return sorted(by_key.values(), key=lambda g: g.key)


# --- who gets the free chips ---------------------------------------------------------------

def _order(interval: UsageInterval) -> tuple:
    return (interval.start, interval.subject, interval.seq)


def allocate(intervals: Iterable[UsageInterval], grants: Sequence[Grant], start: datetime,
             end: datetime) -> list[UsageInterval]:
    """The parts of `intervals` inside [start, end) that the grants make free, each as an
    interval whose spec carries the chips covered. `intervals` are whole (not cut at month
    ends), so first come first served compares when each TPU really started."""
    intervals = [i for i in intervals if i.charged and i.spec.chips > 0]
    pieces: list[UsageInterval] = []
    for grant in grants:
        lo, hi = max(grant.start, start), min(grant.until, end)
        if lo < hi:
            pieces += _serve(grant, [i for i in intervals if grant.covers(i.spec.zone, i.spec.generation, i.spec.spot)
                                     and i.start < hi and i.end > lo], lo, hi)
    return pieces


def _serve(grant: Grant, mine: list[UsageInterval], lo: datetime, hi: datetime) -> list[UsageInterval]:
    """One sweep over the seconds TPUs start and stop: between two of them, the TPUs running
    take the grant's chips in the order they started."""
    mine = sorted(mine, key=_order)                 # rank = place in the queue
    lo_s, hi_s = math.ceil(lo.timestamp()), math.floor(hi.timestamp())
    starts = sorted((max(int(i.start.timestamp()), lo_s), rank) for rank, i in enumerate(mine))
    ends = sorted((min(int(i.end.timestamp()), hi_s), rank) for rank, i in enumerate(mine))
    times = sorted({t for t, _ in starts} | {t for t, _ in ends})
    active: list[int] = []                          # ranks of the TPUs running, first come first
    held: dict[int, tuple[int, int]] = {}           # rank -> (since, chips) of its current piece
    found: list[tuple[int, int, int, int]] = []     # rank, from, to, chips
    s_at = e_at = 0
    for n, at in enumerate(times):
        while e_at < len(ends) and ends[e_at][0] == at:
            rank = ends[e_at][1]
            e_at += 1
            active.pop(bisect_left(active, rank))
            if rank in held:
                since, chips = held.pop(rank)
                found.append((rank, since, at, chips))
        while s_at < len(starts) and starts[s_at][0] == at:
            insort(active, starts[s_at][1])
            s_at += 1
        if n + 1 == len(times):
            break
        left, served = grant.chips, set()
        for rank in active:                         # the first come take the chips until none are left
            if left <= 0:
                break
            take = min(left, mine[rank].spec.chips)
            left -= take
            served.add(rank)
            since, chips = held.get(rank, (at, 0))
            if chips != take:
                if chips:
                    found.append((rank, since, at, chips))
                held[rank] = (at, take)
        for rank in [rank for rank in held if rank not in served]:     # moved out of the grant
            since, chips = held.pop(rank)
            found.append((rank, since, at, chips))
    return [_piece(mine[rank], _at(since), _at(until), chips) for rank, since, until, chips in found if until > since]


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def _piece(interval: UsageInterval, start: datetime, end: datetime, chips: int) -> UsageInterval:
    return replace(interval, spec=replace(interval.spec, chips=chips), start=start, end=end)


def holding_chips(grant: Grant, holders: Iterable[tuple[str, str, bool, int]]) -> int:
    """Chips of the grant's zone, generation and model that TPUs hold now
    (`holders`: zone, generation, spot, chips of each TPU running or being created)."""
    return sum(chips for zone, generation, spot, chips in holders if grant.covers(zone, generation, spot))


@dataclass(frozen=True)
class GrantFit:
    """How much of a request the grant makes free, told to the member before anything is made."""

    grant: Grant | None         # the grant of the request's zone, generation and model (None: none)
    chips: int                  # chips asked for
    free_chips: int             # of them inside the grant now
    paid_per_hour: Decimal      # what the chips outside cost per hour
    free_until: datetime | None   # when the free part starts costing (the grant's end)
    any_grant: bool = True      # the group has a grant running now (maybe for another zone or type)
    ended: bool = False         # the request's grant has ended

    def notice(self, money) -> str | None:
        """The sentence a member sees (None: the group has no grant to speak of); `money`
        formats an amount."""
        if self.grant is None and not self.any_grant:
            return None
        if self.paid_per_hour <= 0:
            if self.free_until is None:
                return None
            return f"Inside the group's TRC grant: free until {self.free_until:%Y-%m-%d %H:%M} UTC."
        if self.ended:
            return (f"Outside the group's TRC grant (it ended {self.grant.until:%Y-%m-%d %H:%M} UTC): "
                    f"{money(self.paid_per_hour)}/hour.")
        if 0 < self.free_chips < self.chips:
            return (f"{self.chips - self.free_chips} of its {self.chips} chips are outside the group's TRC grant: "
                    f"{money(self.paid_per_hour)}/hour ({self.free_chips} chips free until "
                    f"{self.free_until:%Y-%m-%d %H:%M} UTC).")
        return f"Outside the group's TRC grant: {money(self.paid_per_hour)}/hour."


def fit(grants: Sequence[Grant], zone: str, generation: str, spot: bool, chips: int, rate: Decimal,
        holders: Iterable[tuple[str, str, bool, int]], now: datetime) -> GrantFit:
    """How much of a request for `chips` chips at `rate` per chip-hour the grant running now
    covers: its chips minus those TPUs of the same zone, generation and model already hold."""
    holders = list(holders)
    model_grants = [g for g in grants if g.covers(zone, generation, spot)]
    running = next((g for g in model_grants if g.active(now)), None)
    any_grant = any(g.active(now) for g in grants)
    if running is None:
        last = max((g for g in model_grants if g.until <= now), key=lambda g: g.until, default=None)
        return GrantFit(last, chips, 0, rate * chips, None, any_grant, ended=last is not None)
    free = max(0, min(chips, running.chips - holding_chips(running, holders)))
    return GrantFit(running, chips, free, rate * (chips - free), running.until if free else None, any_grant)


def covered_seconds(grant_fit: GrantFit, now: datetime, seconds: int) -> int:
    """Chip-seconds of a request lasting `seconds` from now that the grant makes free."""
    if not grant_fit.free_chips or grant_fit.free_until is None:
        return 0
    inside = max(0, min(seconds, int((grant_fit.free_until - now).total_seconds())))
    return grant_fit.free_chips * inside


def warnings_due(grants: Sequence[Grant], now: datetime) -> list[tuple[Grant, int]]:
    """(grant, days) for each running grant within WARN_DAYS of its end: the nearest threshold."""
    due = []
    for grant in current(grants, now):
        if not grant.active(now):
            continue
        near = [days for days in WARN_DAYS if grant.until - now <= days * DAY]
        if near:
            due.append((grant, min(near)))
    return due


def warning_text(grant: Grant, now: datetime) -> str:
    left = grant.until - now
    when = f"in {grant.days_left(now)} day{'s' if grant.days_left(now) != 1 else ''}" if left > DAY else \
        f"in {max(1, int(left.total_seconds() // 3600))} hours"
    return (f"The group's TRC grant ({grant.describe()}) ends {when}, at {grant.until:%Y-%m-%d %H:%M} UTC; "
            "after that those TPUs cost list price.")
