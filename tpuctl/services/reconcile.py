"""`tpuctl report reconcile BILLING.csv`: the month's estimate against the real bill, the bill
spread over members to the cent, and (`--close`) the month's settled figures recorded."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Mapping
from zoneinfo import ZoneInfo

from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import GroupStore
from tpuctl.domain.clock import Clock
from tpuctl.domain.events import MONTH_CLOSED, MONTH_REOPENED
from tpuctl.domain.intervals import UsageInterval
from tpuctl.domain.metering import check_month, cost, month_bounds, month_of
from tpuctl.domain.prices import PriceTable, pricing_for
from tpuctl.domain.reconcile import Bill, Window, parse_bill, spread, window_of
from tpuctl.domain.settlement import to_cents
from tpuctl.errors import ConfigError, ConflictError, UsageError
from tpuctl.services.group import record_decision
from tpuctl.services.sync import sync_from_store
from tpuctl.services.report import _intervals, days_of

PACIFIC = ZoneInfo("America/Los_Angeles")


def invoice_window(month: str) -> tuple[datetime, datetime]:
    """The UTC instants an invoice month covers: its month in US Pacific time."""
    start, end = month_bounds(month)
    pacific = [datetime(t.year, t.month, 1, tzinfo=PACIFIC).astimezone(timezone.utc) for t in (start, end)]
    return pacific[0], pacific[1]


@dataclass(frozen=True)
class DayLine:
    day: str
    generation: str
    spot: bool
    zone: str | None
    metered_chip_hours: Decimal
    billed_chip_hours: Decimal
    estimate: Decimal
    actual: Decimal

    @property
    def gap(self) -> Decimal:
        return self.actual - self.estimate


@dataclass(frozen=True)
class Reconciliation:
    month: str
    invoice_month: str
    currency: str
    source: str
    lines: tuple[DayLine, ...]
    estimates: Mapping[str, Decimal]       # member -> metered estimate
    actuals: Mapping[str, Decimal]         # member -> their part of the bill, to the cent
    actual: Decimal
    credits: Decimal
    rows: int
    late_rows: int
    left_out: Mapping[str, int]
    closed: bool = False

    @property
    def estimate(self) -> Decimal:
        return sum(self.estimates.values(), Decimal(0))

    @property
    def gap(self) -> Decimal:
        return self.actual - to_cents(self.estimate)


def _metered(intervals: list[UsageInterval], windows: set[Window]) -> dict[Window, dict[str, int]]:
    """Chip-seconds each member metered in each billed window (by generation, spot, zone)."""
    by_key: dict[tuple, list[Window]] = {}
    for w in windows:
        by_key.setdefault((w[2], w[3], w[4]), []).append(w)
    for listed in by_key.values():
        listed.sort()
    found: dict[Window, dict[str, int]] = {}
    for interval in intervals:
        s = interval.spec
        for key in ((s.generation, s.spot, s.zone), (s.generation, s.spot, None)):
            listed = by_key.get(key, [])
            for w in listed[max(0, bisect_right(listed, (interval.start,)) - 1):]:
                if w[0] >= interval.end:
                    break
                part = interval.clipped(w[0], w[1])
                if part is not None and part.chip_seconds:
                    per = found.setdefault(w, {})
                    per[interval.member] = per.get(interval.member, 0) + part.chip_seconds
    return found


def reconcile(db: LedgerDB, store: GroupStore, clock: Clock, table: PriceTable, project: str, path: Path,
              month: str | None = None) -> Reconciliation:
    """Set the bill in `path` against the ledger for `month` (default: last month)."""
    sync_from_store(store, db)
    rules = db.rules()
    pricing = pricing_for(rules, table)
    now = clock.now()
    month = check_month(month) if month else month_of(month_bounds(month_of(now))[0] - timedelta(seconds=1))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} cannot be read ({getattr(exc, 'strerror', None) or exc}).") from None
    start, end = invoice_window(month)
    bill = parse_bill(text, path.name, invoice_month=month.replace("-", ""), currency=pricing.currency,
                      project=project, window_start=start)
    late = sorted({window_of(r) for r in bill.rows if r.late})
    lo = min([start, *(w[0] for w in late)])
    intervals = _intervals(db, lo, end, now)
    metered = _metered(intervals, {window_of(r) for r in bill.rows})
    actuals = spread(bill, metered)
    lines, estimates = _day_lines(bill, intervals, metered, late, start, end, pricing)
    return Reconciliation(month, bill.invoice_month, bill.currency, path.name, lines, estimates, actuals, bill.actual,
                          bill.credits, len(bill.rows), len(late), bill.left_out)


def _day_lines(bill: Bill, intervals: list[UsageInterval], metered, late: list[Window], start: datetime,
               end: datetime, pricing) -> tuple[tuple[DayLine, ...], dict[str, Decimal]]:
    """Estimate against actual per UTC day, generation, spot and zone; and each member's estimate."""
    table: dict[tuple, list[Decimal]] = {}
    estimates: dict[str, Decimal] = {}

    def add(day: str, generation: str, spot: bool, zone: str | None, i: int, value: Decimal) -> None:
        table.setdefault((day, generation, spot, zone), [Decimal(0)] * 4)[i] += value

    def meter(interval: UsageInterval) -> None:
        s = interval.spec
        rate = pricing.price_for(s.generation, s.zone, s.spot, s.accelerator_type)
        for day, chip_seconds in days_of(interval):
            money = cost(chip_seconds, rate)
            add(day, s.generation, s.spot, s.zone, 0, Decimal(chip_seconds) / 3600)
            add(day, s.generation, s.spot, s.zone, 2, money)
            estimates[s.owner] = estimates.get(s.owner, Decimal(0)) + money

    for interval in intervals:
        s = interval.spec
        spans = [(start, end), *((w[0], w[1]) for w in late
                                 if (w[2], w[3]) == (s.generation, s.spot) and w[4] in (None, s.zone))]
        for lo, hi in spans:
            if (part := interval.clipped(lo, hi)) is not None:
                meter(part)
    for row in bill.rows:
        zone = row.zone
        add(f"{row.start:%Y-%m-%d}", row.generation, row.spot, zone, 1, row.chip_hours or Decimal(0))
        add(f"{row.start:%Y-%m-%d}", row.generation, row.spot, zone, 3, row.net)
    lines = tuple(DayLine(day, g, spot, zone, *(v.quantize(Decimal("0.000001")) for v in values))
                  for (day, g, spot, zone), values in sorted(table.items(), key=lambda kv: (kv[0][0], kv[0][1],
                                                                                            kv[0][2], kv[0][3] or "")))
    return lines, estimates


def close(store: GroupStore, db: LedgerDB, clock: Clock, actor: str, result: Reconciliation) -> Reconciliation:
    """Record the reconciliation as the month's settled figures (treasurers only)."""
    if result.month in db.rules().closings:
        raise ConflictError(f"{result.month} is already closed.",
                            hint=f"Reopen it first: tpuctl report reopen {result.month} --reason \"...\".")
    payload = {"month": result.month, "currency": result.currency, "actual": f"{result.actual:f}",
               "estimate": f"{to_cents(result.estimate):f}", "members": {m: f"{v:f}" for m, v in result.actuals.items()},
               "invoice_month": result.invoice_month, "source": result.source[:200], "rows": result.rows,
               "credits": f"{result.credits:f}"}
    record_decision(store, db, clock, actor, MONTH_CLOSED, payload)
    return Reconciliation(**{**result.__dict__, "closed": True})


def reopen(store: GroupStore, db: LedgerDB, clock: Clock, actor: str, month: str, reason: str) -> None:
    """Open a closed month again; its reports and balances go back to the estimates."""
    check_month(month)
    if not reason.strip():
        raise UsageError("Reopening a month needs a reason (--reason).")
    sync_from_store(store, db)
    if month not in db.rules().closings:
        raise ConflictError(f"{month} is not closed.")
    record_decision(store, db, clock, actor, MONTH_REOPENED, {"month": month, "reason": reason.strip()})
