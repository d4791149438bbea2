"""Syncing: bringing the local view up to date with the group store, reading only what it lacks.

A sync pushes the outbox first, reads the group's genesis once, the sealed segments it lacks
(a fresh view fills in one bulk load), then the event objects no segment covers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import GroupStore
from tpuctl.domain.event_schema import EARLIEST, LATEST
from tpuctl.domain.events import EVENTS_PREFIX, GROUP_SEALED, Event, EventFormatError, id_time, key_event_id, listing_bound
from tpuctl.services.genesis import note_no_genesis, sync_genesis
from tpuctl.services.segments import read_all

# Events recorded by a machine whose clock runs behind can land just before the cursor;
# every sync lists again from this far back (ids already ingested are not read again).
# Segments seal only events far older than this (tpuctl/domain/segments.py).
SYNC_LOOKBACK = timedelta(minutes=30)
SYNC_BATCH = 10_000     # events read and ingested per transaction


@dataclass(frozen=True)
class SyncResult:
    listed: int
    new_events: int
    bad_objects: int


def _ingest_keys(store: GroupStore, db: LedgerDB, keys: list[str], readers: int = 1,
                 ingest: Callable[[list[Event]], int] | None = None) -> tuple[int, int]:
    """Read the keys whose events the database lacks; returns (new events, bad objects).
    `ingest` (default `db.ingest`) takes the events read (a bulk load passes its own)."""
    ids = {key: key_event_id(key) for key in keys}
    known = db.known_ids(i for i in ids.values() if i)
    wanted = [key for key, event_id in ids.items() if event_id not in known]
    named = [key for key in wanted if ids[key] is not None]
    bodies = dict(zip(named, read_all(store, named, readers)))
    events, bad = [], 0
    for key in wanted:
        event_id = ids[key]
        try:
            if event_id is None:
                raise EventFormatError(f"{key} is not named like a ledger event (<event-id>.json).")
            event = Event.from_json(bodies[key], origin=key)
            if event.id != event_id:
                raise EventFormatError(f"{key} holds event {event.id}, not the one its name says.")
        except EventFormatError as exc:
            db.record_bad_object(key, exc.message)
            bad += 1
            continue
        events.append(event)
    return (ingest or db.ingest)(events), bad


def sync_from_store(store: GroupStore, db: LedgerDB, lookback: timedelta = SYNC_LOOKBACK,
                    readers: int | None = None) -> SyncResult:
    """Bring the database up to date with the store, reading only events it has not seen
    (`readers` at once: by default as many as the store says are worth it): first the sealed
    segments it lacks, then the event keys after max(cursor, newest segment's end) - lookback
    (tpuctl/domain/segments.py says why no late event is missed). Nothing new: two listings.
    Events kept in the outbox while the store was away are written first."""
    from tpuctl.services.outbox import push
    from tpuctl.services.segments import read_new_segments

    push(store, db)
    readers = readers or store.parallel_reads
    sync_genesis(store, db, may_skip=True)
    new, bad = read_new_segments(store, db, readers)
    last = db.cursor(EVENTS_PREFIX)
    last_id = key_event_id(last) if last else None
    since = [when for when in (id_time(last_id) if last_id else None, db.segment_horizon()) if when is not None]
    start_after = listing_bound(max(since) - lookback) if since else last
    listed = 0
    batch: list[str] = []

    def flush() -> None:
        nonlocal new, bad
        added, broken = _ingest_keys(store, db, batch, readers)
        new, bad = new + added, bad + broken
        db.set_cursor(EVENTS_PREFIX, batch[-1])
        batch.clear()

    for key in store.list(EVENTS_PREFIX, start_after=start_after):
        listed += 1
        batch.append(key)
        if len(batch) >= SYNC_BATCH:
            flush()
    if batch:
        flush()
    if new and db.genesis() is None and db.events_between([GROUP_SEALED], EARLIEST, LATEST):
        if sync_genesis(store, db) is not None:       # sealed meanwhile: read everything again by the genesis
            return sync_from_store(store, db, lookback, readers)
    note_no_genesis(db)
    return SyncResult(listed, new, bad)


def watch_store(store: GroupStore, db: LedgerDB) -> LedgerDB:
    """`db`, once its store knows whether this view has read a ledger from it: a folder store that
    then holds none is an unmounted disk, refused like an unreachable store, not an empty group."""
    from tpuctl.domain.segments import SEGMENTS_PREFIX

    if any(db.cursor(prefix) is not None for prefix in (EVENTS_PREFIX, SEGMENTS_PREFIX)):
        store.expect_ledger()
    return db


def rebuild(store: GroupStore, db: LedgerDB) -> SyncResult:
    """Forget the local view and ingest every event again (from a store that may now hold none:
    a group that really started over)."""
    db.reset()
    store.expect_ledger(False)
    return sync_from_store(store, db)


@dataclass(frozen=True)
class Synced:
    observed: tuple[Event, ...]      # what changed without tpuctl, as now recorded


def sync(ctx) -> Synced:
    """`tpuctl sync` as one call: read new ledger events, then record what changed in the
    project without tpuctl."""
    from tpuctl.services.ledger import Books

    return Synced(tuple(Books(ctx.store, ctx.ledger, ctx.clock, None, ctx.profile.member).observe(ctx.api)))
