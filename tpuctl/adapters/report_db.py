"""The report's questions to the ledger's view, summed by SQLite rather than in Python loops:
a month of a busy group holds 100,000 intervals and as many deletions, and a report must
stay under a second (benchmarks/report_bench.py). Indexes these queries need are in the
view's schema (tpuctl/adapters/ledger_db.py)."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from typing import Iterable, Iterator

from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.ledger_rows import us
from tpuctl.domain.events import Event

DAY_SECONDS = 86400


@lru_cache(maxsize=4096)
def day_name(day: int) -> str:
    return f"{datetime.fromtimestamp(day * DAY_SECONDS, timezone.utc):%Y-%m-%d}"


def day_usage(db: LedgerDB, month: str) -> Iterator[tuple[str, str, str, str, bool, str, int]]:
    """The month's closed usage per UTC day (an interval crossing midnight split there):
    (owner, zone, generation, type, spot, day, chip-seconds)."""
    for owner, zone, generation, accelerator_type, spot, day, chip_seconds in db.conn.execute(
            "WITH RECURSIVE parts(owner, zone, generation, accelerator_type, spot, chips, day, s, e) AS ("
            " SELECT owner, zone, generation, accelerator_type, spot, chips, start / 86400, start, end FROM intervals"
            " WHERE month = ? AND charged = 1"
            " UNION ALL SELECT owner, zone, generation, accelerator_type, spot, chips, day + 1, (day + 1) * 86400, e"
            " FROM parts WHERE (day + 1) * 86400 < e) "
            "SELECT owner, zone, generation, accelerator_type, spot, day, sum(chips * (min(e, (day + 1) * 86400) - s)) "
            "FROM parts GROUP BY owner, zone, generation, accelerator_type, spot, day", (month,)):
        if chip_seconds:
            yield owner, zone, generation, accelerator_type, bool(spot), day_name(day), chip_seconds


def job_usage(db: LedgerDB, month: str, jobs: Iterable[str]) -> list[tuple[str, str, str, str, bool, str | None, int]]:
    """The month's closed usage per job (None: a TPU no job ran on): (owner, zone, generation,
    type, spot, job, chip-seconds). A job's TPU is named after it, `-2`, `-3`... after
    preemptions (services/report.job_of); the names are matched by SQLite."""
    db.conn.execute("CREATE TEMP TABLE IF NOT EXISTS report_jobs (name TEXT PRIMARY KEY) WITHOUT ROWID")
    db.conn.execute("DELETE FROM temp.report_jobs")
    db.conn.executemany("INSERT OR IGNORE INTO temp.report_jobs VALUES (?)", ((name,) for name in jobs))
    return [(owner, zone, generation, accelerator_type, bool(spot), job, chip_seconds)
            for owner, zone, generation, accelerator_type, spot, job, chip_seconds in db.conn.execute(
                "SELECT owner, zone, generation, accelerator_type, spot, coalesce(j1.name, j2.name) AS job, "
                "sum(charged * chips * (end - start)) FROM intervals "
                "LEFT JOIN temp.report_jobs j1 ON j1.name = node "
                "LEFT JOIN temp.report_jobs j2 ON j1.name IS NULL AND rtrim(node, '0123456789') != node "
                "AND substr(rtrim(node, '0123456789'), -1) = '-' "
                "AND j2.name = substr(rtrim(node, '0123456789'), 1, length(rtrim(node, '0123456789')) - 1) "
                "WHERE month = ? GROUP BY owner, zone, generation, accelerator_type, spot, job", (month,))
            if chip_seconds]


def deletions_by_others(db: LedgerDB, start: datetime, end: datetime) -> list[Event]:
    """node.deleted events tpuctl wrote in [start, end) for someone other than the TPU's owner
    (the reaper, a treasurer): found by SQLite, so the month's other deletions are not parsed."""
    # `"owner":"<actor>"` in an event's compact JSON can only be its payload's owner (no string
    # holds an unescaped quote): the view's partial index leaves the owners' own deletions out.
    return [Event.from_trusted_json(body) for (body,) in db.conn.execute(
        "SELECT body FROM events INDEXED BY events_ended_by_others WHERE kind = 'node.deleted' "
        "AND time_us >= ? AND time_us < ? "
        "AND instr(body, '\"owner\":\"' || actor || '\"') = 0 "
        "AND json_extract(CAST(body AS TEXT), '$.payload.source') = 'tpuctl' "
        "AND actor IS NOT json_extract(CAST(body AS TEXT), '$.payload.owner')", (us(start), us(end)))]
