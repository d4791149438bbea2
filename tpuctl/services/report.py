"""`tpuctl report`: gather a period's usage from the ledger's view and build the treasurer's
report (tpuctl/domain/report.py), and the pot's balances and journal (domain/settlement.py).

A whole month broken down by member, type or zone reads the pre-summed `usage_month` table;
by day or job, SQLite sums the month's intervals (tpuctl/adapters/report_db.py); a period of
days reads its intervals. Running TPUs count up to now. What the group's TRC grant covers is
moved to free pricing keys (tpuctl/services/grants.py).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from functools import lru_cache
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Iterator

from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.report_db import day_usage, deletions_by_others, job_usage
from tpuctl.adapters.store import GroupStore
from tpuctl.domain.clock import Clock
from tpuctl.domain.events import NODE_PREEMPTED, UNATTRIBUTED
from tpuctl.domain.intervals import UsageInterval, node_subject
from tpuctl.domain.jobs import INDEX_PREFIX, JOB_ID_RE
from tpuctl.domain.metering import PriceKey, check_month, cost, merge, month_bounds, month_of, running_usage
from tpuctl.domain.prices import PriceTable, pricing_for
from tpuctl.domain.times import parse_time
from tpuctl.domain.report import BY, Ended, Preemption, Report, build_report, top_jobs
from tpuctl.errors import UsageError
from tpuctl.services.grants import covered_pieces
from tpuctl.services.sync import sync_from_store

DAY = timedelta(days=1)


def period_of(now: datetime, month: str | None, first: date | None, last: date | None) -> tuple[datetime, datetime, str | None]:
    """[start, end) of a report and its month when it is one whole month."""
    if first is None and last is None:
        month = check_month(month) if month else month_of(now)
        return (*month_bounds(month), month)
    if month or first is None or last is None:
        raise UsageError("Give --month, or both --from and --to.")
    if last < first:
        raise UsageError(f"--to {last} is before --from {first}.")
    start = datetime.combine(first, time(), timezone.utc)
    end = datetime.combine(last, time(), timezone.utc) + DAY
    whole = month_bounds(month_of(start))
    return start, end, month_of(start) if (start, end) == whole else None


def _months(start: datetime, end: datetime) -> Iterator[str]:
    at = start
    while at < end:
        yield month_of(at)
        at = month_bounds(month_of(at))[1]


def days_of(interval: UsageInterval) -> Iterator[tuple[str, int]]:
    """An interval's chip-seconds per UTC day (counted directly: a month has thousands)."""
    chips = interval.spec.chips if interval.charged else 0
    at = interval.start
    while chips and at < interval.end:
        midnight = datetime.combine(at.date(), time(), timezone.utc) + DAY
        seconds = int((min(interval.end, midnight) - at).total_seconds())
        if seconds > 0:
            yield f"{at:%Y-%m-%d}", chips * seconds
        at = midnight


def job_ids(store: GroupStore | None) -> set[str]:
    """The group's jobs, from one listing of the job index (their names end the index keys)."""
    if store is None:
        return set()
    found = set()
    for key in store.list(INDEX_PREFIX):
        stem = key.rsplit("/", 1)[-1].removesuffix(".json")
        for start in range(len(stem)):
            if JOB_ID_RE.match(stem[start:]) and (start == 0 or stem[start - 1] in "-_."):
                found.add(stem[start:])
                break
    return found


def job_of(node: str, jobs: set[str]) -> str | None:
    """`tpuctl run` names a job's TPU after the job, `-2`, `-3`... after preemptions."""
    if node in jobs:
        return node
    head, _, tail = node.rpartition("-")
    return head if tail.isdigit() and head in jobs else None


def _intervals(db: LedgerDB, start: datetime, end: datetime, now: datetime) -> list[UsageInterval]:
    """Every interval's part inside [start, end), running ones up to now."""
    found = [part for month in _months(start, end) for i in db.intervals(month) if (part := i.clipped(start, end))]
    for state in db.open_nodes():
        running = state.open_interval(min(now, end))
        if running is not None and (part := running.clipped(start, end)):
            found.append(part)
    return found


@lru_cache(maxsize=4096)
def _price_key(zone: str, generation: str, accelerator_type: str, spot: bool) -> PriceKey:
    return PriceKey(zone, generation, accelerator_type, bool(spot))


def _running(db: LedgerDB, start: datetime, end: datetime, now: datetime) -> list[UsageInterval]:
    """The parts inside [start, end) of what runs now, up to now."""
    return [part for s in db.open_nodes() if (i := s.open_interval(min(now, end))) and (part := i.clipped(start, end))]


def _usage(db: LedgerDB, start: datetime, end: datetime, month: str | None, by: str, now: datetime,
           jobs: set[str]) -> Counter:
    """Chip-seconds per (member, pricing key, day or job). A whole month is summed by SQLite
    (per key, per node, or per day for intervals within a day); only intervals that cross
    midnight, running TPUs and periods of days are cut up in Python."""
    usage: Counter = Counter()
    if month and by in ("member", "type", "zone"):
        for member, counter in merge(db.month_usage(month), running_usage(db.open_nodes(), month, now)).items():
            for key, chip_seconds in counter.items():
                usage[(member, key, None)] += chip_seconds
        return usage
    if month and by == "day":
        for owner, zone, generation, accelerator_type, spot, day, chip_seconds in day_usage(db, month):
            usage[(owner, _price_key(zone, generation, accelerator_type, spot), day)] += chip_seconds
        intervals = _running(db, start, end, now)
    elif month and by == "job":
        for owner, zone, generation, accelerator_type, spot, job, chip_seconds in job_usage(db, month, jobs):
            usage[(owner, _price_key(zone, generation, accelerator_type, spot), job)] += chip_seconds
        intervals = _running(db, start, end, now)
    else:
        intervals = _intervals(db, start, end, now)
    for interval in intervals:
        key = PriceKey.of(interval.spec)
        if by == "day":
            for day, chip_seconds in days_of(interval):
                usage[(interval.member, key, day)] += chip_seconds
        else:
            bucket = job_of(interval.spec.node, jobs) if by == "job" else None
            usage[(interval.member, key, bucket)] += interval.chip_seconds
    return usage


def _job_usage(db: LedgerDB, start: datetime, end: datetime, month: str | None, now: datetime,
               jobs: set[str]) -> Counter:
    """Chip-seconds per (member, job, pricing key), for the top jobs."""
    usage: Counter = Counter()
    if not jobs:
        return usage
    if month:
        for owner, zone, generation, accelerator_type, spot, job, chip_seconds in job_usage(db, month, jobs):
            if job is not None:
                usage[(owner, job, _price_key(zone, generation, accelerator_type, spot))] += chip_seconds
        intervals = _running(db, start, end, now)
    else:
        intervals = _intervals(db, start, end, now)
    for interval in intervals:
        if (job := job_of(interval.spec.node, jobs)) is not None:
            usage[(interval.member, job, PriceKey.of(interval.spec))] += interval.chip_seconds
    return usage


def _buckets(piece: UsageInterval, by: str, jobs: set[str]) -> list[tuple[str | None, int]]:
    """A covered piece's chip-seconds in the buckets `_usage` keeps for this breakdown."""
    if by == "day":
        return list(days_of(piece))
    return [(job_of(piece.spec.node, jobs) if by == "job" else None, piece.chip_seconds)]


def _move_to_grant(usage: Counter, covered: list[tuple[tuple, tuple, int]]) -> None:
    """Move covered chip-seconds from their key in `usage` to the same key with a free, granted price."""
    for source, target, chip_seconds in covered:
        take = min(chip_seconds, usage.get(source, 0))
        if take > 0:
            usage[source] -= take
            usage[target] += take


def _granted(key: PriceKey) -> PriceKey:
    return replace(key, granted=True)


def _preemptions(db: LedgerDB, pricing, start: datetime, end: datetime) -> tuple[Preemption, ...]:
    found = []
    for event in db.events_between([NODE_PREEMPTED], start, end):
        p = event.payload
        run = db.interval_ending(node_subject(event.payload), event.time)
        chip_seconds = run.chip_seconds if run else 0
        rate = pricing.price_for(run.spec.generation, p["zone"], p["spot"], p["accelerator_type"]) if run else Decimal(0)
        found.append(Preemption(p["node"], p["zone"], p["owner"], event.time, chip_seconds, cost(chip_seconds, rate)))
    return tuple(sorted(found, key=lambda x: (x.time, x.node)))


def _ended(db: LedgerDB, start: datetime, end: datetime) -> tuple[Ended, ...]:
    """TPUs tpuctl deleted for someone other than their owner: the reaper's, a treasurer's."""
    found = []
    for event in deletions_by_others(db, start, end):
        p = event.payload
        if p.get("source") != "tpuctl" or event.actor == p["owner"]:
            continue
        lease = p.get("lease_until")
        if lease and event.time >= parse_time(lease):
            reason = f"its lease ended at {parse_time(lease):%Y-%m-%d %H:%M} UTC"
        elif p["owner"] == UNATTRIBUTED:
            reason = "nobody owned it"
        else:
            reason = f"deleted by {event.actor}"
        found.append(Ended(p["node"], p["zone"], p["owner"], event.time, event.actor, reason))
    return tuple(sorted(found, key=lambda x: (x.time, x.node)))


def month_report(db: LedgerDB, store: GroupStore | None, clock: Clock, table: PriceTable, *, month: str | None = None,
                 first: date | None = None, last: date | None = None, by: str = "member",
                 sync: bool = True) -> Report:
    """The treasurer's report for a month (default: this one) or for the days first..last."""
    if by not in BY:
        raise UsageError(f"'{by}' is not a way to break a report down ({', '.join(BY)}).")
    if sync and store is not None:
        sync_from_store(store, db)
    now = clock.now()
    start, end, whole = period_of(now, month, first, last)
    rules = db.rules()
    pricing = pricing_for(rules, table)
    jobs = job_ids(store)
    usage = _usage(db, start, end, whole, by, now, jobs)
    pieces = covered_pieces(db, rules, start, end, now) if rules.trc_grants else []
    _move_to_grant(usage, [((p.member, key, bucket), (p.member, _granted(key), bucket), chip_seconds) for p in pieces
                           for key in [PriceKey.of(p.spec)] for bucket, chip_seconds in _buckets(p, by, jobs)])
    members = sorted(rules.members | {member for member, _, _ in usage})
    budgets = {}
    if whole:
        budgets = {m: b.amount for m in members
                   if m != UNATTRIBUTED and (b := rules.budget_for(whole, m, "money")) is not None}
    group = rules.budget_for(whole, None, "money") if whole else None
    by_job = _job_usage(db, start, end, whole, now, jobs)
    _move_to_grant(by_job, [((p.member, job, key), (p.member, job, _granted(key)), p.chip_seconds)
                            for p in pieces if (job := job_of(p.spec.node, jobs)) for key in [PriceKey.of(p.spec)]])
    return build_report(
        usage, pricing, by=by, start=start, end=end, now=now, month=whole, budgets=budgets,
        group_budget=group.amount if group else None, members=members,
        closed=rules.closings.get(whole) if whole else None,
        top_jobs=top_jobs(by_job, pricing, {job: job for (_, job, _) in by_job}),
        preemptions=_preemptions(db, pricing, start, end), ended=_ended(db, start, end), rule=rules.settlement_rule)


def member_chip_hours(report: Report) -> dict[str, Decimal]:
    return {line.key: line.chip_hours for line in report.lines}


def spend_by_member(report: Report) -> dict[str, Decimal]:
    """Each member's month for the settlement: the bill's figures once closed, else the estimate."""
    if report.closed:
        return dict(report.closed.members)
    return {line.key: line.estimate for line in report.lines if line.estimate}
