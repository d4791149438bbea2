"""The admission log as the local SQLite view keeps it: the entries read so far, how far
each month's log has been read, and which requests the ledger already shows.

Like the rest of the view it is a cache: deleting it only means the next admission reads
the month's log from its first entry again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from tpuctl.adapters.ledger_db import LedgerDB, _chunks, _transaction, _us
from tpuctl.domain.admission_log import EntryFormatError, LogEntry, entry_key, parse_entry


class AdmissionView:
    def __init__(self, db: LedgerDB):
        self.db = db
        self.conn = db.conn

    def last_seq(self, month: str) -> int:
        """The highest entry number of `month` read so far (0: none)."""
        row = self.conn.execute("SELECT last_seq FROM admission_log_read WHERE month = ?", (month,)).fetchone()
        return row[0] if row else 0

    def add(self, month: str, entries: Iterable[LogEntry], last_seq: int) -> None:
        """Keep entries read (or written) and move the month's mark to `last_seq` (never back)."""
        with _transaction(self.conn):
            self.conn.executemany("INSERT OR IGNORE INTO admission_log VALUES (?, ?, ?, ?)",
                                  ((e.month, e.seq, _us(e.time), e.to_json()) for e in entries))
            self.conn.execute("INSERT INTO admission_log_read VALUES (?, ?) ON CONFLICT DO UPDATE SET "
                              "last_seq = max(last_seq, excluded.last_seq)", (month, last_seq))

    def recent(self, month: str, since: datetime) -> list[LogEntry]:
        """Entries of `month` admitted at or after `since` (older ones no longer count)."""
        found = []
        rows = self.conn.execute("SELECT seq, body FROM admission_log WHERE month = ? AND time_us >= ? ORDER BY seq",
                                 (month, _us(since)))
        for seq, body in rows:
            try:
                found.append(parse_entry(body, entry_key(month, seq)))
            except EntryFormatError:          # only parsed entries are kept; this guards a hand-edited file
                continue
        return found

    def reflected(self, request_ids: Iterable[str]) -> set[str]:
        """Those of `request_ids` that some node.* or queued.* event in the ledger carries."""
        found: set[str] = set()
        for chunk in _chunks(list(set(request_ids))):
            marks = ",".join("?" * len(chunk))
            found.update(row[0] for row in self.conn.execute(
                f"SELECT request_id FROM nodes WHERE request_id IN ({marks}) UNION "
                f"SELECT request_id FROM queued WHERE request_id IN ({marks})", (*chunk, *chunk)))
        return found
