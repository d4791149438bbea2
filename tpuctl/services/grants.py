"""The TRC grant: record it (treasurers), show it, and price by it.

Spend, admission and reports all ask this module which usage the grant makes free
(tpuctl/domain/grants.py has the rule), so a TPU inside the grant costs nothing in every
one of them while the grant lasts and list price after it ends.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable, Mapping

from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import GroupStore
from tpuctl.domain.budgets import GroupRules, UsageRequest
from tpuctl.domain.clock import Clock
from tpuctl.domain.event_schema import MAX_CHIPS
from tpuctl.domain.events import GRANT_ENDED, GRANT_SET, Event
from tpuctl.domain.grants import Grant, GrantFit, allocate, covered_seconds, current, fit
from tpuctl.domain.intervals import NodeState, UsageInterval
from tpuctl.domain.metering import PriceKey, merge, month_bounds, running_usage, with_grant
from tpuctl.domain.nodes import check_zone
from tpuctl.domain.prices import GENERATIONS, Pricing
from tpuctl.domain.times import format_time, parse_time
from tpuctl.errors import UsageError

MODEL_WORDS = {"spot": "spot", "on-demand": "on_demand", "on_demand": "on_demand"}


# --- recording --------------------------------------------------------------------------------

def _generation(text: str) -> str:
    if text not in GENERATIONS:
        raise UsageError(f"--type '{text}' is not a TPU generation; a grant gives chips of one generation "
                         f"({', '.join(GENERATIONS)}).")
    return text


def _model(text: str) -> str:
    if text not in MODEL_WORDS:
        raise UsageError(f"--model '{text}' is not spot or on-demand.")
    return MODEL_WORDS[text]


def _when(text: str, flag: str, end_of_day: bool) -> datetime:
    """A date (through that day, UTC, for --until) or a full time."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        try:
            return parse_time(text)
        except ValueError:
            raise UsageError(f"{flag} '{text}' is not a date like 2026-12-30 or a time like "
                             "2026-12-30T12:00:00Z.") from None
    return datetime.combine(day, time(), timezone.utc) + (timedelta(days=1) if end_of_day else timedelta(0))


def add_grant(store: GroupStore, db: LedgerDB, clock: Clock, actor: str, *, zone: str, tpu_type: str, chips: int,
              model: str, until: str, start: str | None = None, note: str | None = None) -> Event:
    """`grant add`: from `start` (default now) through the day `until`. A later grant for the
    same zone, generation and model replaces it from its start on (an extension, a new count)."""
    from tpuctl.services.group import record_decision

    now = clock.now()
    if not 1 <= chips <= MAX_CHIPS:
        raise UsageError(f"--chips {chips} is not a number of chips from 1 to {MAX_CHIPS}.")
    begins = _when(start, "--from", False) if start else now
    ends = _when(until, "--until", True)
    if ends <= max(begins, now):
        raise UsageError(f"--until {until} has passed: a grant must end in the future.")
    payload = {"zone": check_zone(zone, "--zone"), "generation": _generation(tpu_type), "model": _model(model),
               "chips": chips, "start": format_time(begins), "until": format_time(ends)}
    if note:
        payload["note"] = note
    return record_decision(store, db, clock, actor, GRANT_SET, payload)


def end_grant(store: GroupStore, db: LedgerDB, clock: Clock, actor: str, *, zone: str, tpu_type: str,
              model: str) -> Event:
    """`grant end`: the grant stops now; what ran inside it so far stays free."""
    from tpuctl.services.group import record_decision

    payload = {"zone": check_zone(zone, "--zone"), "generation": _generation(tpu_type), "model": _model(model)}
    return record_decision(store, db, clock, actor, GRANT_ENDED, payload)


# --- showing ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class GrantRow:
    grant: Grant
    running_chips: int          # chips of its zone, generation and model that run now (some may be paid)
    free_chips: int             # of the grant's chips, not held by a TPU running or being created
    days_left: int
    status: str                 # active | ended | starts

    @property
    def in_use_chips(self) -> int:
        """Of the grant's chips, those running TPUs hold (the rest of what runs is paid)."""
        return min(self.running_chips, self.grant.chips)


def holders(states: Iterable[NodeState]) -> list[NodeState]:
    """TPUs that hold chips now: running, or being created (they will run)."""
    return [s for s in states if not s.closed and s.status in ("created", "ready")]


def grant_rows(db: LedgerDB, clock: Clock) -> list[GrantRow]:
    now = clock.now()
    held = holders(db.open_nodes())
    rows = []
    for grant in current(db.rules().trc_grants, now):
        mine = [s for s in held if grant.covers(s.spec.zone, s.spec.generation, s.spec.spot)]
        running = sum(s.spec.chips for s in mine if s.accruing)
        status = "active" if grant.active(now) else "ended" if grant.until <= now else "starts"
        free = max(0, grant.chips - sum(s.spec.chips for s in mine)) if status == "active" else 0
        rows.append(GrantRow(grant, running, free, grant.days_left(now), status))
    return rows


# --- pricing by the grant ---------------------------------------------------------------------

def _open_intervals(states: Iterable[NodeState], now: datetime) -> list[UsageInterval]:
    return [i for s in states if (i := s.open_interval(now)) is not None]


def covered_pieces(db: LedgerDB, rules: GroupRules, start: datetime, end: datetime,
                   now: datetime) -> list[UsageInterval]:
    """The usage in [start, min(end, now)) that the group's grants make free, as intervals
    whose chips are the chips covered. No grant, no query."""
    until = min(end, now.replace(microsecond=0))
    grants = [g for g in rules.trc_grants if g.start < until and g.until > start]
    if not grants:
        return []
    intervals: dict[tuple, UsageInterval] = {}
    for grant in grants:
        lo, hi = max(grant.start, start), min(grant.until, until)
        for interval in db.intervals_of_kind(grant.zone, grant.generation, grant.spot, lo, hi):
            intervals[(interval.subject, interval.seq)] = interval
    for interval in _open_intervals(db.open_nodes(), until):
        intervals[(interval.subject, interval.seq)] = interval
    return allocate(intervals.values(), grants, start, until)


def by_member(pieces: Iterable[UsageInterval]) -> dict[str, Counter]:
    """Covered chip-seconds per member and pricing key."""
    found: dict[str, Counter] = {}
    for piece in pieces:
        found.setdefault(piece.member, Counter())[PriceKey.of(piece.spec)] += piece.chip_seconds
    return found


def by_subject(pieces: Iterable[UsageInterval]) -> Counter:
    found: Counter = Counter()
    for piece in pieces:
        found[piece.subject] += piece.chip_seconds
    return found


def _shares_now(grants: list[Grant], states: list[NodeState], now: datetime) -> dict[str, int]:
    """Chips of the running grant each TPU holding chips gets now, first come first served."""
    shares: dict[str, int] = {}
    for grant in grants:
        if not grant.active(now):
            continue
        left = grant.chips
        mine = [s for s in states if grant.covers(s.spec.zone, s.spec.generation, s.spec.spot)]
        for state in sorted(mine, key=lambda s: (s.accruing_since or s.first_seen, s.subject)):
            take = min(left, state.spec.chips)
            left -= take
            shares[state.subject] = take
    return shares


def committed_cover(rules: GroupRules, states: Iterable[NodeState], now: datetime) -> dict[str, Counter]:
    """Of what running TPUs will use until their lease ends, the part the grant makes free:
    the chips each holds in it now, until the lease or the grant ends."""
    grants, held = list(rules.trc_grants), holders(states)
    found: dict[str, Counter] = {}
    if not grants:
        return found
    shares = _shares_now(grants, held, now)
    for state in held:
        take, lease = shares.get(state.subject, 0), state.spec.lease_until
        grant = next((g for g in grants if g.active(now) and g.covers(state.spec.zone, state.spec.generation,
                                                                        state.spec.spot)), None)
        if take and lease is not None and lease > now and grant is not None:
            seconds = int((min(lease, grant.until) - now).total_seconds())
            found.setdefault(state.spec.owner, Counter())[PriceKey.of(state.spec)] += take * max(0, seconds)
    return found


def request_fit(rules: GroupRules, pricing: Pricing, request: UsageRequest, states: Iterable[NodeState],
                now: datetime) -> tuple[GrantFit, Counter]:
    """How much of the request the grant makes free now, and its usage split into the paid
    and the free part."""
    rate = request.key.rate(pricing)
    held = [(s.spec.zone, s.spec.generation, s.spec.spot, s.spec.chips) for s in holders(states)
            if not (request.request_id and s.spec.request_id == request.request_id)]    # `extend`: not itself
    grant_fit = fit(rules.trc_grants, request.zone, request.generation, request.spot, request.chips, rate, held, now)
    seconds = request.chip_seconds // request.chips if request.chips else 0
    free = min(request.chip_seconds, covered_seconds(grant_fit, now, seconds))
    usage = Counter({request.key: request.chip_seconds - free})
    if free:
        usage[replace(request.key, granted=True)] = free
    return grant_fit, +usage


def show(ctx) -> list[GrantRow]:
    """`tpuctl grant show`: each grant, read from the ledger as it is in the store now."""
    from tpuctl.services.sync import sync_from_store

    sync_from_store(ctx.store, ctx.ledger)
    return grant_rows(ctx.ledger, ctx.clock)


def add(ctx, **grant) -> Event:
    """`tpuctl grant add` as the session's member."""
    return add_grant(ctx.store, ctx.ledger, ctx.clock, ctx.profile.member, **grant)


def end(ctx, **grant) -> Event:
    """`tpuctl grant end` as the session's member."""
    return end_grant(ctx.store, ctx.ledger, ctx.clock, ctx.profile.member, **grant)


def month_with_grant(db: LedgerDB, rules: GroupRules, month: str, now: datetime, committed: Mapping[str, Counter],
                     states: list[NodeState]) -> tuple[dict, dict]:
    """A month's spent usage (closed, plus the open `states` up to now) and `committed` usage,
    with what the grant covers moved to free keys."""
    spent = merge(db.month_usage(month), running_usage(states, month, now))
    if not rules.trc_grants:
        return dict(spent), dict(committed)
    start, end = month_bounds(month)
    covered = by_member(covered_pieces(db, rules, start, end, now))
    return with_grant(spent, covered), with_grant(committed, committed_cover(rules, states, now) if now < end else {})
