"""The local SQLite view of the ledger: fast answers for reports and admission.

The group store's events are the truth; this file is a cache of them, rebuilt by ingesting
them again (deleting it loses nothing). Ingest is idempotent (events keyed by id) and
incremental: each node incarnation keeps its replay state, so an event that sorts after
what was replayed is one step; one that arrives out of order replays that incarnation
again. Closed usage is pre-summed per month, member and pricing key (`usage_month`), so
admission reads a few hundred rows whatever the size of the ledger. A fresh view (a first
sync, a rebuild) is filled by the bulk load instead (tpuctl/adapters/ledger_load.py).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Callable, Container, Iterable, Iterator

from tpuctl.adapters import ledger_file, trust_db
from tpuctl.adapters.ledger_rows import (
    INTERVALS, NODE_COLUMNS, QUEUED_COLUMNS, add_usage, chunks, dt_us, dt_us_opt, event_row, interval_rows, node_row,
    node_state, queued_request, queued_row, sec, us, us_opt, usage_intervals,
)
from tpuctl.domain.budgets import GroupRules, group_rules
from tpuctl.domain.events import CONTROL_KINDS, NODE_KINDS, REAP_KINDS, Event
from tpuctl.domain.trust import Trust
from tpuctl.domain.intervals import NodeState, QueuedRequest, UsageInterval, apply_queued, replay, replay_after, subject_of
from tpuctl.domain.metering import PriceKey
from tpuctl.errors import ConfigError


# --- schema: the view is a cache, so a file of another shape (or of another store) is emptied
# and filled again from the store by the next sync, instead of being migrated in place.

SCHEMA_VERSION = 10     # PRAGMA user_version of a view this tpuctl reads

_SCHEMA = """
CREATE TABLE events (id TEXT NOT NULL UNIQUE, time_us INTEGER NOT NULL, actor TEXT NOT NULL, kind TEXT NOT NULL,
    subject TEXT, body BLOB NOT NULL);
CREATE INDEX events_subject ON events (subject) WHERE subject IS NOT NULL;
CREATE INDEX events_group_level ON events (kind) WHERE subject IS NULL;
CREATE INDEX events_kind_time ON events (kind, time_us);
CREATE INDEX events_ended_by_others ON events (time_us) WHERE kind = 'node.deleted'
    AND instr(body, '"owner":"' || actor || '"') = 0;
CREATE TABLE nodes (subject TEXT PRIMARY KEY, zone TEXT, node TEXT, owner TEXT, accelerator_type TEXT,
    generation TEXT, chips INTEGER, spot INTEGER, lease_until INTEGER, request_id TEXT, create_time INTEGER,
    status TEXT, first_seen INTEGER, accruing_since INTEGER, first_ready INTEGER, seq INTEGER,
    last_time_us INTEGER, last_rank INTEGER, last_id TEXT) WITHOUT ROWID;
CREATE INDEX nodes_open ON nodes (owner) WHERE status != 'deleted';
CREATE INDEX nodes_place ON nodes (zone, node);
CREATE TABLE intervals (subject TEXT, seq INTEGER, month TEXT, start INTEGER, end INTEGER, charged INTEGER,
    owner TEXT, zone TEXT, node TEXT, accelerator_type TEXT, generation TEXT, chips INTEGER, spot INTEGER,
    PRIMARY KEY (subject, seq, month)) WITHOUT ROWID;
CREATE INDEX intervals_month ON intervals (month, owner);
CREATE INDEX intervals_place ON intervals (zone, node);
CREATE TABLE usage_month (month TEXT, owner TEXT, zone TEXT, generation TEXT, accelerator_type TEXT,
    spot INTEGER, chip_seconds INTEGER NOT NULL, seconds INTEGER NOT NULL,
    PRIMARY KEY (month, owner, zone, generation, accelerator_type, spot)) WITHOUT ROWID;
CREATE TABLE queued (subject TEXT PRIMARY KEY, zone TEXT, name TEXT, node TEXT, owner TEXT,
    accelerator_type TEXT, generation TEXT, chips INTEGER, spot INTEGER, lease_hours TEXT, request_id TEXT,
    status TEXT, ended_time_us INTEGER, ended_rank INTEGER, ended_id TEXT, since_us INTEGER) WITHOUT ROWID;
CREATE INDEX queued_waiting ON queued (owner) WHERE status = 'waiting';
CREATE TABLE cursors (prefix TEXT PRIMARY KEY, last_key TEXT NOT NULL);
CREATE TABLE bad_objects (key TEXT PRIMARY KEY, reason TEXT NOT NULL);
CREATE TABLE segments (key TEXT PRIMARY KEY, start_us INTEGER NOT NULL, end_us INTEGER, events INTEGER NOT NULL,
    trusted INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE admission_log (month TEXT, seq INTEGER, member TEXT, request_id TEXT, actor TEXT,
    time_us INTEGER NOT NULL, zone TEXT, generation TEXT, accelerator_type TEXT, spot INTEGER, chips INTEGER,
    chip_seconds INTEGER, money TEXT, currency TEXT, counts_until_us INTEGER, override_reason TEXT,
    PRIMARY KEY (month, seq)) WITHOUT ROWID;
CREATE INDEX admission_log_time ON admission_log (month, time_us);
CREATE TABLE admission_log_read (month TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
CREATE INDEX nodes_request ON nodes (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX queued_request ON queued (request_id) WHERE request_id IS NOT NULL;
"""


def _open_schema(conn: sqlite3.Connection, store_url: str | None) -> bool:
    """Make `conn` a view of this shape for `store_url`; True if it was (re)made empty."""
    with _transaction(conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            row = conn.execute("SELECT value FROM meta WHERE name = 'store'").fetchone()
            if store_url is None or (row and row[0] == store_url):
                return False
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            conn.execute(f'DROP TABLE IF EXISTS "{table}"')
        for statement in (_SCHEMA + trust_db.TRUST_SCHEMA).split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        if store_url is not None:
            conn.execute("INSERT INTO meta VALUES ('store', ?)", (store_url,))
        return True


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class LedgerDB(AbstractContextManager):
    """One SQLite file (WAL), safe to share between processes on one machine. It belongs to
    one group store (`store_url`): opened for another, it is emptied, so two groups' events
    never mix, and the next sync fills it from the new store."""

    def __init__(self, path: str | Path, store_url: str | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.hold = ledger_file.Hold(self.path)         # shared while open: a bulk load may replace the file
        try:
            self.conn = ledger_file.connect(self.path)
            self.emptied = _open_schema(self.conn, store_url)
        except sqlite3.DatabaseError as exc:
            self.hold.close()
            raise ConfigError(f"The ledger database {self.path} cannot be opened ({exc}).",
                              hint="It is only a cache: delete it and run `tpuctl sync` to rebuild it.") from None
        self._rules: tuple[tuple, GroupRules] | None = None
        self._writes = 0
        self.signatures = trust_db.Signatures(self.conn)
        self.rejected = trust_db.Rejected(self.conn)

    def close(self) -> None:
        self.conn.close()
        self.hold.close()

    def __exit__(self, *exc) -> None:
        self.close()

    def _query(self, sql: str, params: Iterable = (), owner: str | None = None) -> list[tuple]:
        """The rows of `sql`; with `owner`, only theirs (`sql` then ends in a WHERE clause)."""
        if owner:
            sql, params = sql + " AND owner = ?", (*params, owner)
        return self.conn.execute(sql, tuple(params)).fetchall()

    def _in(self, sql: str, values: list, extra: tuple = ()) -> Iterator[tuple]:
        """Run `sql` (with one '{}' for the IN list) over `values` in chunks."""
        for chunk in chunks(values):
            yield from self.conn.execute(sql.format(",".join("?" * len(chunk))), (*chunk, *extra))

    # --- ingest ---------------------------------------------------------------------------

    def known_ids(self, ids: Iterable[str]) -> set[str]:
        """Ids already in the view, counted or not."""
        ids = list(ids)
        return {row[0] for row in self._in("SELECT id FROM events WHERE id IN ({})", ids)} | self.rejected.known(ids)

    def ingest(self, events: Iterable[Event]) -> int:
        """Add events not seen before and bring every derived table up to date. Usage events
        that do not count (tpuctl/domain/trust.py) are kept aside with the reason, and judged
        again when a control event changes the keys. Returns how many were new."""
        try:
            with _transaction(self.conn):
                return self.admit(events, self.known_ids, self._apply, lambda subjects: self._apply_nodes({}, subjects))
        except BaseException:
            self.forget_rules(rolled_back=True)
            raise

    def admit(self, events: Iterable[Event], known: Callable[[Iterable[str]], set[str]],
              apply: Callable[[list[Event]], None], replay_whole: Callable[[set[str]], None]) -> int:
        """Ingest's rules inside a transaction: which events are new (`known`), which count,
        `apply` for the counted usage events and `replay_whole` for nodes to replay from their events
        left after a dispute withdrew some (the bulk load keeps its state in memory)."""
        batch = {event.id: event for event in events}
        seen = known(batch)
        fresh = [event for event_id, event in batch.items() if event_id not in seen]
        if not fresh:
            return 0
        control = [event for event in fresh if event.kind in CONTROL_KINDS]
        if control:
            self.insert_events(control)
        trust = self._rules_now(fresh=bool(control)).trust
        new = self._judged([event for event in fresh if event.kind not in CONTROL_KINDS], trust)
        if control and trust.signed:
            again = self.rejected.all()
            counted = self._judged(again, trust, keep=False)
            self.rejected.forget([event.id for event in counted])
            new += counted
        if control and trust.disputed:
            replay_whole(trust_db.take_out(self, trust))
        apply(new)
        self._writes += 1
        return len(fresh)

    def bulk(self):
        """A fresh view filled in one transaction, replayed in memory (tpuctl/adapters/ledger_load.py);
        None when the view already holds events (then `ingest` keeps it up to date)."""
        from tpuctl.adapters.ledger_load import BulkLoad

        return BulkLoad(self) if self.is_fresh() else None

    def is_fresh(self) -> bool:
        return not self._query("SELECT EXISTS (SELECT 1 FROM events) OR EXISTS (SELECT 1 FROM rejected) "
                               "OR EXISTS (SELECT 1 FROM nodes) OR EXISTS (SELECT 1 FROM queued)")[0][0]

    def forget_rules(self, rolled_back: bool = False) -> None:
        """The rules are read again (a bulk load wrote control events); after a rollback, the
        signatures found to hold are forgotten too (their rows in `verified` were undone)."""
        self._rules = None
        self._writes += 1
        if rolled_back:
            self.signatures = trust_db.Signatures(self.conn)

    def _judged(self, events: list[Event], trust: Trust, keep: bool = True) -> list[Event]:
        counted, aside = trust_db.judge(events, trust, self.signatures)      # the rest kept aside with why
        self.rejected.add(aside if keep else [])
        return counted

    def insert_events(self, events: list[Event], written: Container[str] = ()) -> tuple[dict, dict]:
        """Store events (but those in `written`); returns the node and the queued-request ones, by subject."""
        subjects = {event.id: subject_of(event) for event in events}
        self.conn.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
            (event_row(e, subjects[e.id]) for e in events if e.id not in written))
        nodes: dict[str, list[Event]] = {}
        queued: dict[str, list[Event]] = {}
        for event in events:
            if (subject := subjects[event.id]) is not None:
                (nodes if event.kind in NODE_KINDS else queued).setdefault(subject, []).append(event)
        return nodes, queued

    def _apply(self, new: list[Event]) -> None:
        """Insert counted usage events and bring the derived tables up to date."""
        nodes, queued = self.insert_events(new)
        self._apply_nodes(nodes)
        self._apply_queued(queued)

    def _apply_nodes(self, groups: dict[str, list[Event]], whole: Iterable[str] = ()) -> None:
        """Nodes' new events replayed onto their state; `whole`: nodes replayed from all their
        counted events again (a dispute withdrew some)."""
        whole = set(whole)
        states = {row[0]: node_state(row) for row in
                  self._in(f"SELECT {NODE_COLUMNS} FROM nodes WHERE subject IN ({{}})", list({*groups, *whole}))}
        delta: dict[tuple, list[int]] = {}
        new_states, new_rows, gone = [], [], []
        for subject in {*groups, *whole}:
            replayed = None if subject in whole else replay_after(groups[subject], states.get(subject))
            if replayed is None:
                self._drop_intervals(subject, delta)        # out of order or withdrawn: replay it all again
                replayed = replay(self.subject_events(subject))
            state, intervals = replayed
            if state is None:
                gone.append((subject,))
                continue
            new_states.append(node_row(state))
            for interval in intervals:
                for row in interval_rows(interval):
                    new_rows.append(row)
                    add_usage(delta, row, 1)
        self.conn.executemany("DELETE FROM nodes WHERE subject = ?", gone)
        self.conn.executemany(f"INSERT OR REPLACE INTO nodes ({NODE_COLUMNS}) VALUES ({','.join('?' * 19)})",
                              new_states)
        self.conn.executemany("INSERT INTO intervals VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", new_rows)
        self.conn.executemany(
            "INSERT INTO usage_month VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET "
            "chip_seconds = chip_seconds + excluded.chip_seconds, seconds = seconds + excluded.seconds",
            ((*key, *value) for key, value in delta.items() if value != [0, 0]))
        if any(value[1] < 0 for value in delta.values()):      # a replay took some back
            self.conn.execute("DELETE FROM usage_month WHERE chip_seconds = 0 AND seconds = 0")

    def _drop_intervals(self, subject: str, delta: dict[tuple, list[int]]) -> None:
        for row in self._query("SELECT * FROM intervals WHERE subject = ?", (subject,)):
            add_usage(delta, row, -1)
        self.conn.execute("DELETE FROM intervals WHERE subject = ?", (subject,))

    def _apply_queued(self, groups: dict[str, list[Event]]) -> None:
        current = {row[0]: queued_request(row) for row in
                   self._in(f"SELECT {QUEUED_COLUMNS} FROM queued WHERE subject IN ({{}})", list(groups))}
        for subject, events in groups.items():
            for event in events:
                current[subject] = apply_queued(current.get(subject), event)
        self.conn.executemany(f"INSERT OR REPLACE INTO queued ({QUEUED_COLUMNS}) VALUES ({','.join('?' * 16)})",
                              (queued_row(current[subject]) for subject in groups))

    # --- how far the store was read: cursors, bad objects, segments (tpuctl/domain/segments.py) ---

    def cursor(self, prefix: str) -> str | None:
        return next(iter(self._query("SELECT last_key FROM cursors WHERE prefix = ?", (prefix,))), (None,))[0]

    def set_cursor(self, prefix: str, last_key: str) -> None:
        self.conn.execute("INSERT INTO cursors VALUES (?, ?) ON CONFLICT DO UPDATE SET last_key = "
                          "max(last_key, excluded.last_key)", (prefix, last_key))

    def record_bad_object(self, key: str, reason: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO bad_objects VALUES (?, ?)", (key, reason))

    def bad_objects(self) -> list[tuple[str, str]]:
        return self._query("SELECT key, reason FROM bad_objects ORDER BY key")

    def add_segment(self, key: str, start: datetime, end: datetime | None, events: int) -> None:
        """A segment read: `end` None when it was set aside (its range then counts as unsealed)."""
        self.conn.execute("INSERT OR REPLACE INTO segments VALUES (?, ?, ?, ?, ?)",
                          (key, us(start), us_opt(end), events, int(end is not None)))

    def segment_horizon(self) -> datetime | None:
        """Up to when segments were read and trusted: the end of the newest good one, or the
        start of the earliest one set aside (events after it must be read one by one)."""
        bad, good = self._query("SELECT (SELECT min(start_us) FROM segments WHERE trusted = 0), "
                                "(SELECT max(end_us) FROM segments WHERE trusted = 1)")[0]
        return dt_us_opt(bad if bad is not None else good)

    def segments(self) -> list[tuple[str, datetime, datetime | None, int]]:
        return [(key, dt_us(start), dt_us_opt(end), events) for key, start, end, events in
                self._query("SELECT key, start_us, end_us, events FROM segments ORDER BY key")]

    # --- answers --------------------------------------------------------------------------

    def event_ids(self) -> set[str]:
        return {row[0] for row in self.conn.execute("SELECT id FROM events")}

    def bodies(self, ids: list[str]) -> dict[str, bytes]:
        """These events' exact bytes as read from the store (or written), counted or not."""
        return {**dict(self._in("SELECT id, body FROM rejected WHERE id IN ({})", ids)),
                **dict(self._in("SELECT id, body FROM events WHERE id IN ({})", ids))}

    def event_count(self) -> int:
        return self._query("SELECT count(*) FROM events")[0][0]

    def subject_events(self, subject: str) -> list[Event]:
        return [Event.from_trusted_json(body) for (body,) in
                self._query("SELECT body FROM events WHERE subject = ?", (subject,))]

    def group_level_events(self) -> list[Event]:
        """Control events (not the reaper's notes, which grow with every run and decide nothing)."""
        return [Event.from_trusted_json(body) for (body,) in
                self._in("SELECT body FROM events WHERE subject IS NULL AND kind NOT IN ({})", sorted(REAP_KINDS))]

    def _rules_now(self, fresh: bool = False) -> GroupRules:
        token = (self._query("PRAGMA data_version")[0][0], self._writes)
        if fresh or self._rules is None or self._rules[0] != token:
            rules = group_rules(self.group_level_events(), self.genesis(), self.signatures.holds,
                                trust_db.sealed_ids(self.conn))
            self._rules = (None if fresh else token, rules)
        return self._rules[1]

    def rules(self) -> GroupRules:
        """Roles, keys, budgets, prices: replayed from the (few) control events, cached until written."""
        return self._rules_now()

    def genesis(self) -> Event | None:
        """The group's first event as read from `ledger/genesis.json` (None: a legacy group)."""
        return trust_db.read_genesis(self.conn)

    def note(self, name: str) -> str | None:
        """A small fact the view keeps about its store (e.g. how far it looked for a genesis)."""
        row = self.conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def set_note(self, name: str, value: str) -> None:
        self.conn.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT DO UPDATE SET value = excluded.value",
                          (name, value))

    def set_genesis(self, data: bytes, sealed: Iterable[tuple[str, str]] = ()) -> None:
        """Remember the genesis (checked by the caller) and judge every event again by it."""
        with _transaction(self.conn):
            trust_db.write_genesis(self.conn, data)
            trust_db.write_sealed(self.conn, sealed)
            self._writes += 1
        self._rules = None

    def month_usage(self, month: str, owner: str | None = None) -> dict[str, Counter]:
        """Closed usage in a month: chip-seconds per member and pricing key."""
        sql = "SELECT owner, zone, generation, accelerator_type, spot, chip_seconds FROM usage_month WHERE month = ?"
        usage: dict[str, Counter] = {}
        for member, zone, generation, accelerator_type, spot, chip_seconds in self._query(sql, (month,), owner):
            if chip_seconds:
                key = PriceKey(zone, generation, accelerator_type, bool(spot))
                usage.setdefault(member, Counter())[key] += chip_seconds
        return usage

    def open_nodes(self, owner: str | None = None) -> list[NodeState]:
        """Incarnations not deleted: creating, running, stopped or preempted."""
        sql = f"SELECT {NODE_COLUMNS} FROM nodes WHERE status != 'deleted'"
        return [node_state(row) for row in self._query(sql, owner=owner)]

    def node_states(self, subjects: Iterable[str]) -> list[NodeState]:
        return [node_state(row) for row in self._subjects(f"SELECT {NODE_COLUMNS} FROM nodes", subjects)]

    def waiting_queued(self, owner: str | None = None) -> list[QueuedRequest]:
        sql = f"SELECT {QUEUED_COLUMNS} FROM queued WHERE status = 'waiting'"
        return [queued_request(row) for row in self._query(sql, owner=owner)]

    def queued_requests(self, subjects: Iterable[str]) -> list[QueuedRequest]:
        """These requests whatever their status (observation needs the ended ones the API still lists)."""
        return [queued_request(row) for row in self._subjects(f"SELECT {QUEUED_COLUMNS} FROM queued", subjects)]

    def _subjects(self, select: str, subjects: Iterable[str]) -> Iterator[tuple]:
        return self._in(select + " WHERE subject IN ({})", list(subjects))

    def intervals(self, month: str, owner: str | None = None) -> list[UsageInterval]:
        """Closed intervals (their part inside `month`), for per-node reports."""
        return usage_intervals(self._query(INTERVALS + " WHERE month = ?", (month,), owner))

    def place_history(self, zone: str, node: str) -> tuple[list[UsageInterval], list[NodeState]]:
        """Every closed interval (all months) and every incarnation of the node named `node`."""
        intervals = usage_intervals(self._query(INTERVALS + " WHERE zone = ? AND node = ?", (zone, node)))
        states = [node_state(row) for row in
                  self._query(f"SELECT {NODE_COLUMNS} FROM nodes WHERE zone = ? AND node = ?", (zone, node))]
        return intervals, states

    def intervals_of_kind(self, zone: str, generation: str, spot: bool, start: datetime,
                          end: datetime) -> list[UsageInterval]:
        """Closed intervals of one zone, generation and model that overlap [start, end), whole
        (parts cut at a month's end joined on): a TRC grant serves TPUs by when they started."""
        rows = self._query(INTERVALS + " WHERE zone = ? AND generation = ? AND spot = ? AND end > ? AND start < ?",
                           (zone, generation, int(spot), sec(start), sec(end)))
        cut = sorted({row[0] for row in rows if row[2] % 86400 == 0 or row[3] % 86400 == 0})    # at a midnight
        whole = {(subject, seq): (lo, hi) for subject, seq, lo, hi in self._in(
            "SELECT subject, seq, min(start), max(end) FROM intervals WHERE subject IN ({}) GROUP BY subject, seq", cut)}
        joined = {}
        for row in rows:
            lo, hi = whole.get((row[0], row[1]), (row[2], row[3]))
            joined[(row[0], row[1])] = (*row[:2], lo, hi, *row[4:])
        return usage_intervals(joined.values())

    def events_between(self, kinds: Iterable[str], start: datetime, end: datetime) -> list[Event]:
        """Events of these kinds that happened in [start, end)."""
        return [Event.from_trusted_json(body) for (body,) in
                self._in("SELECT body FROM events WHERE kind IN ({}) AND time_us >= ? AND time_us < ?",
                         sorted(kinds), (us(start), us(end)))]

    def interval_ending(self, subject: str, end: datetime) -> UsageInterval | None:
        """The closed interval of an incarnation that ended at `end` (to the second)."""
        found = usage_intervals(self._query(INTERVALS + " WHERE subject = ? AND end = ?", (subject, sec(end))))
        return found[0] if found else None

    def months(self) -> list[str]:
        return [row[0] for row in self._query("SELECT DISTINCT month FROM usage_month ORDER BY month")]

    def reset(self) -> None:
        """Forget everything (the store is the truth); the next sync rebuilds."""
        with _transaction(self.conn):
            for table in ("events", "nodes", "intervals", "usage_month", "queued", "cursors", "bad_objects",
                          "segments", "admission_log", "admission_log_read", "rejected", "sealed"):
                self.conn.execute(f"DELETE FROM {table}")       # not `verified`: what held still holds
            self.conn.execute("DELETE FROM meta WHERE name = 'genesis'")
            self._writes += 1

