"""Filling a fresh view in one pass: a first sync or `ledger rebuild` from sealed segments.

Event by event, the view keeps every node incarnation's replay state in its tables, reading
and writing them again for each batch. A fresh view has nothing to keep up to date, so the
bulk load replays in memory and writes each derived row once, at the end, in one transaction
(a load cut off halfway leaves the view empty, and the next sync starts again), in a file
beside the view's with the journal off when no other process has the view open
(tpuctl/adapters/ledger_file.py). Which events
are new and which count is decided by the same code as `LedgerDB.ingest` (`LedgerDB.admit`),
and every table ends up row for row what event-by-event ingest of the same batches writes:

- a node incarnation's final state and closed intervals are the replay of all its counted
  events in (time, kind rank, id) order, whatever order they arrived in, so an incarnation
  replays in memory while its events arrive in order; one that gets an event sorting before
  what was replayed is replayed from the view's events once, at the end;
- `usage_month` is the sum of the intervals rows per key (a key whose sums are both zero is
  not written, as ingest deletes it);
- a queued request is folded in arrival order, as ingest folds it.

The view's two large secondary indexes on events are built after the rows are in, and the
garbage collector is paused while a million parsed events (no reference cycles) are alive:
otherwise it scans them all again and again.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Callable, Container, Iterable

from tpuctl.adapters import trust_db
from tpuctl.adapters.ledger_file import Beside
from tpuctl.adapters.ledger_rows import NODE_COLUMNS, QUEUED_COLUMNS, add_usage, interval_rows, node_row, queued_row
from tpuctl.domain.events import Event
from tpuctl.domain.intervals import NodeState, QueuedRequest, UsageInterval, apply_queued, replay, replay_after

if TYPE_CHECKING:
    from tpuctl.adapters.ledger_db import LedgerDB

# Indexes built once after the load rather than kept up to date row by row (the partial index
# of group-level events stays: the group's rules are read from it after every batch).
LATE_INDEXES = ("events_subject", "events_kind_time")


def drop_late_indexes(conn) -> list[str]:
    """Drop the LATE_INDEXES a load's file has; returns the SQL that builds them again."""
    marks = ",".join("?" * len(LATE_INDEXES))
    found = conn.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name IN ({marks})",
                         LATE_INDEXES).fetchall()
    for name, _ in found:
        conn.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in found]


class BulkLoad:
    """`with db.bulk() as load: load.ingest(batch) ...`: like `db.ingest` for each batch, one
    transaction for all; the derived tables are written when the block ends without error."""

    def __init__(self, db: LedgerDB):
        self.db = db
        self.seen: set[str] = set()                     # every id ingested by this load
        self.states: dict[str, NodeState] = {}
        self.closed: dict[str, list[UsageInterval]] = {}
        self.replay_later: set[str] = set()             # got an event out of order
        self.queued: dict[str, QueuedRequest] = {}
        self._indexes: list[str] = []
        self._collecting = False
        self.beside: Beside | None = None               # filled beside the view's file (ledger_file.py)
        self._written: Container[str] = ()              # ids of this batch a second process writes
        # starts that process's last step (its indexes, its commit) and returns the wait for it
        self.writer_finish: Callable[[], Callable[[], None]] | None = None

    def __enter__(self) -> BulkLoad:
        self.beside = Beside.start(self.db)
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        self._collecting = gc.isenabled()
        gc.disable()
        try:
            self._indexes = drop_late_indexes(conn)
        except BaseException:
            self._end(commit=False)
            raise
        return self

    def __exit__(self, kind, error, trace) -> None:
        if kind is None:
            try:
                self._finish()
            except BaseException:
                self._end(commit=False)
                raise
        self._end(commit=kind is None)

    def _end(self, commit: bool) -> None:
        try:
            if self.beside is None or commit:
                self.db.conn.execute("COMMIT" if commit else "ROLLBACK")
            if self.beside is not None:
                self.beside.end(commit)
            elif commit:        # the write-ahead log held the whole load: give its space back
                self.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            self.db.forget_rules(rolled_back=not commit)
            # what the load kept (a million ids, every node's state) goes before the collector
            # comes back: else its next runs would each walk all of it
            self.seen, self.states, self.closed, self.queued, self.replay_later = set(), {}, {}, {}, set()
            if self._collecting:
                gc.enable()

    def ingest(self, events: Iterable[Event], written: Container[str] = ()) -> int:
        """What `LedgerDB.ingest` does with one batch; returns how many events were new.
        `written`: ids the second process writes to the view's events (`writer_file`)."""
        self._written = written
        try:
            return self.db.admit(events, self._known, self._apply, self._again)
        finally:
            self._written = ()

    def writer_file(self) -> str | None:
        """A file for a second process to write this load's events into
        (tpuctl/adapters/ledger_writer.py); None when the view is filled in place."""
        return None if self.beside is None else str(self.beside.writer_file())

    def _known(self, ids: Iterable[str]) -> set[str]:
        ids = list(ids)
        known = self.seen.intersection(ids)
        self.seen.update(ids)
        return known

    def _apply(self, new: list[Event]) -> None:
        nodes, queued = self.db.insert_events(new, self._written)
        for subject, events in nodes.items():
            if subject in self.replay_later:
                continue
            replayed = replay_after(events, self.states.get(subject))
            if replayed is None:
                self.replay_later.add(subject)          # replayed from all its events at the end
                del self.states[subject]
                self.closed.pop(subject, None)
                continue
            state, intervals = replayed
            self.states[subject] = state
            if intervals:
                self.closed.setdefault(subject, []).extend(intervals)
        for subject, events in queued.items():
            for event in events:
                self.queued[subject] = apply_queued(self.queued.get(subject), event)

    def _again(self, subjects: set[str]) -> None:
        """A dispute withdrew some of these nodes' events: replay them at the end from the rest."""
        for subject in subjects:
            self.replay_later.add(subject)
            self.states.pop(subject, None)
            self.closed.pop(subject, None)

    def _finish(self) -> None:
        """Write the derived tables, each in key order (SQLite appends to its B-trees instead of
        splitting them all over). With a second process, the rows of every node replayed in
        order are written to this process's file while that process builds its indexes, and the
        join carries them over; unless a dispute may withdraw events only the join brings in."""
        writer_done = self.writer_finish() if self.writer_finish is not None else None
        nodes = {subject: node_row(state) for subject, state in self.states.items()}
        closed = {subject: _rows(intervals) for subject, intervals in self.closed.items()}
        trust = self.db.rules().trust               # (all the load's control events are in this file)
        early = writer_done is not None and not trust.disputed
        if early:
            self._write(nodes, closed, self.queued)
        if writer_done is not None:                 # the second process built the indexes in its file
            writer_done()
            self.beside.join()
            if trust.disputed:                      # withdrawn events it wrote are taken out now
                self._again(trust_db.take_out(self.db, trust))
            self._indexes = []
        for sql in self._indexes:
            self.db.conn.execute(sql)
        later_nodes, later_closed = ({}, {}) if early else (nodes, closed)
        for subject in sorted(self.replay_later):
            later_nodes.pop(subject, None)
            later_closed.pop(subject, None)
            state, intervals = replay(self.db.subject_events(subject))
            if state is not None:                       # (None: a dispute withdrew all it had)
                later_nodes[subject], later_closed[subject] = node_row(state), _rows(intervals)
        self._write(later_nodes, later_closed, {} if early else self.queued)
        totals: dict[tuple, list[int]] = {}
        for rows in (*closed.values(), *later_closed.values()) if early else later_closed.values():
            for row in rows:
                add_usage(totals, row, 1)
        self.db.conn.executemany("INSERT INTO usage_month VALUES (?,?,?,?,?,?,?,?)",
                                 ((*key, *value) for key, value in totals.items() if value != [0, 0]))

    def _write(self, nodes: dict[str, tuple], closed: dict[str, list[tuple]], queued: dict[str, QueuedRequest]) -> None:
        conn = self.db.conn
        conn.executemany(f"INSERT INTO nodes ({NODE_COLUMNS}) VALUES ({','.join('?' * 19)})",
                         (nodes[subject] for subject in sorted(nodes)))
        conn.executemany("INSERT INTO intervals VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         (row for subject in sorted(closed) for row in closed[subject]))
        conn.executemany(f"INSERT INTO queued ({QUEUED_COLUMNS}) VALUES ({','.join('?' * 16)})",
                         (queued_row(queued[subject]) for subject in sorted(queued)))


def _rows(intervals: list[UsageInterval]) -> list[tuple]:
    return [row for interval in intervals for row in interval_rows(interval)]
