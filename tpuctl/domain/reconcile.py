"""Reconciliation with the real bill: read a Cloud Billing standard usage cost export (CSV),
keep the group's TPU rows, set them against metered usage, and spread the bill over members.

- TPU rows: v2-v4 under the "Cloud TPU" service, v5e, v5p and v6e under "Compute Engine" with
  SKUs like "TpuV5e running in Iowa"; spot is only in the SKU ("Preemptible", "Spot").
  Other services, other SKUs and other projects' rows are left out and counted.
- Each row's `credits` (a JSON list, as `bq --format=csv` writes it) are summed into that row
  alone, so a row with two credits is counted once and a row with none is kept.
- Months: Cloud Billing's `invoice.month` follows US Pacific time; tpuctl's months are UTC.
  A month is closed on the invoice month (every row of it, late ones included), and each
  row is matched to the usage metered in its own usage window (its hour), by generation,
  spot and zone, so the 7-8 hours at each edge are never counted twice.
- The spread: a row labelled with its owner (tpuctl's `tpuctl-owner` label) goes to that
  member; the rest of a window is shared by the members who metered chip-seconds in it, in
  proportion; a charge nobody metered is unattributed. The parts are rounded to the cent by
  the largest remainder, so they add up exactly to the bill.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Mapping

from tpuctl.domain.events import UNATTRIBUTED
from tpuctl.domain.nodes import OWNER_LABEL
from tpuctl.domain.settlement import spread_exact, to_cents
from tpuctl.errors import ConfigError

REQUIRED = ("service.description", "sku.description", "usage_start_time", "usage_end_time", "project.id", "cost",
            "currency", "invoice.month")
_CLOUD_TPU = re.compile(r"\btpu[- ]?(v[234])\b", re.I)
_COMPUTE_TPU = re.compile(r"\btpu[- ]?(v5e|v5p|v6e)\b", re.I)


@dataclass(frozen=True)
class BillRow:
    start: datetime
    end: datetime
    generation: str
    spot: bool
    zone: str | None
    sku: str
    chip_hours: Decimal | None
    net: Decimal            # cost plus its credits
    credits: Decimal
    owner: str | None
    late: bool = False


@dataclass(frozen=True)
class Bill:
    invoice_month: str
    currency: str
    rows: tuple[BillRow, ...]
    left_out: Mapping[str, int]       # why -> how many rows

    @property
    def actual(self) -> Decimal:
        return to_cents(sum((r.net for r in self.rows), Decimal(0)))

    @property
    def credits(self) -> Decimal:
        return sum((r.credits for r in self.rows), Decimal(0))


def _time(text: str) -> datetime:
    clean = text.strip().removesuffix(" UTC").removesuffix("Z").replace("T", " ")
    when = datetime.fromisoformat(clean)
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def tpu_sku(service: str, sku: str) -> tuple[str, bool] | None:
    """(generation, spot) of a TPU row, or None for anything else on the bill."""
    pattern = _CLOUD_TPU if service == "Cloud TPU" else _COMPUTE_TPU if service == "Compute Engine" else None
    found = pattern.search(sku) if pattern else None
    if not found:
        return None
    lowered = sku.lower()
    return found.group(1).lower(), "preemptible" in lowered or "spot" in lowered


def parse_bill(text: str, name: str, *, invoice_month: str, currency: str, project: str,
               window_start: datetime) -> Bill:
    """The TPU rows of `invoice_month` (YYYYMM) for `project`; ConfigError, in one sentence,
    for an empty file, another tool's CSV, missing columns, another currency or month."""
    if not text.strip():
        raise ConfigError(f"{name} is empty; a Cloud Billing export has a header and one row per usage.")
    try:
        reader = csv.DictReader(io.StringIO(text))
        header = reader.fieldnames or []
        rows = list(reader)
    except csv.Error as exc:
        raise ConfigError(f"{name} is not a CSV file ({exc}).") from None
    missing = [c for c in REQUIRED if c not in header]
    if len(missing) > len(REQUIRED) // 2:
        raise ConfigError(f"{name} is not a Cloud Billing export: it has no {', '.join(missing[:3])} column.",
                          hint="Save the standard usage cost export as CSV (bq query --format=csv, or the console).")
    if missing:
        raise ConfigError(f"{name} lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)} of a "
                          "Cloud Billing export.")
    kept, left_out, months, currencies = [], {}, set(), set()

    def skip(why: str) -> None:
        left_out[why] = left_out.get(why, 0) + 1

    for number, row in enumerate(rows, start=2):
        try:
            sku = tpu_sku(row["service.description"], row["sku.description"])
            if sku is None:
                skip("not a TPU")
                continue
            if row["project.id"] != project:
                skip("another project")
                continue
            months.add(row["invoice.month"])
            if row["invoice.month"] != invoice_month:
                skip("another invoice month")
                continue
            currencies.add(row["currency"])
            credits = sum((Decimal(str(c.get("amount", 0))) for c in json.loads(row.get("credits") or "[]",
                                                                                 parse_float=Decimal)), Decimal(0))
            labels = {x.get("key"): x.get("value") for x in json.loads(row.get("labels") or "[]")}
            start, end = _time(row["usage_start_time"]), _time(row["usage_end_time"])
            amount = row.get("usage.amount_in_pricing_units") or ""
            kept.append(BillRow(start, end, sku[0], sku[1], row.get("location.zone") or None, row["sku.description"],
                                Decimal(amount) if amount else None, Decimal(row["cost"]) + credits, credits,
                                labels.get(OWNER_LABEL), late=end <= window_start))
        except (ValueError, InvalidOperation, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{name} line {number} cannot be read ({str(exc)[:80]}).") from None
    if not kept and invoice_month not in months:
        held = ", ".join(sorted(months)) or "no TPU rows of this project"
        raise ConfigError(f"{name} has no rows for invoice month {invoice_month} (it holds {held}).",
                          hint="Pass --month for the month the export covers, or export that month.")
    other = sorted(currencies - {currency})
    if other:
        raise ConfigError(f"{name} bills in {', '.join(other)}; the group keeps its books in {currency}.")
    return Bill(invoice_month, currency, tuple(kept), left_out)


Window = tuple[datetime, datetime, str, bool, str | None]     # start, end, generation, spot, zone


def window_of(row: BillRow) -> Window:
    return (row.start, row.end, row.generation, row.spot, row.zone)


def spread(bill: Bill, metered: Mapping[Window, Mapping[str, int]]) -> dict[str, Decimal]:
    """The bill to the cent per member: labelled rows to their owner, the rest of each window
    in proportion to the chip-seconds members metered in it, what nobody metered unattributed."""
    exact: dict[str, Decimal] = {}

    def add(member: str, amount: Decimal) -> None:
        exact[member] = exact.get(member, Decimal(0)) + amount

    pooled: dict[Window, Decimal] = {}
    for row in bill.rows:
        if row.owner:
            add(row.owner, row.net)
        else:
            pooled[window_of(row)] = pooled.get(window_of(row), Decimal(0)) + row.net
    for window, amount in pooled.items():
        usage = {m: s for m, s in metered.get(window, {}).items() if s > 0}
        whole = sum(usage.values())
        if not whole:
            add(UNATTRIBUTED, amount)
            continue
        for member, seconds in usage.items():
            add(member, amount * seconds / whole)
    return spread_exact(exact, bill.actual) if exact else {}
