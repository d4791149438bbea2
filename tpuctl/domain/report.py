"""The treasurer's report: a period's usage priced once, broken down one way, with the
budgets, the spot share, free chip-hours, a forecast, and (for a closed month) the bill.

Pure: the service gathers chip-seconds per (member, pricing key, bucket) from the ledger's
view; this module prices each distinct key once and sums, so a report over a million events
costs a few hundred multiplications. Its CSV form is one stable schema (`CSV_COLUMNS`) that
`parse_report_csv` reads back into the same figures.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Iterable, Mapping

from tpuctl.domain.events import UNATTRIBUTED
from tpuctl.domain.metering import MONEY_QUANTUM, SECONDS_PER_HOUR, PriceKey, cost
from tpuctl.domain.prices import Pricing, is_free
from tpuctl.domain.settlement import Closing
from tpuctl.errors import UsageError

BY = ("member", "type", "zone", "day", "job")
NO_JOB = "-"
CSV_COLUMNS = ("period_start", "period_end", "by", "key", "chip_hours", "spot_chip_hours", "free_chip_hours",
               "estimate", "spot_estimate", "budget", "actual", "forecast", "currency")
TOP_JOBS = 10


def chip_hours(chip_seconds: int) -> Decimal:
    return (Decimal(chip_seconds) / SECONDS_PER_HOUR).quantize(MONEY_QUANTUM, ROUND_HALF_EVEN)


def _in_hours(seconds: str) -> property:
    """A chip-seconds figure of a line, shown (and written to the CSV) in chip-hours."""
    return property(lambda line: chip_hours(getattr(line, seconds)), doc=f"`{seconds}` in chip-hours.")


@dataclass(frozen=True)
class Line:
    """One row of a breakdown (a member, type, zone, day or job), or the total."""

    key: str
    chip_seconds: int = 0
    spot_chip_seconds: int = 0
    free_chip_seconds: int = 0
    estimate: Decimal = Decimal(0)            # metered usage at the group's prices, to the millionth
    spot_estimate: Decimal = Decimal(0)
    budget: Decimal | None = None             # money allowance (members) or the group's budget (total)
    actual: Decimal | None = None             # from the real bill, once the month is closed
    forecast: Decimal | None = None           # month-end, at the rate so far

    chip_hours = _in_hours("chip_seconds")
    spot_chip_hours = _in_hours("spot_chip_seconds")
    free_chip_hours = _in_hours("free_chip_seconds")

    @property
    def used(self) -> Decimal | None:
        """Share of the budget spent (1 = all of it), or None without a budget."""
        if not self.budget:
            return None
        return (self.actual if self.actual is not None else self.estimate) / self.budget

    def plus(self, other: Line) -> Line:
        return replace(self, chip_seconds=self.chip_seconds + other.chip_seconds,
                       spot_chip_seconds=self.spot_chip_seconds + other.spot_chip_seconds,
                       free_chip_seconds=self.free_chip_seconds + other.free_chip_seconds,
                       estimate=self.estimate + other.estimate, spot_estimate=self.spot_estimate + other.spot_estimate)


@dataclass(frozen=True)
class JobSpend:
    job: str
    member: str
    chip_seconds: int
    estimate: Decimal


@dataclass(frozen=True)
class Preemption:
    node: str
    zone: str
    member: str
    time: datetime
    chip_seconds: int          # the run the preemption cut short
    estimate: Decimal


@dataclass(frozen=True)
class Ended:
    """A TPU someone other than its owner deleted (the reaper, a treasurer), and why."""

    node: str
    zone: str
    member: str
    time: datetime
    by: str
    reason: str


@dataclass(frozen=True)
class Report:
    start: datetime
    end: datetime
    month: str | None             # set when the period is one whole month
    by: str
    currency: str
    as_of: datetime
    lines: tuple[Line, ...]
    total: Line
    unattributed: Line
    top_jobs: tuple[JobSpend, ...] = ()
    preemptions: tuple[Preemption, ...] = ()
    ended: tuple[Ended, ...] = ()
    closed: Closing | None = None
    rule: str = "chip_hours"

    @property
    def last_day(self) -> str:
        """The period's last day (its end is the midnight after it)."""
        return f"{self.end - timedelta(days=1):%Y-%m-%d}"

    @property
    def period(self) -> str:
        return self.month or f"{self.start:%Y-%m-%d} to {self.last_day}"


Usage = Mapping[tuple[str, PriceKey, str | None], int]     # (member, pricing key, day or job) -> chip-seconds


def _key(by: str, member: str, key: PriceKey, bucket: str | None) -> str:
    return {"member": member, "type": key.accelerator_type, "zone": key.zone}.get(by) or bucket or NO_JOB


def _order(by: str, lines: Iterable[Line]) -> tuple[Line, ...]:
    if by in ("day", "member"):       # days in order; members by name, unattributed last
        return tuple(sorted(lines, key=lambda line: (line.key == UNATTRIBUTED, line.key)))
    return tuple(sorted(lines, key=lambda line: (-line.estimate, line.key)))


def forecast(value: Decimal, start: datetime, end: datetime, now: datetime) -> Decimal | None:
    """The period's end at the rate so far: None before it starts, the figure itself after."""
    if now <= start:
        return None
    if now >= end:
        return value
    return (value * Decimal((end - start).total_seconds()) / Decimal((now - start).total_seconds())).quantize(
        MONEY_QUANTUM, ROUND_HALF_EVEN)


def build_report(usage: Usage, pricing: Pricing, *, by: str, start: datetime, end: datetime, now: datetime,
                 month: str | None = None, budgets: Mapping[str, Decimal] | None = None,
                 group_budget: Decimal | None = None, members: Iterable[str] = (), closed: Closing | None = None,
                 top_jobs: tuple[JobSpend, ...] = (), preemptions: tuple[Preemption, ...] = (),
                 ended: tuple[Ended, ...] = (), rule: str = "chip_hours") -> Report:
    """Price `usage` once per key and break it down `by` one of BY."""
    if by not in BY:
        raise UsageError(f"'{by}' is not a way to break a report down ({', '.join(BY)}).")
    priced: dict[PriceKey, tuple[Decimal, bool]] = {}     # rate and free, once per key
    sums: dict[str, list] = {name: [0, 0, 0, Decimal(0), Decimal(0)] for name in members} if by == "member" else {}
    shared = [0, 0, 0, Decimal(0), Decimal(0)]
    for (member, key, bucket), chip_seconds in sorted(usage.items(), key=lambda item: (item[0][0], item[0][1],
                                                                                       item[0][2] or "")):
        if not chip_seconds:
            continue
        if key not in priced:
            priced[key] = (key.rate(pricing), key.granted or is_free(key.generation, key.zone, key.spot,
                                                                      pricing.overrides, key.accelerator_type))
        rate, free = priced[key]
        money = cost(chip_seconds, rate)
        part = (chip_seconds, chip_seconds if key.spot else 0, chip_seconds if free else 0, money,
                money if key.spot else Decimal(0))
        targets = [sums.setdefault(_key(by, member, key, bucket), [0, 0, 0, Decimal(0), Decimal(0)])]
        if member == UNATTRIBUTED:
            targets.append(shared)
        for target in targets:
            for n, value in enumerate(part):
                target[n] += value
    lines = {name: Line(name, *figures) for name, figures in sums.items()}
    unattributed = Line(UNATTRIBUTED, *shared)
    budgets, actual = budgets or {}, (closed.members if closed else {})
    done = []
    for line in lines.values():
        if by == "member":
            line = replace(line, budget=budgets.get(line.key), forecast=forecast(line.estimate, start, end, now),
                           actual=actual.get(line.key, Decimal(0)) if closed else None)
        done.append(line)
    total = Line("total")
    for line in done:
        total = total.plus(line)
    total = replace(total, budget=group_budget, actual=closed.actual if closed else None,
                    forecast=forecast(total.estimate, start, end, now))
    return Report(start, end, month, by, pricing.currency, now, _order(by, done), total, unattributed,
                  top_jobs, preemptions, ended, closed, rule)


def top_jobs(node_usage: Mapping[tuple[str, str, PriceKey], int], pricing: Pricing, job_of: Mapping[str, str],
             limit: int = TOP_JOBS) -> tuple[JobSpend, ...]:
    """The jobs whose TPUs cost most: `node_usage` is chip-seconds per (member, node, key)."""
    jobs: dict[tuple[str, str], list] = {}
    for (member, node, key), chip_seconds in node_usage.items():
        job = job_of.get(node)
        if job is None or not chip_seconds:
            continue
        rate = key.rate(pricing)
        entry = jobs.setdefault((job, member), [0, Decimal(0)])
        entry[0] += chip_seconds
        entry[1] += cost(chip_seconds, rate)
    ranked = sorted(jobs.items(), key=lambda item: (-item[1][1], item[0]))
    return tuple(JobSpend(job, member, seconds, money) for (job, member), (seconds, money) in ranked[:limit])


def summary(r: Report) -> str:
    """The report in one line, for a chat message: spend against the group's budget, the
    forecast, chip-hours and the free ones, the biggest spenders, and who is near their allowance."""
    from tpuctl.domain.budgets import format_amount

    def money(value: Decimal) -> str:
        return format_amount(value, "money", r.currency)

    t = r.total
    spent = t.actual if t.actual is not None else t.estimate
    text = f"TPU spend {r.period}: {money(spent)}"
    if t.budget:
        text += f" of the group's {money(t.budget)} ({(spent / t.budget * 100).quantize(Decimal(1))}%)"
    if t.forecast is not None and r.as_of < r.end:
        text += f", heading for {money(t.forecast)}"
    text += f"; {t.chip_hours.quantize(Decimal('0.01'))} chip-hours, {t.free_chip_hours.quantize(Decimal('0.01'))} free"
    top = [line for line in sorted(r.lines, key=lambda line: (-line.estimate, line.key)) if line.estimate][:3]
    if top:
        text += f"; most by {r.by}: " + ", ".join(f"{line.key} {money(line.estimate)}" for line in top)
    near = [line for line in r.lines if line.used is not None and line.used >= Decimal("0.9")]
    if r.by == "member" and near:
        text += "; at 90% or more of their allowance: " + ", ".join(
            f"{line.key} ({(line.used * 100).quantize(Decimal(1))}%)" for line in near)
    return text + "."


# --- CSV: one stable schema, read back into the same figures ------------------------------------

def _text(value: Decimal | None) -> str:
    return "" if value is None else str(value.quantize(MONEY_QUANTUM))


def csv_rows(report: Report) -> list[dict[str, str]]:
    rows = []
    for line, by in [*((line, report.by) for line in report.lines), (report.total, "total")]:
        rows.append({"period_start": f"{report.start:%Y-%m-%d}", "period_end": report.last_day, "by": by,
                     "key": line.key, "chip_hours": _text(line.chip_hours),
                     "spot_chip_hours": _text(line.spot_chip_hours), "free_chip_hours": _text(line.free_chip_hours),
                     "estimate": _text(line.estimate), "spot_estimate": _text(line.spot_estimate),
                     "budget": _text(line.budget), "actual": _text(line.actual), "forecast": _text(line.forecast),
                     "currency": report.currency})
    return rows


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(report))
    return out.getvalue()


def parse_report_csv(text: str) -> tuple[list[Line], Line]:
    """A report's CSV back into its lines and its total (ValueError if it is not one)."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or tuple(rows[0]) != CSV_COLUMNS:
        raise ValueError("not a tpuctl report CSV")

    def number(value: str) -> Decimal | None:
        try:
            return Decimal(value) if value else None
        except InvalidOperation:
            raise ValueError(f"'{value}' is not a number") from None

    def seconds(value: str) -> int:
        return int((Decimal(value) * SECONDS_PER_HOUR).to_integral_value())

    lines = [Line(row["key"], seconds(row["chip_hours"]), seconds(row["spot_chip_hours"]),
                  seconds(row["free_chip_hours"]), number(row["estimate"]), number(row["spot_estimate"]),
                  number(row["budget"]), number(row["actual"]), number(row["forecast"])) for row in rows]
    totals = [line for line, row in zip(lines, rows) if row["by"] == "total"]
    if len(totals) != 1:
        raise ValueError("a report CSV has one total row")
    return [line for line, row in zip(lines, rows) if row["by"] != "total"], totals[0]


def usage_counter(items: Iterable[tuple[str, PriceKey, str | None, int]]) -> Counter:
    counter: Counter = Counter()
    for member, key, bucket, chip_seconds in items:
        counter[(member, key, bucket)] += chip_seconds
    return counter
