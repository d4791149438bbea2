"""The SQLite ledger view on real files: schema, idempotent and incremental ingest, and
that any arrival order or batching gives the answers a rebuild from scratch gives."""

from __future__ import annotations

import random
import sqlite3
import tempfile
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import example, given, settings, strategies as st

from tpuctl.adapters.ledger_db import SCHEMA_VERSION, LedgerDB
from tpuctl.domain.events import (
    BUDGET_SET, GROUP_INITIALIZED, NODE_CREATED, NODE_DELETED, NODE_PREEMPTED, NODE_READY, NODE_STARTED,
    NODE_STOPPED, QUEUED_CREATED, QUEUED_PROVISIONED, budget_payload, new_event, node_payload, queued_payload,
)
from tpuctl.domain.intervals import node_histories
from tpuctl.domain.metering import PriceKey, month_usage
from tpuctl.errors import ConfigError

T0 = datetime(2026, 5, 31, 22, 0, tzinfo=timezone.utc)
V4 = PriceKey("us-central2-b", "v4", "v4-8", False)


def at(**delta) -> datetime:
    return T0 + timedelta(**delta)


def node_events(node, owner, steps, request_id=None, spot=False, lease_until=None):
    payload = node_payload(zone="us-central2-b", node=node, accelerator_type="v4-8", chips=4, spot=spot,
                           owner=owner, lease_until=lease_until, request_id=request_id or node)
    return [new_event(kind, owner, payload, when) for kind, when in steps]


def a_month_of_events() -> list:
    """A small group's month-end: restarts, a preemption, a node still running, a queue."""
    return [
        new_event(GROUP_INITIALIZED, "tess", {"treasurers": ["tess"], "currency": "USD"}, at()),
        new_event(BUDGET_SET, "tess", budget_payload(scope="member", member="alice", amount="100"), at(minutes=1)),
        new_event(BUDGET_SET, "bob", budget_payload(scope="group", amount="1"), at(minutes=2)),    # ignored
        *node_events("alice-a", "alice", [(NODE_CREATED, at()), (NODE_READY, at(minutes=2)),
                                          (NODE_STOPPED, at(minutes=32)), (NODE_STARTED, at(hours=1)),
                                          (NODE_DELETED, at(hours=3))]),             # crosses into June
        *node_events("bob-spot", "bob", [(NODE_READY, at(minutes=10)), (NODE_PREEMPTED, at(minutes=10, seconds=30))],
                     spot=True),                                                        # free: first minute
        *node_events("bob-b", "bob", [(NODE_CREATED, at(hours=1)), (NODE_READY, at(hours=1, seconds=45))],
                     lease_until=at(hours=5)),                                          # still running
        *node_events("gc", "unattributed", [(NODE_CREATED, at(minutes=5)), (NODE_READY, at(minutes=5))]),
        new_event(QUEUED_CREATED, "carol", queued_payload(zone="us-central2-b", name="q1", node="carol-v4",
                                                          accelerator_type="v4-8", chips=4, spot=False,
                                                          owner="carol", lease_hours="2", request_id="rq1"), at()),
        new_event(QUEUED_CREATED, "carol", queued_payload(zone="us-central2-b", name="q2", node="carol-2",
                                                          accelerator_type="v4-8", chips=4, spot=False,
                                                          owner="carol", lease_hours="1", request_id="rq2"), at()),
        new_event(QUEUED_PROVISIONED, "carol", queued_payload(zone="us-central2-b", name="q2", node="carol-2",
                                                              accelerator_type="v4-8", chips=4, spot=False,
                                                              owner="carol", lease_hours="1", request_id="rq2"),
                  at(minutes=30)),
    ]


EVENTS = a_month_of_events()


@pytest.fixture
def db(tmp_path):
    with LedgerDB(tmp_path / "ledger.db") as ledger:
        yield ledger


def test_a_new_database_is_a_wal_file_of_this_schema_version(tmp_path):
    LedgerDB(tmp_path / "ledger.db").close()
    conn = sqlite3.connect(tmp_path / "ledger.db")
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    reopened = LedgerDB(tmp_path / "ledger.db")
    assert reopened.event_count() == 0 and not reopened.emptied
    reopened.close()


def test_a_view_of_an_older_shape_is_emptied_to_be_rebuilt_not_migrated(tmp_path):
    conn = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
    conn.execute("CREATE TABLE events (id TEXT, body BLOB)")        # what an older tpuctl left
    conn.execute("INSERT INTO events VALUES ('x', 'y')")
    conn.close()
    with LedgerDB(tmp_path / "ledger.db") as db:
        assert db.emptied and db.event_count() == 0
        db.ingest(EVENTS)
        assert db.waiting_queued()[0].since == at()


def test_a_view_belongs_to_one_store_and_never_mixes_two_groups(tmp_path):
    with LedgerDB(tmp_path / "ledger.db", store_url="file:///groups/a") as db:
        db.ingest(EVENTS)
        db.set_cursor("ledger/events/", "ledger/events/2026/05/x.json")
    with LedgerDB(tmp_path / "ledger.db", store_url="file:///groups/a") as same:
        assert not same.emptied and same.event_count() == len(EVENTS)
    with LedgerDB(tmp_path / "ledger.db", store_url="gs://other-group") as other:
        assert other.emptied and other.event_count() == 0
        assert other.cursor("ledger/events/") is None and other.open_nodes() == []


def test_queued_requests_are_found_by_subject_whatever_their_status(db):
    db.ingest(EVENTS)
    found = db.queued_requests(["queued/us-central2-b/q1/rq1", "queued/us-central2-b/q2/rq2", "queued/nowhere/x/-"])
    assert sorted((q.name, q.status, q.since) for q in found) == [("q1", "waiting", at()), ("q2", "provisioned", at())]


def test_a_database_that_is_not_one_says_it_can_be_rebuilt(tmp_path):
    (tmp_path / "ledger.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigError) as caught:
        LedgerDB(tmp_path / "ledger.db")
    assert caught.value.message.startswith(f"The ledger database {tmp_path / 'ledger.db'} cannot be opened")
    assert caught.value.hint == "It is only a cache: delete it and run `tpuctl sync` to rebuild it."


def test_ingest_is_idempotent_by_id(db):
    assert db.ingest(EVENTS) == len(EVENTS)
    assert db.ingest(EVENTS[:5]) == 0
    assert db.ingest(reversed(EVENTS)) == 0
    assert db.event_count() == len(EVENTS)


def test_the_database_answers_spend_nodes_queues_and_rules(db):
    db.ingest(EVENTS)
    # closed usage only (running nodes are added at query time): 22:02-22:32 and 23:00-24:00;
    # bob's spot node was preempted in its first minute, so it is free
    assert db.month_usage("2026-05") == {"alice": Counter({V4: 4 * (30 * 60 + 60 * 60)})}
    assert db.month_usage("2026-06", "alice") == {"alice": Counter({V4: 4 * 3600})}
    assert sorted((s.spec.node, s.status) for s in db.open_nodes()) == [      # all not deleted
        ("bob-b", "ready"), ("bob-spot", "preempted"), ("gc", "ready")]
    assert [s.accruing_since for s in db.open_nodes("bob") if s.accruing] == [at(hours=1, seconds=45)]
    assert [(q.name, q.lease_hours) for q in db.waiting_queued()] == [("q1", Decimal("2"))]
    rules = db.rules()
    assert rules.budget_for("2026-05", "alice").amount == Decimal("100") and rules.budget_for("2026-05") is None
    assert [i.reason for i in rules.ignored] == ["bob is not a treasurer"]
    spot = [i for i in db.intervals("2026-05", "bob")]
    assert [(i.spec.node, i.seconds, i.chip_seconds, i.charged) for i in spot] == [("bob-spot", 30, 0, False)]


def snapshot(db: LedgerDB) -> dict:
    tables = ("usage_month", "intervals", "nodes", "queued")
    answers = {table: sorted(db.conn.execute(f"SELECT * FROM {table}").fetchall()) for table in tables}
    answers["rules"] = db.rules()
    return answers


def test_a_late_event_replays_its_node_and_fixes_the_totals(db):
    stop = [e for e in EVENTS if e.kind == NODE_STOPPED]
    db.ingest([e for e in EVENTS if e not in stop])
    assert db.month_usage("2026-05", "alice") == {"alice": Counter({V4: 4 * 118 * 60})}   # as if never stopped
    db.ingest(stop)
    assert db.month_usage("2026-05", "alice") == {"alice": Counter({V4: 4 * 90 * 60})}


@pytest.mark.slow
@settings(max_examples=20, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(1, 8))
def test_any_order_and_batching_gives_the_answers_of_a_rebuild(rnd, batches):
    arrival = EVENTS + rnd.sample(EVENTS, 6)             # some arrive twice
    rnd.shuffle(arrival)
    cuts = sorted(rnd.sample(range(1, len(arrival)), batches - 1))
    with tempfile.TemporaryDirectory() as folder:
        with LedgerDB(Path(folder) / "incremental.db") as incremental, LedgerDB(Path(folder) / "rebuilt.db") as rebuilt:
            for start, end in zip([0, *cuts], [*cuts, len(arrival)], strict=True):
                incremental.ingest(arrival[start:end])
            rebuilt.ingest(sorted(EVENTS, key=lambda e: e.id))
            assert snapshot(incremental) == snapshot(rebuilt)
            closed = [i for _, intervals in node_histories(EVENTS).values() for i in intervals]
            for month in ("2026-05", "2026-06"):
                assert incremental.month_usage(month) == month_usage(closed, month)


def test_two_processes_worth_of_connections_can_ingest_at_once(tmp_path):
    path = tmp_path / "ledger.db"
    LedgerDB(path).close()
    halves = [EVENTS[::2], EVENTS[1::2]]

    def ingest(events):
        with LedgerDB(path) as ledger:
            for event in events:
                ledger.ingest([event])

    threads = [threading.Thread(target=ingest, args=(half,)) for half in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with LedgerDB(path) as ledger, LedgerDB(tmp_path / "one.db") as one:
        one.ingest(EVENTS)
        assert ledger.event_count() == len(EVENTS) and snapshot(ledger) == snapshot(one)


def test_reset_forgets_everything_and_a_reingest_restores_it(db):
    db.ingest(EVENTS)
    before = snapshot(db)
    db.reset()
    assert db.event_count() == 0 and db.month_usage("2026-05") == {} and db.rules().currency is None
    db.ingest(random.Random(3).sample(EVENTS, len(EVENTS)))
    assert snapshot(db) == before


@settings(max_examples=300, deadline=None)
@example(start=datetime(2026, 1, 31, 23, 30), length=3600, zones=(2, 2), charged=True)     # one local month, two UTC ones
@example(start=datetime(2026, 12, 31, 23, 59, 59), length=1, zones=(0, 0), charged=False)
@given(start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)),
       length=st.sampled_from([0, 1, 59, 3600, 3 * 86400, 40 * 86400]) | st.integers(0, 90 * 86400),
       zones=st.sampled_from([(0, 0), (0, 2), (2, 2), (-5, 0)]), charged=st.booleans())
def test_an_interval_is_written_one_row_per_month_it_touches(start, length, zones, charged):
    """The view's rows of an interval, within a month or across months, years and UTC offsets,
    are its parts as the books cut them (split_by_month)."""
    from tpuctl.adapters.ledger_rows import interval_rows
    from tpuctl.domain.intervals import NodeSpec, UsageInterval
    from tpuctl.domain.metering import split_by_month

    begin = start.replace(tzinfo=timezone.utc).astimezone(timezone(timedelta(hours=zones[0])))
    end = (begin + timedelta(seconds=length)).astimezone(timezone(timedelta(hours=zones[1])))
    spec = NodeSpec("us-central2-b", "n", "v4-8", "v4", 4, False, "alice", None, None, None)
    interval = UsageInterval("us-central2-b/n/r", 2, spec, begin, end, charged)
    expected = [(month, int(part.start.timestamp()), int(part.end.timestamp()))
                for month, part in split_by_month(interval)]
    assert [(row[2], row[3], row[4]) for row in interval_rows(interval)] == expected
    assert all(row[:2] == ("us-central2-b/n/r", 2) and row[5] == int(charged) for row in interval_rows(interval))
