"""The view's memory of signatures: which events were not counted and why, which signatures
already held, the group's genesis and the ids a seal kept.

Checking an Ed25519 signature costs tens of microseconds, so a million events would add
about a minute to a first sync. What held is remembered by event id, the sha256 of the
object's bytes and the key it held with; `ledger rebuild` keeps that table, so reading the
store again checks only what it has not checked before.
"""

from __future__ import annotations

import sqlite3
from typing import Iterable

from tpuctl.domain.events import Event
from tpuctl.domain.signing import digest, signature_holds, signature_holds_raw
from tpuctl.domain.trust import Trust, is_judged

TRUST_SCHEMA = """
CREATE TABLE rejected (id TEXT PRIMARY KEY, actor TEXT NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL,
    body BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE verified (id TEXT PRIMARY KEY, digest BLOB NOT NULL, key TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE sealed (id TEXT PRIMARY KEY, digest TEXT NOT NULL) WITHOUT ROWID;
"""
_CHUNK = 500


class Signatures:
    """Signature checks with a cache that outlives the view's other tables."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self._held: dict[str, tuple[bytes, str]] = {}
        self._ok: set[tuple[str, str]] = set()         # (id, key) found to hold in this batch
        self._vouched: dict[str, tuple[str, bytes]] = {}    # id -> (key, bytes): held in a second process

    def vouch(self, found: dict[str, tuple[str, bytes]]) -> None:
        """Signatures a bulk load's second process found to hold over these bytes with these
        keys (tpuctl/domain/event_read.py `check_slice`): not checked again here."""
        self._vouched.update(found)

    def _verify(self, event: Event, key: str) -> bool:
        vouched = self._vouched.pop(event.id, None)
        if vouched is not None and vouched[0] == key and vouched[1] == event.to_json():
            return True
        return _check(event, key)

    def prefetch(self, wanted: Iterable[tuple[Event, str]]) -> None:
        """Check a batch of (event, key) pairs at once: the cache first, then the rest."""
        if len(self._held) > 50_000:          # a batch at a time: a first sync of a million stays small
            self._held.clear()
            self._ok.clear()
        pairs = [(event, key) for event, key in wanted if event.sig is not None and event.id not in self._held]
        ids = [event.id for event, _ in pairs]
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            rows = self.conn.execute(f"SELECT id, digest, key FROM verified WHERE id IN ({','.join('?' * len(chunk))})",
                                     chunk)
            for event_id, held_digest, key in rows:
                self._held[event_id] = (held_digest, key)
        fresh = []
        for event, key in pairs:
            if self.holds(event, key, check=False) is None and self._verify(event, key):
                fresh.append((event.id, digest(event.to_json()), key))
                self._ok.add((event.id, key))
        self._remember(fresh)

    def holds(self, event: Event, key: str, check: bool = True) -> bool | None:
        """Does `event`'s signature verify with `key`? (None with check=False: not known yet.)"""
        if (event.id, key) in self._ok:
            return True
        known = self._held.get(event.id)
        if known is not None and known[1] == key and known[0] == digest(event.to_json()):
            self._ok.add((event.id, key))
            return True
        if not check:
            return None
        if known is None:
            row = self.conn.execute("SELECT digest, key FROM verified WHERE id = ?", (event.id,)).fetchone()
            if row is not None:
                self._held[event.id] = (row[0], row[1])
                return self.holds(event, key)
        if self._verify(event, key):
            self._remember([(event.id, digest(event.to_json()), key)])
            return True
        return False

    def _remember(self, rows: list[tuple[str, bytes, str]]) -> None:
        if rows:
            self.conn.executemany("INSERT OR REPLACE INTO verified VALUES (?, ?, ?)", rows)
            for event_id, held_digest, key in rows:
                self._held[event_id] = (held_digest, key)


def judge(events: list[Event], trust: Trust, signatures: Signatures) -> tuple[list[Event], list[tuple[Event, str]]]:
    """Split events into those that count and those that do not, with the reason."""
    if not trust.signed and not trust.disputed:
        return events, []
    judged = [event for event in events if is_judged(event)]
    if trust.signed:
        signatures.prefetch((e, s.key) for e in judged if (s := trust.roster.at(e.actor, e.recorded)) and s.key)
    counted, aside = [], []
    for event in events:
        problem = trust.usage_problem(event, signatures.holds) if is_judged(event) else None
        (aside.append((event, problem)) if problem else counted.append(event))
    return counted, aside


def _check(event: Event, key: str) -> bool:
    if event.raw is not None:
        return signature_holds_raw(key, event.raw)
    return signature_holds(key, event.body(), event.sig)


class Rejected:
    """Usage events that do not count, each with the reason `ledger verify` gives."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def add(self, events: list[tuple[Event, str]]) -> None:
        self.conn.executemany("INSERT OR REPLACE INTO rejected VALUES (?, ?, ?, ?, ?)",
                              ((e.id, e.actor, e.kind, reason, e.to_json()) for e, reason in events))

    def known(self, ids: list[str]) -> set[str]:
        found = set()
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            found |= {row[0] for row in self.conn.execute(
                f"SELECT id FROM rejected WHERE id IN ({','.join('?' * len(chunk))})", chunk)}
        return found

    def all(self) -> list[Event]:
        return [Event.from_trusted_json(body) for (body,) in self.conn.execute("SELECT body FROM rejected")]

    def forget(self, ids: list[str]) -> None:
        self.conn.executemany("DELETE FROM rejected WHERE id = ?", ((i,) for i in ids))

    def reasons(self) -> list[tuple[str, str, str, str]]:
        """(id, actor, kind, reason) of every event not counted, oldest first."""
        return self.conn.execute("SELECT id, actor, kind, reason FROM rejected ORDER BY id").fetchall()


def read_genesis(conn: sqlite3.Connection) -> Event | None:
    row = conn.execute("SELECT value FROM meta WHERE name = 'genesis'").fetchone()
    return Event.from_trusted_json(row[0].encode()) if row else None


def write_genesis(conn: sqlite3.Connection, data: bytes) -> None:
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('genesis', ?)", (data.decode(),))


def sealed_ids(conn: sqlite3.Connection) -> dict[str, str]:
    """The events the group's seal kept: id -> sha256 hex of their bytes."""
    return dict(conn.execute("SELECT id, digest FROM sealed"))


def write_sealed(conn: sqlite3.Connection, kept: Iterable[tuple[str, str]]) -> None:
    conn.executemany("INSERT OR IGNORE INTO sealed VALUES (?, ?)", kept)


def history(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(id, sha256 hex of its bytes) of every event in the view, oldest first: what a seal states."""
    return [(event_id, digest(body).hex()) for event_id, body in conn.execute("SELECT id, body FROM events ORDER BY id")]


def take_out(db, trust: Trust) -> set[str]:
    """Observations a sync disputed (tpuctl/domain/trust.py) stop counting in the view `db`
    (a LedgerDB, inside its ingest transaction): kept aside with the reason. Returns the nodes
    to replay from what is left."""
    from tpuctl.domain.intervals import subject_of

    found = [Event.from_trusted_json(body) for (body,) in
             db._in("SELECT body FROM events WHERE id IN ({})", list(trust.disputed))]
    out = [(event, why) for event in found if (why := trust.dispute_of(event))]
    db.conn.executemany("DELETE FROM events WHERE id = ?", ((event.id,) for event, _ in out))
    db.rejected.add(out)
    return {subject_of(event) for event, _ in out}
