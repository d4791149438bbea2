"""The second process of a large bulk load: it checks each slice of a segment's events and
writes the ones that pass into the events table of the file that becomes the view.

SQLite takes one writer per file, so this process fills its own copy of the fresh view (made
by tpuctl/adapters/ledger_file.py, `Beside.writer_file`) while the loader judges and replays
the same events into its file; when both are done the loader moves its rows into this one
(`Beside.join`): the loader's events win over these, and whatever it set aside is taken out.
It holds one connection for the whole load, in one transaction with the journal off: a load
cut off leaves a file the loader deletes.
"""

from __future__ import annotations

import gc
import sqlite3

from tpuctl.adapters.ledger_file import filling
from tpuctl.adapters.ledger_load import drop_late_indexes
from tpuctl.adapters.ledger_rows import event_row
from tpuctl.domain.event_read import check_slice
from tpuctl.domain.intervals import subject_of

_conn: sqlite3.Connection | None = None
_indexes: list[str] = []


def start(path: str) -> None:
    """Open the file to fill; its large indexes on events are built once, at `finish`."""
    global _conn, _indexes
    gc.disable()                    # (what this process keeps has no reference cycles)
    _conn = filling(path)
    _conn.execute("BEGIN IMMEDIATE")
    _indexes = drop_late_indexes(_conn)


def write(entries: list[tuple[str, bytes]], keys: dict[str, list[str]] | None = None,
          earlier: list[tuple[str, bytes]] = ()) -> tuple[list[int], dict[int, str]]:
    """`check_slice` of these entries, and every event it accepts written to the events table
    (a copy of an id already written is not written again: the first one read stays)."""
    events: list = []
    bad, held = check_slice(entries, keys, earlier, events)
    _conn.executemany("INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?)",
                      [event_row(event, subject_of(event)) for event in events])
    return bad, held


def finish() -> None:
    """Build the indexes, commit and close: the file is ready for the loader's rows."""
    global _conn
    for sql in _indexes:
        _conn.execute(sql)
    _conn.execute("COMMIT")
    _conn.close()
    _conn = None
    gc.freeze()         # what it kept (a few hundred thousand memo tuples): not walked again on exit
