"""Metering end to end: tpuctl's own actions and `sync` observations against the emulator,
through the real client, with one clock that the test moves for both tpuctl and the emulator.

Expected costs are worked out here by hand from the shipped price file: v4 lists at $3.22
per chip-hour on demand and $0.92 spot, and a v4-8 has 4 chips.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from tests.conftest import ZONE
from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import LocalStore
from tpuctl.config import resolve_profile
from tpuctl.domain.budgets import RequestRefused
from tpuctl.domain.events import EVENTS_PREFIX, NODE_CREATED, NODE_DELETED, OVERRIDE_GRANTED, Event
from tpuctl.domain.metering import cost
from tpuctl.errors import CapacityError
from tests.conftest import enrol
from tpuctl.adapters.user_files import load_price_table
from tpuctl.services import nodes, queue
from tpuctl.services.ledger import Books
from tpuctl.services import group as group_svc

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=timezone.utc)
V4 = Decimal("3.22")
V4_SPOT = Decimal("0.92")


class Group:
    """One study group: a store, a ledger file, and the emulator's own clock."""

    def __init__(self, tmp_path, api, emulator):
        emulator.clock.set(T0)
        self.api, self.emulator, self.clock = api, emulator, emulator.clock
        self.store = LocalStore(tmp_path / "store")
        self.db = LedgerDB(tmp_path / "ledger.db")
        self.table = load_price_table()
        group_svc.init_group(self.store, self.db, self.clock, "tess", ["tess"])
        enrol(self.store, self.db, self.clock, "alice", "cron")

    def books(self, member: str) -> Books:
        return Books(self.store, self.db, self.clock, self.table, member, lister=lambda: self.api)

    def later(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def create(self, member: str, name: str, spot: bool = False, hours: float = 4, override: str | None = None):
        books = self.books(member)
        request = nodes.build_create_request(resolve_profile(), name, "v4-8", zone=ZONE, runtime_version=None,
                                             spot=spot, hours=hours, labels={})
        return nodes.create_node(self.api, books, request, books.admit(request.usage(books.actor), override))

    def node(self, name: str):
        return self.api.get_node(ZONE, name)

    def sync(self):
        return self.books("cron").observe(self.api)

    def spend(self, member: str):
        return self.books(member).month(member=member).members[0]

    def events(self) -> list[Event]:
        return [Event.from_json(self.store.read(key)) for key in self.store.list(EVENTS_PREFIX)]


@pytest.fixture
def group(tmp_path, api, emulator):
    return Group(tmp_path, api, emulator)


def test_create_stop_start_delete_bills_exactly_the_ready_seconds(group):
    group.create("alice", "alice-v4")
    group.later(3617)
    nodes.stop_node(group.api, group.books("alice"), group.node("alice-v4"))
    group.later(600)                                    # stopped: not billed
    nodes.start_node(group.api, group.books("alice"), group.node("alice-v4"))
    group.later(1805)
    nodes.delete_node(group.api, group.books("alice"), group.node("alice-v4"))
    group.later(7200)                                   # deleted: nothing more

    mine = group.spend("alice")
    [row] = mine.nodes
    assert (row.node, row.status, row.seconds) == ("alice-v4", "deleted", 3617 + 1805)
    assert mine.standing.spent.money == cost(4 * (3617 + 1805), V4) == Decimal("19.398711")   # 21688 chip-s
    assert mine.standing.committed.money == 0
    assert group.sync() == []                           # tpuctl wrote it all; nothing to observe


def test_a_running_node_is_spent_so_far_and_committed_until_its_lease_ends(group):
    group.create("alice", "alice-v4", hours=4)
    group.later(3600)
    mine = group.spend("alice").standing
    assert mine.spent.money == 4 * V4                   # one hour so far
    assert mine.committed.money == 3 * 4 * V4           # three more hours of lease


def test_preemption_ends_accrual_at_the_sync_that_sees_it(group):
    group.create("alice", "alice-spot", spot=True)
    group.later(7200)
    group.emulator.preempt(ZONE, "alice-spot")
    assert [e.kind for e in group.sync()] == ["node.preempted"]
    group.later(3 * 3600)
    assert group.sync() == []

    mine = group.spend("alice")
    assert [(n.status, n.seconds) for n in mine.nodes] == [("preempted", 7200)]
    assert mine.standing.spent.money == 2 * 4 * V4_SPOT
    assert mine.standing.committed.money == 0           # a preempted node holds no lease


def test_a_node_deleted_behind_tpuctls_back_is_closed_at_the_sync_that_sees_it(group):
    group.create("alice", "alice-v4")
    group.later(3600)
    group.api.delete_node(ZONE, "alice-v4")            # e.g. from the console
    group.later(1800)
    assert [(e.kind, e.payload["source"]) for e in group.sync()] == [("node.deleted", "observed")]
    group.later(3600)
    assert group.spend("alice").nodes[0].seconds == 5400


def test_a_node_made_without_tpuctl_is_billed_to_unattributed_from_its_create_time(group):
    group.api.create_node(ZONE, "stray", accelerator_type="v4-8", runtime_version="tpu-ubuntu2204-base",
                          spot=False, labels={})
    group.later(1800)
    assert {e.kind for e in group.sync()} == {"node.created", "node.ready"}
    stray = group.spend("unattributed")
    assert stray.nodes[0].node == "stray" and stray.nodes[0].seconds == 1800
    assert stray.standing.spent.money == 2 * V4


def test_a_node_made_with_gcloud_and_deleted_with_tpuctl_before_any_sync_is_still_billed(group):
    group.api.create_node(ZONE, "stray", accelerator_type="v4-8", runtime_version="tpu-ubuntu2204-base",
                          spot=False, labels={})
    group.later(1800)
    nodes.delete_node(group.api, group.books("alice"), group.node("stray"))
    group.later(3600)
    assert group.sync() == []
    stray = group.spend("unattributed")
    assert [(n.node, n.status, n.seconds) for n in stray.nodes] == [("stray", "deleted", 1800)]
    assert [e.actor for e in group.events() if e.payload.get("node") == "stray"] == ["alice"] * 3


def test_admission_refuses_with_the_numbers_and_creates_nothing(group):
    group_svc.set_budget(group.store, group.db, group.clock, "tess", "60", member="alice")
    group.create("alice", "first", hours=2)             # $25.76 committed
    group.later(1800)                                   # $6.44 spent, $19.32 still committed
    with pytest.raises(RequestRefused) as refused:
        group.create("alice", "second", hours=3)        # $38.64 > $60 - $6.44 - $19.32
    assert refused.value.message == ("Refused: alice's budget for 2026-05 is $60.00: spent $6.44, "
                                     "committed $19.32, requested $38.64, left $34.24.")
    assert [n.name for n in group.api.list_nodes(ZONE)] == ["first"]
    assert "second" not in {e.payload.get("node") for e in group.events()}


def test_a_node_preempted_since_the_last_sync_no_longer_holds_its_lease_at_admission(group):
    group_svc.set_budget(group.store, group.db, group.clock, "tess", "20", member="alice")
    group.create("alice", "first", spot=True)           # $14.72 committed: 4 chips x $0.92 x 4 h
    group.later(60)
    group.emulator.preempt(ZONE, "first")              # nobody has synced since
    second = group.create("alice", "second", spot=True)
    assert second.state == "READY"
    assert {(e.kind, e.payload["node"]) for e in group.events() if e.payload.get("source") == "observed"} == {
        ("node.preempted", "first")}
    with pytest.raises(RequestRefused):                # a real refusal stays one
        group.create("alice", "third", spot=True)


def test_a_treasurer_override_is_recorded_and_a_members_is_refused(group):
    group_svc.set_budget(group.store, group.db, group.clock, "tess", "10", member=None)       # everyone: $10
    with pytest.raises(RequestRefused) as refused:
        group.create("alice", "alice-v4", override="deadline tomorrow")
    assert "alice is not a treasurer, so the override does not apply" in refused.value.message

    group.create("tess", "tess-v4", override="paper deadline")
    [grant] = [e for e in group.events() if e.kind == OVERRIDE_GRANTED]
    assert (grant.actor, grant.payload["member"], grant.payload["reason"]) == ("tess", "tess", "paper deadline")
    assert group.node("tess-v4").owner == "tess"


def test_a_create_that_fails_is_closed_at_once_and_commits_nothing(group):
    group.emulator.set_capacity(ZONE, "v4", 0)
    with pytest.raises(CapacityError):
        group.create("alice", "alice-v4")
    assert [e.kind for e in group.events() if e.payload.get("node") == "alice-v4"] == [NODE_CREATED, NODE_DELETED]
    mine = group.spend("alice").standing
    assert mine.committed.money == 0 and mine.spent.money == 0


def test_a_queued_request_commits_its_lease_until_provisioned_then_its_node_accrues(group):
    group.emulator.set_capacity(ZONE, "v4", 0)
    books = group.books("alice")
    request = queue.build_queue_request(resolve_profile(), "waiter", "v4-8", now=group.clock.now(), zone=ZONE,
                                        hours=2)
    queue.queue_create(group.api, books, request, books.admit(request.usage(books.actor)))
    assert group.spend("alice").standing.committed.money == 2 * 4 * V4

    group.later(600)
    group.emulator.set_capacity(ZONE, "v4", 100)        # capacity frees: Cloud TPU makes the node
    kinds = sorted(e.kind for e in group.sync())
    assert kinds == ["node.created", "node.ready", "queued.provisioned"]
    group.later(3600)
    mine = group.spend("alice")
    assert [(n.node, n.seconds) for n in mine.nodes] == [("waiter", 3600)]
    assert mine.standing.spent.money == 4 * V4
    assert mine.standing.committed.money == 4 * V4      # one hour of its 2-hour lease left


def test_a_queued_request_deleted_with_gcloud_stops_committing_at_the_next_sync(group):
    group.emulator.set_capacity(ZONE, "v4", 0)
    books = group.books("alice")
    request = queue.build_queue_request(resolve_profile(), "waiter", "v4-8", now=group.clock.now(), zone=ZONE)
    queue.queue_create(group.api, books, request, books.admit(request.usage(books.actor)))
    group.api.delete_queued_resource(ZONE, "waiter", force=False)
    # A request recorded in the last 15 minutes may still be on its way to Cloud TPU: kept.
    assert group.sync() == []
    group.later(16 * 60)
    assert [e.kind for e in group.sync()] == ["queued.deleted"]
    assert group.spend("alice").standing.committed.money == 0


def test_a_node_made_outside_tpuctl_with_a_fractional_create_time_closes_once(group):
    """Cloud TPU's createTime carries fractions; the node.created from the first sync and the
    node.deleted from a later one must name the same incarnation, or it accrues forever."""
    group.clock.set(T0.replace(microsecond=123_456))
    group.api.create_node(ZONE, "by-gcloud", accelerator_type="v4-8", runtime_version="tpu-ubuntu2204-base",
                          spot=False, labels={})
    assert group.node("by-gcloud").create_time.microsecond == 123_456
    group.sync()
    group.later(3600)
    group.api.delete_node(ZONE, "by-gcloud")
    group.sync()
    group.later(3600)
    group.sync()
    deleted = [e for e in group.events() if e.kind == NODE_DELETED]
    assert len(deleted) == 1
    assert group.db.open_nodes() == []
    spent = group.spend("unattributed").standing.spent
    assert spent.chip_seconds == 4 * 3600        # READY at 09:00:00.123456, gone at 10:00:00.123456
    assert spent.money == cost(4 * 3600, V4)
