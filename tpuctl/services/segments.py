"""Sealing older ledger events into segments (`tpuctl ledger compact`) and reading them back.

The format, and the rule that keeps a late event from ever being missed, are in
tpuctl/domain/segments.py. A segment is a copy, never the only home of an event: the event
objects stay, so a segment set aside costs only speed, and every event read from a segment
goes through the same `Event.from_json` check as a lone event object (in a bulk load of large
segments, in a second process, a slice ahead of the ingest).
"""

from __future__ import annotations

import multiprocessing
import os
import uuid
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable, Iterator

from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import GroupStore, ObjectExists
from tpuctl.domain.clock import Clock
from tpuctl.domain.event_read import check_slice, read_quick
from tpuctl.domain.events import EVENTS_PREFIX, Event, EventFormatError, id_time, key_event_id, listing_bound
from tpuctl.domain.segments import (
    MAX_SEAL_SKEW, MAX_SEGMENT, MIN_SEGMENT, SEGMENTS_PREFIX, Segment, SegmentError, decode, encode, key_start,
    month_end, seal_end, segment_key,
)
from tpuctl.errors import ConfigError

if TYPE_CHECKING:
    from tpuctl.adapters.ledger_load import BulkLoad

CLOCK_PROBES = "tmp/clock/"        # short-lived objects whose store timestamps tell the store's time
# Events of a segment come in id order, so large batches replay each node once: a fresh view
# fills about twice as fast with 50,000 a transaction as with a sync's 10,000.
SEGMENT_BATCH = 50_000
# A bulk load of a large segment has its events parsed and checked by a second process, a
# slice at a time, while this one ingests the slice before (a third of the work), on a machine of 2 cores or more.
PARALLEL_FROM = 50_000      # events in a segment (the second process takes a few tenths of a second to start)
PARALLEL_FROM_SIGNED = 5_000    # in a signed group, where it also checks most signatures (60 us each)
PARALLEL_SLICE = 10_000
PARALLEL_SLICE_SIGNED = 2_000   # (a signed slice is five times the work: smaller ones keep both busy)


def read_all(store: GroupStore, keys: list[str], readers: int) -> list[bytes]:
    """The objects at `keys`, in order, read by up to `readers` threads (one GET each on GCS,
    so a first sync of thousands of events would otherwise take minutes)."""
    if readers <= 1 or len(keys) < 2 * readers:
        return [store.read(key) for key in keys]
    with ThreadPoolExecutor(max_workers=readers, thread_name_prefix="tpuctl-read") as pool:
        return list(pool.map(store.read, keys))


# --- the store's clock -------------------------------------------------------------------------

def store_skew(store: GroupStore, clock: Clock) -> timedelta:
    """How far the store's clock is ahead of ours (negative: behind), from one object written
    and removed; the round trip's half is taken as the error."""
    key = f"{CLOCK_PROBES}{uuid.uuid4().hex}"
    before = clock.now()
    store.create(key, b"")
    after = clock.now()
    try:
        written = store.written_at(key)
    finally:
        store.delete(key)
    return written - (before + (after - before) / 2)


# --- reading segments during a sync ----------------------------------------------------------

def _parse_entries(segment_key_: str, entries, others: set[int] | None = None, written: set[str] | None = None,
                   ) -> tuple[list[Event], list[str], str | None]:
    """(good events, keys to read from their own objects, the first problem met). `others`: all
    entries but these were checked by a second process and are read again without a second check;
    `written`: filled with their ids (when that process wrote them to the view)."""
    events, again, problem = [], [], None
    for number, (key, raw) in enumerate(entries):
        if others is not None and number not in others and (event := read_quick(Event, raw, check=False)):
            events.append(event)
            if written is not None:
                written.add(event.id)
            continue
        try:
            event = Event.from_json(raw, origin=key)
            if not key.endswith(f"/{event.id}.json"):       # decode checked the key is an event's
                raise EventFormatError(f"{key} holds event {event.id}, not the one its name says.")
        except EventFormatError as exc:
            again.append(key)
            problem = problem or f"{segment_key_} holds a copy of {key} that is set aside: {exc.message}"
            continue
        events.append(event)
    return events, again, problem


def read_new_segments(store: GroupStore, db: LedgerDB, readers: int) -> tuple[int, int]:
    """Read the segments the database lacks; returns (new events, bad objects). A fresh view
    (a first sync, a rebuild) is filled by one bulk load (tpuctl/adapters/ledger_load.py)."""
    keys = list(store.list(SEGMENTS_PREFIX, start_after=db.cursor(SEGMENTS_PREFIX)))
    bulk = db.bulk() if keys else None
    if bulk is None:
        return _read_segments(store, db, keys, readers, db.ingest)
    try:
        with ExitStack() as stack, bulk:           # (the second process outlives the load's last step)
            return _read_segments(store, db, keys, readers, bulk.ingest, _Checkers(stack, bulk))
    except _WriterLost:                 # what it wrote went with it: the load starts again, here alone
        with db.bulk() as bulk:
            return _read_segments(store, db, keys, readers, bulk.ingest)


class _WriterLost(Exception):
    """The second process ended while it was writing the load's events."""


def second_core() -> bool:
    """Has this process a second core to check on? (Decided by cores, not by the load: on a
    quiet 2-core machine the loader alone makes the load about 1, and a second process still
    saves time; on a busy one the kernel shares the cores out anyway.)"""
    try:
        return len(os.sched_getaffinity(0)) > 1
    except (AttributeError, OSError):
        return (os.cpu_count() or 1) > 1


class _Checkers:
    """A second process, started when the first large segment needs it, ended with the load.
    When the view is filled beside its file, it also writes the events it checks into a file of
    its own that becomes the view (tpuctl/adapters/ledger_writer.py): SQLite's inserts, a third
    of the work, run beside this process's judging and replay."""

    def __init__(self, stack: ExitStack, bulk: BulkLoad):
        self.stack, self.bulk, self.pool, self.warm, self.writing = stack, bulk, None, False, False

    def get(self) -> Executor | None:
        if self.pool is None and not second_core():
            self.pool = False           # a second process would only wait for the one core
        if self.pool is None:
            try:
                self.pool = ProcessPoolExecutor(1, multiprocessing.get_context("spawn"))
            except (OSError, ValueError, NotImplementedError):         # no second process here: parse inline
                self.pool = False
            else:
                self.stack.callback(self.pool.shutdown, True, cancel_futures=True)
                self._start_writer()
        return self.pool or None

    def _start_writer(self) -> None:
        from tpuctl.adapters import ledger_writer

        path = self.bulk.writer_file()
        if path is None:
            return
        self.pool.submit(ledger_writer.start, path)
        self.writing = True
        self.bulk.writer_finish = self.finish

    def check(self, part: list, keys: dict | None, earlier: list):
        """Check (and when writing, write) a slice in the second process: a future of (bad, held)."""
        from tpuctl.adapters import ledger_writer

        return self.pool.submit(ledger_writer.write if self.writing else check_slice, part, keys, earlier)

    def lost(self, exc: Exception) -> None:
        """The second process is gone: what it wrote went with it (raise _WriterLost), or, when it
        only checked, the caller checks here instead (return)."""
        if self.writing:
            raise _WriterLost() from exc

    def finish(self) -> Callable[[], None]:
        """Ask the second process to build its indexes and commit; returns the wait for it."""
        from tpuctl.adapters import ledger_writer

        try:
            done = self.pool.submit(ledger_writer.finish)
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            raise _WriterLost() from exc

        def wait() -> None:
            try:
                done.result()
            except (BrokenProcessPool, OSError) as exc:
                raise _WriterLost() from exc
        return wait


def _checked_batches(key: str, entries: tuple, checkers: _Checkers | None, db: LedgerDB) -> Iterator[tuple]:
    """`_parse_entries` of each batch of a segment's entries: checked in the second process, a
    slice ahead of the caller, for a large segment of a bulk load; else here. In a signed group
    the second process checks most of the signatures too, and vouches for them to the view.
    The slices go to the second process on this call, so it can work on them while the caller
    ingests the segment before."""
    trust = db.rules().trust
    least = PARALLEL_FROM_SIGNED if trust.signed else PARALLEL_FROM
    if checkers is None or len(entries) < least or checkers.get() is None:
        return ((*_parse_entries(key, entries[first:first + SEGMENT_BATCH]), None)
                for first in range(0, len(entries), SEGMENT_BATCH))
    keys = None
    if trust.signed:
        keys = {member: [s.key for s in standings if s.key] for member, standings in trust.roster.history.items()}
    size = PARALLEL_SLICE_SIGNED if trust.signed else PARALLEL_SLICE
    slices = [entries[first:first + size] for first in range(0, len(entries), size)]
    here = 0 if checkers.warm else 1            # the first slice here, while the second process starts
    checkers.warm = True
    try:
        futures = [None] * here + [checkers.check(part, keys, slices[0] if here and number == 1 else ())
                                   for number, part in enumerate(slices[here:], here)]
    except (BrokenProcessPool, OSError, RuntimeError) as exc:
        checkers.lost(exc)
        futures = [None] * len(slices)
    return _checked_results(key, slices, futures, checkers, db)


def _checked_results(key: str, slices: list, futures: list, checkers: _Checkers, db: LedgerDB) -> Iterator[tuple]:
    for part, future in zip(slices, futures):
        try:
            bad, held = future.result() if future is not None else (None, {})
        except (BrokenProcessPool, OSError) as exc:     # the second process died
            checkers.lost(exc)
            bad, held = None, {}
        if held:
            db.signatures.vouch({key_event_id(part[number][0]): (signer, part[number][1])
                                 for number, signer in held.items()})
        written = set() if future is not None and checkers.writing else None
        yield (*_parse_entries(key, part, None if bad is None else set(bad), written), written)


def _decoded(store: GroupStore, keys: list[str], readers: int) -> Iterator[tuple[str, Segment | str]]:
    """(key, the segment there, or why it is set aside), `readers` read at a time."""
    for offset in range(0, len(keys), max(readers, 1)):
        chunk = keys[offset:offset + max(readers, 1)]
        for key, body in zip(chunk, read_all(store, chunk, readers if len(chunk) > 1 else 1)):
            try:
                yield key, decode(key, body)
            except SegmentError as exc:
                yield key, f"{key} is set aside: it {exc}."


def _read_segments(store: GroupStore, db: LedgerDB, keys: list[str], readers: int,
                   ingest: Callable[[list[Event]], int], checkers: _Checkers | None = None) -> tuple[int, int]:
    """Ingest the segments at `keys`, in order; each one's slices go to the second process (if
    any) before the one before it is ingested, so that process never waits at a segment's end."""
    from tpuctl.services.sync import _ingest_keys

    new = bad = 0

    def take(key: str, segment: Segment | str, batches: Iterator[tuple]) -> None:
        nonlocal new, bad
        if isinstance(segment, str):
            db.record_bad_object(key, segment)
            if (start := key_start(key)) is not None:
                db.add_segment(key, start, None, 0)
            bad += 1
        else:
            for events, again, problem, written in batches:
                new += ingest(events, written) if written else ingest(events)
                if again:
                    db.record_bad_object(key, problem)
                    added, broken = _ingest_keys(store, db, again, readers, ingest)
                    new, bad = new + added, bad + broken + 1
            db.add_segment(key, segment.start, segment.end, len(segment.entries))
        db.set_cursor(SEGMENTS_PREFIX, key)

    waiting = None
    for key, segment in _decoded(store, keys, readers):
        batches = iter(()) if isinstance(segment, str) else _checked_batches(key, segment.entries, checkers, db)
        if waiting is not None:
            take(*waiting)
        waiting = (key, segment, batches)
    if waiting is not None:
        take(*waiting)
    return new, bad


# --- sealing -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sealed:
    key: str
    start: datetime
    end: datetime
    events: int


@dataclass(frozen=True)
class CompactResult:
    sealed: tuple[Sealed, ...]
    raced: int                   # segments another member sealed first (theirs is kept)
    waiting: int                 # unsealed events not yet old or many enough to seal


def _next_start(store: GroupStore, db: LedgerDB) -> datetime | None:
    """Where the next segment starts: the newest segment's end, else the first event's time."""
    segments = db.segments()
    if segments:
        key, start, end, _ = segments[-1]
        if end is None:
            raise ConfigError(f"The newest segment {key} is set aside, so nothing can be sealed after it.",
                              hint="`tpuctl ledger verify` says why; remove that object from the store to seal again.")
        return end
    for key in store.list(EVENTS_PREFIX):
        if (event_id := key_event_id(key)) is not None:
            return id_time(event_id)
    return None


def _range_keys(store: GroupStore, start: datetime, end: datetime) -> list[str]:
    high, keys = listing_bound(end), []
    for key in store.list(EVENTS_PREFIX, start_after=listing_bound(start)):
        if key >= high:
            break
        if key_event_id(key) is not None:
            keys.append(key)
    return keys


def _bodies(store: GroupStore, db: LedgerDB, keys: list[str], readers: int) -> list[tuple[str, bytes]]:
    """The objects at `keys`: the exact bytes the view read of them (the sync just before read
    every one it could), and from the store only the rest, so sealing costs a far store
    almost no requests."""
    ids = {key: key_event_id(key) for key in keys}
    held = db.bodies(list(ids.values()))
    missing = [key for key in keys if ids[key] not in held]
    fetched = dict(zip(missing, read_all(store, missing, readers)))
    return [(key, held.get(ids[key]) or fetched[key]) for key in keys]


def compact(store: GroupStore, db: LedgerDB, clock: Clock, readers: int | None = None,
            min_events: int = MIN_SEGMENT) -> CompactResult:
    """Seal every run of events old enough (SEAL_HORIZON) into segments, oldest first; a run
    of fewer than `min_events` waits unless its month has ended."""
    from tpuctl.services.sync import sync_from_store

    readers = readers or store.parallel_reads
    skew = store_skew(store, clock)
    if abs(skew) > MAX_SEAL_SKEW:
        raise ConfigError(f"Your clock is {abs(skew).total_seconds():.0f} s {'behind' if skew > timedelta() else 'ahead of'} "
                          "the group store's, so tpuctl will not seal events.",
                          hint="Set your clock right (NTP), then run `tpuctl ledger compact` again.")
    now = clock.now()
    sealed, raced, tried = [], 0, set()
    while True:
        sync_from_store(store, db, readers=readers)
        start = _next_start(store, db)
        if start is None or start in tried:
            break
        tried.add(start)
        end = seal_end(start, now)
        keys = _range_keys(store, start, end) if end > start else []
        if len(keys) > MAX_SEGMENT:
            end = id_time(key_event_id(keys[MAX_SEGMENT]))
            keys = [key for key in keys if key < listing_bound(end)]
        if end <= start or (len(keys) < min_events and end < month_end(start)):
            return CompactResult(tuple(sealed), raced, len(keys))
        entries = []
        for key, raw in _bodies(store, db, keys, readers):
            try:
                if Event.from_json(raw, origin=key).id == key_event_id(key):
                    entries.append((key, raw))      # anything set aside stays a lone object, for verify
            except EventFormatError:
                pass
        key = segment_key(start)
        try:
            store.create(key, encode(start, end, entries))
        except ObjectExists:
            raced += 1                  # another member sealed this run first: read theirs, go on
            continue
        sealed.append(Sealed(key, start, end, len(entries)))
    return CompactResult(tuple(sealed), raced, 0)
