"""A first sync from sealed segments fills the view by the bulk load: every table of the view
ends up row for row what event-by-event ingest of the same store gives, with signed and
forged events, late ones, restarts, preemptions, deletes, queued resources and budgets."""

from __future__ import annotations

import gzip
import threading
from datetime import timedelta

import pytest

from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import LocalStore, UnavailableError
from tpuctl.domain.clock import ManualClock, utcnow
from tpuctl.domain.events import (
    BUDGET_SET, GENESIS_KEY, GROUP_INITIALIZED, KEY_ROTATED, MEMBER_ADDED, NODE_CREATED, NODE_DELETED,
    NODE_PREEMPTED, OBSERVATION_DISPUTED, NODE_READY, NODE_STARTED, NODE_STOPPED, QUEUED_CREATED, QUEUED_DELETED, QUEUED_FAILED,
    QUEUED_PROVISIONED, budget_payload, new_event, node_payload, queued_payload,
)
from tpuctl.domain.segments import SEGMENTS_PREFIX
from tpuctl.domain.signing import SigningKey
from tpuctl.adapters.user_files import load_price_table
from tpuctl.services import sync as svc
from tpuctl.services.ledger import Books
from tpuctl.services.segments import compact
from tests.services.test_segments import closed_month, version_1


class EventByEvent(LedgerDB):
    """The view as it was filled before the bulk load: `ingest`, batch by batch."""

    def bulk(self):
        return None


def tables(db: LedgerDB) -> dict[str, list[tuple]]:
    names = [row[0] for row in db.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {name: sorted(db.conn.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr) for name in names}


def indexes(db: LedgerDB) -> list[tuple]:
    return db.conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name").fetchall()


class Group:
    """A signed group whose events are written to a folder store as members' tpuctl would."""

    def __init__(self, store: LocalStore, start):
        self.store, self.keys = store, {name: SigningKey.generate() for name in ("tess", "alice", "bob", "mallory")}
        genesis = new_event(GROUP_INITIALIZED, "tess", {"treasurers": ["tess"], "currency": "USD",
                                                        "keys": {"tess": self.keys["tess"].public}}, start)
        self.genesis = genesis.signed(self.keys["tess"], genesis.id)
        store.create(GENESIS_KEY, self.genesis.to_json())

    def write(self, kind, actor, payload, recorded, happened=None, key=None, group=True, sign=True):
        event = new_event(kind, actor, payload, recorded, time=happened)
        if sign:
            event = event.signed(key or self.keys[actor], self.genesis.id if group else None)
        self.store.create(event.key, event.to_json())
        return event

    def node(self, name, owner, steps, actor=None, spot=False, request_id=None, source="tpuctl", **signing):
        payload = node_payload(zone="us-central2-b", node=name, accelerator_type="v4-8", chips=4, spot=spot,
                               owner=owner, lease_until=None, request_id=request_id or name, source=source)
        for kind, recorded, *happened in steps:
            self.write(kind, actor or owner, payload, recorded, happened[0] if happened else None, **signing)

    def queued(self, name, owner, steps):
        payload = queued_payload(zone="us-central2-b", name=name, node=f"{name}-node", accelerator_type="v4-8",
                                 chips=4, spot=False, owner=owner, lease_hours="3", request_id=f"r-{name}")
        for kind, recorded in steps:
            self.write(kind, owner, payload, recorded)


def a_signed_store(tmp_path, now, also=None) -> LocalStore:
    """Two closed months (two segments, read one batch each) and a few young events; `also(g, at)`
    writes more before the months are sealed."""
    store = LocalStore(tmp_path / "store")
    first = (closed_month(now) - timedelta(days=1)).replace(day=1)
    second = (first + timedelta(days=32)).replace(day=1)

    def at(day, hours=0.0, month=first):
        return month + timedelta(days=day - 1, hours=hours)

    g = Group(store, at(1))
    g.write(MEMBER_ADDED, "tess", {"member": "alice", "key": g.keys["alice"].public}, at(1, 1))
    g.write(MEMBER_ADDED, "tess", {"member": "bob", "key": g.keys["bob"].public}, at(1, 1))
    g.write(BUDGET_SET, "tess", budget_payload(scope="group", amount="500"), at(1, 2))
    g.write(BUDGET_SET, "tess", budget_payload(scope="member", member="alice", amount="150"), at(1, 2))
    g.write(BUDGET_SET, "bob", budget_payload(scope="member", member="bob", amount="9999"), at(1, 3))  # not a treasurer
    # restarts and a delete that crosses into the next month (and so into the next segment)
    g.node("alice-a", "alice", [(NODE_CREATED, at(3)), (NODE_READY, at(3, 0.1)), (NODE_STOPPED, at(3, 2)),
                                (NODE_STARTED, at(4)), (NODE_DELETED, at(2, 1, second))])
    # a spot TPU preempted in its first minute (free), and one preempted after hours
    g.node("bob-spot", "bob", [(NODE_READY, at(5)), (NODE_PREEMPTED, at(5, 0.01))], spot=True)
    g.node("bob-long", "bob", [(NODE_CREATED, at(6)), (NODE_READY, at(6, 0.2)), (NODE_PREEMPTED, at(6, 5)),
                               (NODE_DELETED, at(6, 6))], spot=True)
    # a node seen by a sync, unattributed, with a stop recorded late (in the next month) for earlier
    g.node("stray", "unattributed", [(NODE_READY, at(7), at(7)), (NODE_READY, at(8), at(7)),
                                     (NODE_DELETED, at(3, 0, second), at(7, 10))], actor="tess", source="observed")
    g.node("stray", "unattributed", [(NODE_STOPPED, at(3, 1, second), at(7, 5))], actor="tess", source="observed")
    # a TPU still running at the end, and one of alice's whose stop arrives a day late
    g.node("bob-run", "bob", [(NODE_CREATED, at(20, 0, second)), (NODE_READY, at(20, 1, second))])
    g.node("alice-late", "alice", [(NODE_READY, at(10)), (NODE_DELETED, at(11))])
    g.node("alice-late", "alice", [(NODE_STOPPED, at(12), at(10, 3))])
    # queued resources: provisioned, failed, deleted, still waiting
    g.queued("q1", "alice", [(QUEUED_CREATED, at(9)), (QUEUED_PROVISIONED, at(9, 1))])
    g.queued("q2", "bob", [(QUEUED_CREATED, at(9)), (QUEUED_FAILED, at(9, 2))])
    g.queued("q3", "bob", [(QUEUED_CREATED, at(9)), (QUEUED_DELETED, at(5, 0, second))])
    g.queued("q4", "alice", [(QUEUED_CREATED, at(25, 0, second))])
    # what does not count: forged, unsigned, from another group, on someone else's bill, keyless
    g.node("forged", "alice", [(NODE_READY, at(13)), (NODE_DELETED, at(13, 9))], key=g.keys["mallory"])
    g.node("unsigned", "bob", [(NODE_READY, at(14))], sign=False)
    g.node("elsewhere", "bob", [(NODE_READY, at(14, 1))], group=False)
    g.node("for-bob", "bob", [(NODE_CREATED, at(15)), (NODE_READY, at(15, 1))], actor="alice")
    g.node("keyless", "mallory", [(NODE_READY, at(16))], key=g.keys["mallory"])
    # mallory's first key, given later, counts from the start: the keyless event is judged again and
    # counts; bob's key changes, and what he signs with the old one after that does not
    g.write(MEMBER_ADDED, "tess", {"member": "mallory", "key": g.keys["mallory"].public}, at(6, 0, second))
    g.node("mallory-a", "mallory", [(NODE_READY, at(7, 0, second)), (NODE_DELETED, at(7, 4, second))])
    rotated = SigningKey.generate()
    g.write(KEY_ROTATED, "tess", {"member": "bob", "key": rotated.public}, at(8, 0, second))
    g.node("bob-new", "bob", [(NODE_READY, at(9, 0, second)), (NODE_DELETED, at(9, 3, second))], key=rotated)
    g.node("bob-old", "bob", [(NODE_READY, at(9, 5, second))])       # the old key no longer holds
    store.create("ledger/events/2026/01/not-an-event.json", b"{")
    if also is not None:
        also(g, at)
    assert len(compact(store, LedgerDB(tmp_path / "sealer.db"), ManualClock(now), min_events=1).sealed) == 2
    g.node("young", "alice", [(NODE_READY, now - timedelta(minutes=20))])         # not sealed yet
    g.node("bob-run", "bob", [(NODE_STOPPED, now - timedelta(minutes=10), at(27, 0, second))])
    return store


@pytest.fixture
def now():
    return utcnow()


def test_a_bulk_loaded_view_is_row_for_row_the_event_by_event_one(tmp_path, now):
    store = a_signed_store(tmp_path, now)
    segments = list(store.list(SEGMENTS_PREFIX))
    text = gzip.decompress(version_1(store.read(segments[0]))).decode()        # an old segment
    (store.root / segments[0]).write_bytes(gzip.compress(text.replace('\\"chips\\":4', '\\"chips\\":40', 1).encode()))

    before, bulk = EventByEvent(tmp_path / "before.db"), LedgerDB(tmp_path / "bulk.db")
    assert bulk.bulk() is not None and before.bulk() is None
    assert svc.sync_from_store(store, before) == svc.sync_from_store(store, bulk)
    assert tables(bulk) == tables(before) and indexes(bulk) == indexes(before)
    view = tables(bulk)
    assert len(view["rejected"]) == 10 and len(view["intervals"]) >= 8 and len(view["queued"]) == 4
    assert [row[0] for row in view["bad_objects"]] == [segments[0]]          # the broken copy, read again alone
    assert {row[0].split("/")[1] for row in view["nodes"]} >= {"alice-a", "alice-late", "stray", "keyless", "young"}
    report = Books(store, bulk, ManualClock(now), load_price_table(), "bob").month(member="bob")
    assert report == Books(store, before, ManualClock(now), load_price_table(), "bob").month(member="bob")

    before.reset()
    bulk.reset()                                    # `ledger rebuild` of either comes to the same view again
    svc.sync_from_store(store, before)
    svc.sync_from_store(store, bulk)
    assert tables(bulk) == tables(before) == view


class Unreachable(LocalStore):
    """A folder store that goes away after `reads` reads of segments."""

    def __init__(self, root, reads):
        super().__init__(root)
        self.reads = reads

    def read(self, key):
        if key.startswith(SEGMENTS_PREFIX):
            self.reads -= 1
            if self.reads < 0:
                raise UnavailableError(self.url, "the network is down")
        return super().read(key)


def test_a_bulk_load_cut_off_halfway_leaves_the_view_empty_and_the_next_sync_fills_it(tmp_path, now):
    store = a_signed_store(tmp_path, now)
    view = LedgerDB(tmp_path / "view.db")
    with pytest.raises(UnavailableError):
        svc.sync_from_store(Unreachable(store.root, reads=1), view)
    assert view.event_count() == 0 and view.segments() == [] and view.is_fresh()
    svc.sync_from_store(store, view)
    svc.sync_from_store(store, before := EventByEvent(tmp_path / "before.db"))
    assert tables(view) == tables(before)


def test_a_bulk_load_whose_events_a_second_process_checks_gives_the_same_view(tmp_path, now, monkeypatch):
    import resource

    from tpuctl.adapters import trust_db

    real_check = trust_db._check

    store = a_signed_store(tmp_path, now)
    segment = list(store.list(SEGMENTS_PREFIX))[0]
    text = gzip.decompress(store.read(segment))
    (store.root / segment).write_bytes(gzip.compress(text.replace(b'"chips":4', b'"chips":"4"', 1)))
    second_process_writes(monkeypatch)                  # many slices; one copy read again alone
    checked_here = []
    monkeypatch.setattr(trust_db, "_check", lambda event, key: checked_here.append(event.id) or real_check(event, key))
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    svc.sync_from_store(store, bulk := LedgerDB(tmp_path / "bulk.db"))
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime > children       # a second process checked
    with_help, checked_here[:] = len(checked_here), []
    svc.sync_from_store(store, before := EventByEvent(tmp_path / "before.db"))
    assert with_help <= len(checked_here) - 5        # signatures the second process checked are not checked again
    assert tables(bulk) == tables(before)
    assert len(tables(bulk)["bad_objects"]) == 1 and len(tables(bulk)["rejected"]) == 10
    verified = tables(bulk)["verified"]
    bulk.reset()                # `ledger rebuild`: the signature cache is kept, and loaded again into
    svc.sync_from_store(store, bulk)
    assert tables(bulk) == tables(before) and tables(bulk)["verified"] == verified != []


class Paused(LocalStore):
    """A folder store whose first segment read waits until the test lets it go."""

    def __init__(self, root):
        super().__init__(root)
        self.reading, self.go = threading.Event(), threading.Event()

    def read(self, key):
        if key.startswith(SEGMENTS_PREFIX) and not self.go.is_set():
            self.reading.set()
            assert self.go.wait(30)
        return super().read(key)


def test_a_command_opening_the_view_during_a_first_sync_waits_for_it_and_sees_the_whole_ledger(tmp_path, now):
    store = a_signed_store(tmp_path, now)
    paused, path, seen = Paused(store.root), tmp_path / "view.db", []
    syncing = threading.Thread(target=lambda: svc.sync_from_store(paused, LedgerDB(path)))
    syncing.start()
    assert paused.reading.wait(30)
    other = threading.Thread(target=lambda: seen.append(LedgerDB(path).event_count()))
    other.start()
    other.join(0.5)
    assert seen == []                       # it waits: the view is being filled
    paused.go.set()
    syncing.join(30)
    other.join(30)
    svc.sync_from_store(store, before := EventByEvent(tmp_path / "before.db"))
    from tpuctl.domain.events import EVENTS_PREFIX, listing_bound

    young = len(list(store.list(EVENTS_PREFIX, start_after=listing_bound(LedgerDB(path).segment_horizon()))))
    # never a half-filled view: all the segments held (the sync's young events may come just after)
    assert young > 0 and len(seen) == 1 and before.event_count() - young <= seen[0] <= before.event_count()
    assert LedgerDB(path).event_count() == before.event_count() and not (tmp_path / "view.db.loading").exists()


def test_a_view_another_process_has_open_is_filled_in_place_and_stays_readable_there(tmp_path, now):
    store = a_signed_store(tmp_path, now)
    other = LedgerDB(tmp_path / "view.db")          # (its own lock file handle, as another process has)
    (tmp_path / "view.db.loading").write_bytes(b"what a load killed outright left")
    view = LedgerDB(tmp_path / "view.db")
    svc.sync_from_store(store, view)
    svc.sync_from_store(store, before := EventByEvent(tmp_path / "before.db"))
    assert tables(other) == tables(view) == tables(before)
    other.close()
    view.reset()                                    # alone now: filled beside, the leftover file replaced
    svc.sync_from_store(store, view)
    assert tables(LedgerDB(tmp_path / "view.db")) == tables(before)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("view.db")) == [
        "view.db", "view.db-shm", "view.db-wal", "view.db.lock"]


def a_forged_copy_in_a_later_segment(store: LocalStore) -> str:
    """A segment sealed by hand just after the first one, repeating one of alice's events from the
    first slice of the first segment with bob as its owner: every copy after the first of an
    id is ignored."""
    from tpuctl.domain.segments import decode, encode, key_start, segment_key

    first = list(store.list(SEGMENTS_PREFIX))[0]
    segment = decode(first, store.read(first))
    key, raw = next((key, raw) for key, raw in segment.entries[:7] if b'"owner":"alice"' in raw)
    start = key_start(first) + timedelta(milliseconds=1)
    store.create(segment_key(start), encode(start, segment.end, [(key, raw.replace(b'"owner":"alice"',
                                                                                 b'"owner":"bob"'))]))
    return key


def second_process_writes(monkeypatch) -> None:
    """Every segment's slices (of 7 events) checked and written by the second process, but the
    first slice, which the loader reads itself while that process starts (whatever the number
    of cores of the machine running the tests)."""
    from tpuctl.services import segments

    monkeypatch.setattr(segments, "PARALLEL_FROM_SIGNED", 1)
    monkeypatch.setattr(segments, "PARALLEL_SLICE_SIGNED", 7)
    monkeypatch.setattr(segments, "second_core", lambda: True)


def test_a_copy_of_an_event_the_loader_read_itself_does_not_replace_it_in_the_view(tmp_path, now, monkeypatch):
    store = a_signed_store(tmp_path, now)
    key = a_forged_copy_in_a_later_segment(store)           # the second process meets it first
    second_process_writes(monkeypatch)
    svc.sync_from_store(store, bulk := LedgerDB(tmp_path / "bulk.db"))
    svc.sync_from_store(store, before := EventByEvent(tmp_path / "before.db"))
    assert tables(bulk) == tables(before)
    assert b'"owner":"alice"' in bulk.bodies([key.rsplit("/", 1)[1][:-5]])[key.rsplit("/", 1)[1][:-5]]
    assert not list(tmp_path.glob("bulk.db.*ing"))                  # neither load file is left behind


def test_a_second_process_that_dies_while_writing_leaves_the_load_to_start_again_here(tmp_path, now, monkeypatch):
    import os
    import signal

    from tpuctl.adapters import ledger_writer
    from tpuctl.services import segments

    store = a_signed_store(tmp_path, now)
    second_process_writes(monkeypatch)
    started = []
    real_check = segments._Checkers.check

    def check_then_die(self, part, keys, earlier):
        future = real_check(self, part, keys, earlier)
        if not started:
            started.append(future.result())        # it has written a slice: now it is killed
            os.kill(next(iter(self.pool._processes)), signal.SIGKILL)
        return future

    monkeypatch.setattr(segments._Checkers, "check", check_then_die)
    svc.sync_from_store(store, bulk := LedgerDB(tmp_path / "bulk.db"))
    svc.sync_from_store(store, before := EventByEvent(tmp_path / "before.db"))
    assert started and ledger_writer._conn is None            # (it ran in the other process, not here)
    assert tables(bulk) == tables(before)
    assert not list(tmp_path.glob("bulk.db.*ing"))


def a_ghost_and_its_dispute(g: Group, at) -> None:
    """alice's sync 'saw' a TPU that never ran (in the first month), and tess's sync withdrew
    those observations in the second: a withdrawal the loader reads after the events."""
    payload = node_payload(zone="us-central2-b", node="ghost", accelerator_type="v4-8", chips=4, spot=False,
                           owner="alice", lease_until=None, request_id=None, source="observed")
    seen = [g.write(kind, "alice", {**payload, "create_time": "2026-01-01T00:00:00.000000Z"}, at(17, hours))
            for kind, hours in ((NODE_CREATED, 0), (NODE_READY, 0.1))]
    second = (at(1) + timedelta(days=32)).replace(day=1)
    g.write(OBSERVATION_DISPUTED, "tess", {"zone": "us-central2-b", "node": "ghost", "events": [e.id for e in seen],
                                           "reason": "Cloud TPU did not list it"}, second + timedelta(days=3))


def test_events_a_dispute_withdrew_are_taken_out_of_a_view_the_second_process_wrote(tmp_path, now, monkeypatch):
    store = a_signed_store(tmp_path, now, also=a_ghost_and_its_dispute)
    second_process_writes(monkeypatch)
    svc.sync_from_store(store, bulk := LedgerDB(tmp_path / "bulk.db"))
    svc.sync_from_store(store, before := EventByEvent(tmp_path / "before.db"))
    assert tables(bulk) == tables(before)
    view = tables(bulk)
    assert sum("Cloud TPU did not list it" in row[3] for row in view["rejected"]) == 2
    assert not any("/ghost/" in row[0] for row in view["nodes"])


def test_the_files_a_load_killed_outright_left_do_not_stop_the_next_one(tmp_path, now, monkeypatch):
    store = a_signed_store(tmp_path, now)
    for leftover in ("bulk.db.loading", "bulk.db.writing"):        # a kill -9 of the loader mid-way
        (tmp_path / leftover).write_bytes(b"what a load killed outright left")
    second_process_writes(monkeypatch)
    svc.sync_from_store(store, bulk := LedgerDB(tmp_path / "bulk.db"))
    svc.sync_from_store(store, before := EventByEvent(tmp_path / "before.db"))
    assert tables(bulk) == tables(before)
    assert not list(tmp_path.glob("bulk.db.*ing"))
