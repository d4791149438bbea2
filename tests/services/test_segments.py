"""Sealed segments: a first sync reads a month in a few requests, and no event is missed,
counted twice or trusted unchecked (late writers, racing sealers, tampered segments)."""

from __future__ import annotations

import gzip
import json
import threading
from datetime import datetime, timedelta, timezone

import pytest

from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import LocalStore, open_store
from tpuctl.domain.clock import ManualClock, utcnow
from tpuctl.domain.events import NODE_CREATED, NODE_DELETED, new_event, node_payload
from tpuctl.domain.segments import SEAL_HORIZON, SEGMENTS_PREFIX
from tpuctl.errors import ConfigError
from tpuctl.services import sync as svc
from tpuctl.services.ledger import Books
from tpuctl.services.segments import compact


class Counting:
    """A real store whose requests are counted (reads, listings, creates)."""

    def __init__(self, store, before_create=None):
        self.store, self.calls, self.before_create = store, [], before_create
        self.url, self.parallel_reads = store.url, store.parallel_reads

    def __getattr__(self, name):
        return getattr(self.store, name)

    def read(self, key):
        self.calls.append(("read", key))
        return self.store.read(key)

    def list(self, prefix="", start_after=None):
        self.calls.append(("list", prefix))
        return self.store.list(prefix, start_after)

    def create(self, key, data):
        if self.before_create and key.startswith(SEGMENTS_PREFIX):
            self.before_create()
        self.calls.append(("create", key))
        return self.store.create(key, data)


def write_usage(store, start, count, step=timedelta(minutes=1), prefix="n"):
    """`count` nodes created and deleted, one pair per `step`, recorded as they happened."""
    for i in range(count):
        when = start + i * step
        payload = node_payload(zone="us-central2-b", node=f"{prefix}{i}", accelerator_type="v4-8", chips=4, spot=False,
                               owner="alice", lease_until=when + timedelta(hours=4), request_id=f"{prefix}{i}")
        for kind, at in ((NODE_CREATED, when), (NODE_DELETED, when + step / 2)):
            event = new_event(kind, "alice", payload, at)
            store.create(event.key, event.to_json())


def same_view(a: LedgerDB, b: LedgerDB) -> None:
    assert a.event_ids() == b.event_ids()
    for month in set(a.months()) | set(b.months()):
        assert a.month_usage(month) == b.month_usage(month)


def version_1(data: bytes) -> bytes:
    """A segment as tpuctl wrote it before version 2 (every line `[key, text]`): still read."""
    lines = gzip.decompress(data).split(b"\n")
    header = {**json.loads(lines[0]), "v": 1}
    out = [json.dumps(header, separators=(",", ":"))]
    for line in lines[1:]:
        key, raw = line.split(b"\t", 1)
        out.append(json.dumps([key.decode(), raw.decode()], separators=(",", ":"), ensure_ascii=False))
    return gzip.compress("\n".join(out).encode(), mtime=0)


@pytest.fixture
def now():
    return utcnow()


def closed_month(now):
    """The start of the latest month that compaction at `now` seals whole, so no other month lies
    between it and now: last month once SEAL_HORIZON has passed since this month began, else
    the month before (last month then waits, short of its end and of MIN_SEGMENT events)."""
    this = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last = (this - timedelta(days=1)).replace(day=1)
    return last if now - SEAL_HORIZON >= this else (last - timedelta(days=1)).replace(day=1)


@pytest.mark.slow
def test_a_first_sync_reads_the_segments_and_only_the_newest_events(tmp_path, now):
    store = LocalStore(tmp_path / "store")
    last_month = closed_month(now)
    write_usage(store, last_month + timedelta(hours=1), 150, prefix="old")            # 300 events, month closed
    write_usage(store, now - timedelta(minutes=40), 5, prefix="new")                  # too young to seal
    result = compact(store, LedgerDB(tmp_path / "sealer.db"), ManualClock(now))
    assert [s.events for s in result.sealed] == [300]

    counted, fresh = Counting(store), LedgerDB(tmp_path / "fresh.db")
    synced = svc.sync_from_store(counted, fresh)
    reads = [key for call, key in counted.calls if call == "read"]
    assert reads[0] == "ledger/genesis.json"                # is the group signed? (a legacy one is not)
    assert reads[1].startswith(SEGMENTS_PREFIX) and len(reads) == 2 + 10    # one segment + the 10 young events
    assert synced.new_events == 310
    slow = LedgerDB(tmp_path / "event-by-event.db")
    for key in store.list("ledger/events/"):
        svc._ingest_keys(store, slow, [key])
    same_view(fresh, slow)

    counted.calls.clear()
    assert svc.sync_from_store(counted, fresh).new_events == 0
    assert len(counted.calls) <= 2 and all(call == "list" for call, _ in counted.calls)


def test_a_member_whose_view_holds_the_events_seals_them_without_reading_them_again(tmp_path, now):
    store = LocalStore(tmp_path / "store")
    last_month = closed_month(now)
    write_usage(store, last_month + timedelta(hours=1), 150)                           # 300 events, month closed
    sealer = LedgerDB(tmp_path / "sealer.db")
    svc.sync_from_store(store, sealer)                  # the member's view already holds them
    late = new_event(NODE_CREATED, "bob", node_payload(zone="us-central2-b", node="late", accelerator_type="v4-8",
                                                       chips=4, spot=False, owner="bob", lease_until=None,
                                                       request_id="late"), last_month + timedelta(hours=5))
    store.create(late.key, late.to_json())              # one the view has not read yet
    counted = Counting(store)
    assert [s.events for s in compact(counted, sealer, ManualClock(now)).sealed] == [301]
    reads = [key for call, key in counted.calls if call == "read" and key.startswith("ledger/events/")]
    assert reads == [late.key]                          # (the sync before sealing read it; nothing else again)
    fresh = LedgerDB(tmp_path / "fresh.db")
    svc.sync_from_store(store, fresh)
    slow = LedgerDB(tmp_path / "event-by-event.db")
    svc._ingest_keys(store, slow, list(store.list("ledger/events/")))
    same_view(fresh, slow)


def test_a_writer_whose_clock_is_ten_minutes_behind_is_never_missed(tmp_path, now):
    store = LocalStore(tmp_path / "store")
    start = (now - timedelta(hours=40)).replace(minute=0, second=0, microsecond=0)
    write_usage(store, start, 110, step=timedelta(minutes=20))      # 220 events up to about now - 3 h
    write_usage(store, now - timedelta(minutes=5), 3, step=timedelta(minutes=1), prefix="fresh")
    reader = LedgerDB(tmp_path / "reader.db")
    svc.sync_from_store(store, reader)
    assert len(compact(store, LedgerDB(tmp_path / "sealer.db"), ManualClock(now), min_events=100).sealed) == 1

    late = new_event(NODE_CREATED, "bob", node_payload(
        zone="us-central2-b", node="late", accelerator_type="v4-8", chips=4, spot=False, owner="bob",
        lease_until=now + timedelta(hours=4), request_id="late"), now - timedelta(minutes=10))
    store.create(late.key, late.to_json())           # written now, by a clock 10 minutes slow

    assert svc.sync_from_store(store, reader).new_events == 1
    fresh = LedgerDB(tmp_path / "fresh.db")
    assert svc.sync_from_store(store, fresh).new_events == 220 + 6 + 1
    same_view(reader, fresh)
    assert late.id in fresh.event_ids()


@pytest.mark.slow
def test_two_members_compacting_at_once_seal_each_run_once(tmp_path, now):
    store = LocalStore(tmp_path / "store")
    first = (closed_month(now) - timedelta(days=1)).replace(day=1)
    write_usage(store, first + timedelta(days=2), 100)                       # a closed month
    write_usage(store, first + timedelta(days=33), 100, prefix="m")          # the next, closed too
    both_ready = threading.Barrier(2, timeout=30)

    results = {}

    def member(name):
        results[name] = compact(Counting(store, before_create=both_ready.wait), LedgerDB(tmp_path / f"{name}.db"),
                                ManualClock(now))

    threads = [threading.Thread(target=member, args=(name,)) for name in ("ann", "ben")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    segments = list(store.list(SEGMENTS_PREFIX))
    assert len(segments) == 2
    assert sum(len(r.sealed) for r in results.values()) == 2 and sum(r.raced for r in results.values()) == 2
    fresh = LedgerDB(tmp_path / "fresh.db")
    assert svc.sync_from_store(store, fresh).new_events == 400
    assert fresh.event_count() == 400
    assert not fresh.bad_objects()


@pytest.mark.slow
def test_a_tampered_segment_is_set_aside_named_and_never_trusted(tmp_path, now):
    store = LocalStore(tmp_path / "store")
    last_month = closed_month(now)
    write_usage(store, last_month, 150)
    sealed = compact(store, LedgerDB(tmp_path / "sealer.db"), ManualClock(now)).sealed[0]
    honest = LedgerDB(tmp_path / "honest.db")
    svc.sync_from_store(store, honest)

    text = gzip.decompress(version_1(store.read(sealed.key))).decode()
    forged = text.replace('\\"chips\\":4', '\\"chips\\":\\"abc\\"', 1)          # one event's copy broken
    path = store.root / sealed.key
    path.write_bytes(gzip.compress(forged.encode()))
    one_bad = LedgerDB(tmp_path / "one-bad.db")
    svc.sync_from_store(store, one_bad)
    same_view(one_bad, honest)                                      # that event read from its own object
    problems = [p.message for p in Books(store, one_bad, ManualClock(utcnow()), None, "tess").verify()]
    assert any(sealed.key in m and "set aside" in m for m in problems)

    path.write_bytes(b"not gzip at all")
    garbage = LedgerDB(tmp_path / "garbage.db")
    result = svc.sync_from_store(store, garbage)
    same_view(garbage, honest)                                      # every event read one by one
    assert result.bad_objects == 1
    assert [p.message for p in Books(store, garbage, ManualClock(utcnow()), None, "tess").verify()] == [
        f"{sealed.key} is set aside: it is not a gzip'd JSON-lines segment (Error -3 while decompressing data: "
        "incorrect header check)."]


def test_a_segment_line_that_is_not_utf8_sets_the_segment_aside_instead_of_stopping_the_sync(tmp_path, now):
    store = LocalStore(tmp_path / "store")
    last_month = closed_month(now)
    write_usage(store, last_month, 20)
    sealed = compact(store, LedgerDB(tmp_path / "sealer.db"), ManualClock(now), min_events=1).sealed[0]
    text = gzip.decompress(version_1(store.read(sealed.key))).decode()
    (store.root / sealed.key).write_bytes(gzip.compress(text.replace("alice", "alice\\ud800", 1).encode()))
    view = LedgerDB(tmp_path / "view.db")
    result = svc.sync_from_store(store, view)
    assert (result.new_events, result.bad_objects) == (40, 1)        # every event read from its own object
    assert [reason for _, reason in view.bad_objects()] == [
        f"{sealed.key} is set aside: it has an unreadable line 2 ('utf-8' codec can't encode character '\\ud800' in "
        "position 15)."]


def test_a_member_whose_clock_is_off_does_not_seal(tmp_path, now):
    store = LocalStore(tmp_path / "store")
    write_usage(store, now - timedelta(days=40), 10)
    ahead = ManualClock(datetime.now(timezone.utc) + timedelta(minutes=10))
    with pytest.raises(ConfigError, match=r"^Your clock is (59\d|6\d\d) s ahead of the group store's"):   # (a slow probe)
        compact(store, LedgerDB(tmp_path / "db"), ahead)
    assert list(store.list(SEGMENTS_PREFIX)) == []


@pytest.mark.slow
def test_a_first_sync_from_a_bucket_reads_segments(gcs_bucket, tmp_path, now):
    store = open_store(f"gs://{gcs_bucket}/group")
    last_month = closed_month(now)
    write_usage(store, last_month + timedelta(hours=3), 100)
    assert [s.events for s in compact(store, LedgerDB(tmp_path / "sealer.db"), ManualClock(now)).sealed] == [200]
    counted, fresh = Counting(store), LedgerDB(tmp_path / "fresh.db")
    assert svc.sync_from_store(counted, fresh).new_events == 200
    assert [call for call, _ in counted.calls] == ["read", "list", "read", "list"]      # genesis, segments, events
    counted.calls.clear()
    assert svc.sync_from_store(counted, fresh).new_events == 0
    assert [call for call, _ in counted.calls] == ["list", "list"]          # nothing new: two round trips


def test_a_segment_keeps_each_events_exact_bytes_once_and_a_broken_copy_is_read_from_its_own_object(tmp_path, now):
    store = LocalStore(tmp_path / "store")
    last_month = closed_month(now)
    write_usage(store, last_month, 20)
    payload = node_payload(zone="us-central2-b", node="by-hand", accelerator_type="v4-8", chips=4, spot=False,
                           owner="alice", lease_until=None, request_id="by-hand")
    by_hand = new_event(NODE_CREATED, "alice", payload, last_month + timedelta(hours=2))
    pretty = json.dumps(by_hand.body(), indent=1).encode()              # written by hand: it holds newlines
    store.create(by_hand.key, pretty)
    sealed = compact(store, LedgerDB(tmp_path / "sealer.db"), ManualClock(now), min_events=1).sealed[0]
    lines = gzip.decompress(store.read(sealed.key)).split(b"\n")
    assert json.loads(lines[0])["v"] == 2 and len(lines) == 42
    assert sum(line.startswith(b"ledger/events/") and b"\t{" in line for line in lines) == 40    # bytes as they are
    assert json.loads(next(line for line in lines if line.startswith(b"[")))[1].encode() == pretty

    copy = next(line for line in lines if b'"node":"n3"' in line)
    broken = gzip.decompress(store.read(sealed.key)).replace(copy, copy.replace(b'"chips":4', b'"chips":"abc"'))
    (store.root / sealed.key).write_bytes(gzip.compress(broken))
    view = LedgerDB(tmp_path / "view.db")
    assert svc.sync_from_store(store, view).new_events == 41
    key = copy.split(b"\t")[0].decode()
    assert [reason for _, reason in view.bad_objects()] == [
        f"{sealed.key} holds a copy of {key} that is set aside: {key} is set aside: it field 'chips' is \"abc\", "
        "not a whole number of chips from 1 to 16384."]
    assert view.conn.execute("SELECT body FROM events WHERE id = ?", (by_hand.id,)).fetchone()[0] == pretty
    assert view.conn.execute("SELECT body FROM events WHERE id = ?", (key.rsplit("/", 1)[1][:-5],)).fetchone()[0] \
        == store.read(key)
