"""The report's questions to the ledger's view, summed by SQLite rather than in Python loops:
a month of a busy group holds 100,000 intervals and as many deletions, and a report must
stay under a second (benchmarks/report_bench.py)."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from typing import Iterator

from tpuctl.adapters.ledger_db import _INTERVALS, LedgerDB, _intervals, _us
from tpuctl.domain.events import NODE_DELETED, Event
from tpuctl.domain.intervals import UsageInterval

DAY_SECONDS = 86400


@lru_cache(maxsize=4096)
def day_name(day: int) -> str:
    return f"{datetime.fromtimestamp(day * DAY_SECONDS, timezone.utc):%Y-%m-%d}"


def one_day_usage(db: LedgerDB, month: str) -> Iterator[tuple[str, str, str, str, bool, str, int]]:
    """Closed usage of the month's intervals that lie within one UTC day, summed per day:
    (owner, zone, generation, type, spot, day, chip-seconds)."""
    for owner, zone, generation, accelerator_type, spot, day, chip_seconds in db.conn.execute(
            "SELECT owner, zone, generation, accelerator_type, spot, start / 86400 AS d, sum(chips * (end - start)) "
            "FROM intervals WHERE month = ? AND charged = 1 AND start / 86400 = (end - 1) / 86400 "
            "GROUP BY owner, zone, generation, accelerator_type, spot, d", (month,)):
        yield owner, zone, generation, accelerator_type, bool(spot), day_name(day), chip_seconds


def multi_day_intervals(db: LedgerDB, month: str) -> list[UsageInterval]:
    """The month's charged intervals that cross a UTC midnight (few: the caller splits them)."""
    return _intervals(db.conn.execute(_INTERVALS + " WHERE month = ? AND charged = 1 AND start / 86400 != "
                                      "(end - 1) / 86400", (month,)))


def deletions_by_others(db: LedgerDB, start: datetime, end: datetime) -> list[Event]:
    """node.deleted events tpuctl wrote in [start, end) for someone other than the TPU's owner
    (the reaper, a treasurer): found by SQLite, so the month's other deletions are not parsed."""
    return [Event.from_trusted_json(body) for (body,) in db.conn.execute(
        "SELECT body FROM events WHERE kind = ? AND time_us >= ? AND time_us < ? "
        "AND json_extract(CAST(body AS TEXT), '$.payload.source') = 'tpuctl' "
        "AND actor IS NOT json_extract(CAST(body AS TEXT), '$.payload.owner')", (NODE_DELETED, _us(start), _us(end)))]
