"""What the emulated world would bill: its node history as a Cloud Billing standard usage cost export.

Pure: `export_rows(incarnations, now, table)` -> rows, `to_csv(rows)` -> text. Where the shape
comes from:

- Columns and their meaning: Google's "Structure of Standard data export" (Cloud Billing
  docs, export-data-bigquery-tables/standard-usage), nested fields flattened with dots and
  repeated ones (`labels`, `credits`) written as JSON lists, as `bq query --format=csv`
  does; TIMESTAMP columns as bq prints them (UTC, `YYYY-MM-DD HH:MM:SS`).
  `invoice.month` is `YYYYMM` of the usage in Pacific Time, as the docs define it, so a
  month's invoice starts at 07:00 or 08:00 UTC on the 1st, not at midnight UTC.
- One row per node incarnation and hourly usage window (`usage_start_time` /
  `usage_end_time` on the UTC hour), `usage.amount` in chip-seconds (unit `seconds`),
  `usage.amount_in_pricing_units` in chip-hours (pricing unit `hour`), `cost` = chip-hours x
  list price per chip-hour from tpuctl's shipped price table (tpuctl/data/prices.toml),
  rounded to a millionth; `cost_type` `regular`, `credits` `[]`.
- Services and SKU descriptions: v2, v3 and v4 bill under "Cloud TPU", v5e, v5p and v6e under
  "Compute Engine" (SkyPilot's fetch_gcp.py reads them there). Compute Engine TPU SKUs read
  "TpuV5e running in Delhi" and "TpuV5e attached to Spot Preemptible VMs running in
  Singapore" (Cloud Billing Catalog API SKUs as captured in public test fixtures). For
  v2-v4 the only sure parts are the ones SkyPilot matches on (`Tpu-v3`, `Pod` for slices
  beyond one device and for every v4, `Preemptible` for spot); the rest of their wording
  ("Chip running in Americas") is this emulator's, since the real v2/v3 SKUs price a
  device-hour where this export prices every generation per chip-hour.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

from tpuctl.domain.prices import NO_OVERRIDES, PriceTable, parse_price_table, price_for
from tpuctl.emulator.exceptions import InvalidArgument
from tpuctl.emulator.history import Incarnation, incarnations

COLUMNS = ("service.description", "sku.description", "usage_start_time", "usage_end_time", "project.id",
           "location.region", "location.zone", "labels", "usage.amount", "usage.unit",
           "usage.amount_in_pricing_units", "usage.pricing_unit", "cost", "currency", "invoice.month",
           "cost_type", "credits", "export_time")
INVOICE_TIME_ZONE = ZoneInfo("America/Los_Angeles")   # invoice months are Pacific Time months
HOUR = timedelta(hours=1)
MONEY_QUANTUM = Decimal("0.000001")
_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_CLOUD_TPU = ("v2", "v3", "v4")
_COMPUTE_ENGINE_NAMES = {"v5e": "TpuV5e", "v5p": "TpuV5p", "v6e": "TpuV6e"}
# Region -> the place Compute Engine SKU descriptions name ("running in Netherlands").
PLACES = {"us-central1": "Iowa", "us-central2": "Oklahoma", "us-east1": "South Carolina", "us-east5": "Columbus",
          "us-west4": "Las Vegas", "us-south1": "Dallas", "europe-west4": "Netherlands", "asia-east1": "Taiwan",
          "asia-southeast1": "Singapore", "asia-south2": "Delhi", "southamerica-east1": "Sao Paulo"}
_CONTINENTS = {"us": "Americas", "northamerica": "Americas", "southamerica": "Americas", "europe": "EMEA",
               "me": "EMEA", "africa": "EMEA", "asia": "APAC", "australia": "APAC"}


def shipped_price_table() -> PriceTable:
    """tpuctl's shipped list prices: what the emulated Google charges (no treasurer overrides)."""
    from importlib import resources

    source = resources.files("tpuctl") / "data" / "prices.toml"
    return parse_price_table(source.read_text(encoding="utf-8"), str(source))


def invoice_month(month: str) -> str:
    """`2026-01` -> `202601`; ValueError for anything else."""
    found = _MONTH_RE.match(month or "")
    if not found:
        raise ValueError(f"'{month}' is not a month like 2026-01.")
    return found.group(1) + found.group(2)


def service_of(generation: str) -> str:
    return "Cloud TPU" if generation in _CLOUD_TPU else "Compute Engine"


def sku_description(generation: str, chips: int, region: str, spot: bool) -> str:
    """The SKU a generation's usage bills under, in the style of the real descriptions."""
    if generation in _CLOUD_TPU:
        pod = " Pod" if generation == "v4" or chips > 4 else ""
        continent = _CONTINENTS.get(region.split("-", 1)[0], region)
        return f"{'Preemptible ' if spot else ''}Tpu-{generation}{pod} Chip running in {continent}"
    name, place = _COMPUTE_ENGINE_NAMES[generation], PLACES.get(region, region)
    return f"{name} attached to Spot Preemptible VMs running in {place}" if spot else f"{name} running in {place}"


@dataclass(frozen=True)
class UsageRow:
    """One row of the export, typed; `flat()` gives it as the CSV's strings."""

    service: str
    sku: str
    start: datetime
    end: datetime
    project: str
    region: str
    zone: str
    labels: tuple[tuple[str, str], ...]
    chip_seconds: Decimal
    chip_hours: Decimal
    cost: Decimal
    currency: str
    invoice_month: str
    exported: datetime
    node: str           # not a column: which incarnation the row is for (the detailed export's resource)
    incarnation: int

    def flat(self) -> dict[str, str]:
        return {
            "service.description": self.service, "sku.description": self.sku,
            "usage_start_time": bq_timestamp(self.start), "usage_end_time": bq_timestamp(self.end),
            "project.id": self.project, "location.region": self.region, "location.zone": self.zone,
            "labels": json.dumps([{"key": k, "value": v} for k, v in self.labels]),
            "usage.amount": plain(self.chip_seconds), "usage.unit": "seconds",
            "usage.amount_in_pricing_units": plain(self.chip_hours), "usage.pricing_unit": "hour",
            "cost": plain(self.cost), "currency": self.currency, "invoice.month": self.invoice_month,
            "cost_type": "regular", "credits": "[]", "export_time": bq_timestamp(self.exported),
        }


def export_rows(incarnations: list[Incarnation], now: datetime, table: PriceTable,
                month: str | None = None) -> list[UsageRow]:
    """Rows for every charged READY second up to `now`; only invoice month `month` (YYYY-MM) if given."""
    wanted = invoice_month(month) if month is not None else None
    rows = []
    for inc in incarnations:
        price = price_for(inc.generation, inc.zone, inc.spot, NO_OVERRIDES, table, inc.accelerator_type)
        sku = sku_description(inc.generation, inc.chips, inc.region, inc.spot)
        for window, seconds in sorted(_seconds_per_hour(inc.charged_spans(now)).items()):
            billed = _month(window)
            if seconds <= 0 or (wanted is not None and billed != wanted):
                continue
            chip_seconds = seconds * inc.chips
            rows.append(UsageRow(
                service=service_of(inc.generation), sku=sku,
                start=window, end=window + HOUR, project=inc.project, region=inc.region, zone=inc.zone,
                labels=tuple(sorted(inc.labels.items())), chip_seconds=chip_seconds,
                chip_hours=(chip_seconds / 3600).quantize(MONEY_QUANTUM, ROUND_HALF_EVEN),
                cost=(price * chip_seconds / 3600).quantize(MONEY_QUANTUM, ROUND_HALF_EVEN),
                currency=table.currency, invoice_month=billed, exported=now, node=inc.node,
                incarnation=inc.incarnation))
    return sorted(rows, key=lambda r: (r.start, r.project, r.node, r.incarnation))


def export_csv(state: dict, now: datetime, month: str | None = None, table: PriceTable | None = None) -> str:
    """The world's export as CSV text; a bad month is the API's 400."""
    try:
        rows = export_rows(incarnations(state), now, table or shipped_price_table(), month)
    except ValueError as exc:
        raise InvalidArgument(f"Invalid month: {exc}") from None
    return to_csv(rows)


def to_csv(rows: list[UsageRow]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row.flat())
    return out.getvalue()


def _seconds_per_hour(spans: list[tuple[datetime, datetime]]) -> dict[datetime, Decimal]:
    """Seconds (exact to the microsecond) of the spans in each UTC hour window."""
    per_hour: dict[datetime, timedelta] = defaultdict(timedelta)
    for start, end in spans:
        at = start
        while at < end:
            window = at.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
            stop = min(end, window + HOUR)
            per_hour[window] += stop - at
            at = stop
    return {w: Decimal(d // timedelta(microseconds=1)) / 1_000_000 for w, d in per_hour.items()}


def _month(window: datetime) -> str:
    return f"{window.astimezone(INVOICE_TIME_ZONE):%Y%m}"


def bq_timestamp(when: datetime) -> str:
    """A TIMESTAMP as `bq query --format=csv` prints it: UTC, to the second, no zone suffix."""
    return when.astimezone(timezone.utc).replace(microsecond=0, tzinfo=None).isoformat(" ")


def plain(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros (`7200`, `6.44`, `0.5`)."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
