"""The admission log as the local SQLite view keeps it: the entries read so far, how far
each month's log has been read, and which requests the ledger already shows.

Like the rest of the view it is a cache: deleting it only means the next admission reads
the month's log from its first entry again. Entries are kept as columns (they were checked
when read), so weighing the recent ones parses nothing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Iterable

from tpuctl.adapters.ledger_db import LedgerDB, _transaction
from tpuctl.adapters.ledger_rows import chunks as _chunks, dt_us as _dt_us, us as _us
from tpuctl.domain.admission_log import LogEntry
from tpuctl.domain.metering import PriceKey

_COLUMNS = ("month, seq, member, request_id, actor, time_us, zone, generation, accelerator_type, spot, chips, "
            "chip_seconds, money, currency, counts_until_us, override_reason")


def _row(e: LogEntry) -> tuple:
    k = e.price_key
    return (e.month, e.seq, e.member, e.request_id, e.actor, _us(e.time), k.zone, k.generation, k.accelerator_type,
            int(k.spot), e.chips, e.chip_seconds, str(e.money), e.currency, _us(e.counts_until), e.override_reason)


def _entry(row: tuple) -> LogEntry:
    (month, seq, member, request_id, actor, time_us, zone, generation, accelerator_type, spot, chips, chip_seconds,
     money, currency, until_us, reason) = row
    return LogEntry(month, seq, member, request_id, actor, _dt_us(time_us),
                    PriceKey(zone, generation, accelerator_type, bool(spot)), chips, chip_seconds, Decimal(money),
                    currency, _dt_us(until_us), reason)


class AdmissionView:
    def __init__(self, db: LedgerDB):
        self.db = db

    @property
    def conn(self):         # (a bulk load puts a new file, and connection, in the view's place)
        return self.db.conn

    def last_seq(self, month: str) -> int:
        """The highest entry number of `month` read so far (0: none)."""
        row = self.conn.execute("SELECT last_seq FROM admission_log_read WHERE month = ?", (month,)).fetchone()
        return row[0] if row else 0

    def add(self, month: str, entries: Iterable[LogEntry], last_seq: int) -> None:
        """Keep entries read (or written) and move the month's mark to `last_seq` (never back)."""
        with _transaction(self.conn):
            self.conn.executemany(f"INSERT OR IGNORE INTO admission_log ({_COLUMNS}) VALUES ({','.join('?' * 16)})",
                                  map(_row, entries))
            self.conn.execute("INSERT INTO admission_log_read VALUES (?, ?) ON CONFLICT DO UPDATE SET "
                              "last_seq = max(last_seq, excluded.last_seq)", (month, last_seq))

    def recent(self, month: str, since: datetime, now: datetime) -> list[LogEntry]:
        """Entries of `month` admitted at or after `since` whose lease runs past `now`."""
        return [_entry(row) for row in self.conn.execute(
            f"SELECT {_COLUMNS} FROM admission_log WHERE month = ? AND time_us >= ? AND counts_until_us > ? "
            "ORDER BY seq", (month, _us(since), _us(now)))]

    def reflected(self, request_ids: Iterable[str]) -> set[str]:
        """Those of `request_ids` that some node.* or queued.* event in the ledger carries."""
        found: set[str] = set()
        for chunk in _chunks(list(set(request_ids))):
            marks = ",".join("?" * len(chunk))
            found.update(row[0] for row in self.conn.execute(
                f"SELECT request_id FROM nodes WHERE request_id IN ({marks}) UNION "
                f"SELECT request_id FROM queued WHERE request_id IN ({marks})", (*chunk, *chunk)))
        return found
