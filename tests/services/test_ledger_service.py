"""Ledger use cases on a real temp store and SQLite file with a clock the test moves.

`Lister` stands in for the Cloud TPU adapter's listings (the only calls observation makes); emulator-backed tests of the same flows go through the real client."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tpuctl.adapters import keys
from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import LocalStore
from tpuctl.domain.budgets import RequestRefused, UsageRequest
from tpuctl.domain.clock import ManualClock
from tpuctl.domain.listing import Listing
from tpuctl.domain.events import (
    BUDGET_SET, EVENTS_PREFIX, NODE_CREATED, NODE_DELETED, NODE_READY, NODE_STOPPED, OVERRIDE_GRANTED, Event,
    budget_payload, new_event, new_event_id, node_payload,
)
from tpuctl.domain.nodes import LEASE_LABEL, OWNER_LABEL, REQUEST_LABEL, NodeInfo, lease_label_value
from tpuctl.errors import ConfigError, ConflictError, PermissionDeniedError, UsageError
from tpuctl.adapters.user_files import load_price_table
from tpuctl.services.ledger import Books
from tpuctl.services.sync import rebuild, sync_from_store
from tpuctl.services import group as group_svc
from tests.conftest import enrol

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=timezone.utc)
ZONE = "us-central2-b"


class Lister:
    """What the API lists, set by the test."""

    def __init__(self):
        self.nodes: list[NodeInfo] = []
        self.queued = []
        self.unreachable: list[str] = []

    def list_nodes(self, zone=None):
        assert zone is None            # observation always lists every zone
        return Listing(self.nodes, self.unreachable)

    def list_queued_resources(self, zone=None):
        assert zone is None
        return Listing(self.queued, self.unreachable)


class Group:
    def __init__(self, tmp_path):
        self.store = LocalStore(tmp_path / "store")
        self.db = LedgerDB(tmp_path / "ledger.db")
        self.clock = ManualClock(T0)
        self.table = load_price_table()
        self.api = Lister()
        group_svc.init_group(self.store, self.db, self.clock, "tess", ["tess"])
        enrol(self.store, self.db, self.clock, "alice", "bob", "cron")
        group_svc.set_budget(self.store, self.db, self.clock, "tess", "100", member="alice")
        group_svc.set_budget(self.store, self.db, self.clock, "tess", "50", member=None)      # default allowance
        group_svc.set_budget(self.store, self.db, self.clock, "tess", "1000", group=True)

    def later(self, **delta):
        self.clock.advance(timedelta(**delta).total_seconds())
        return self.clock.now()

    def tpuctl(self, kind, node="alice-v4", owner="alice", hours=4, spot=False, request_id=None):
        """What `tpuctl create/stop/start/delete` records for a v4-8."""
        payload = node_payload(zone=ZONE, node=node, accelerator_type="v4-8", chips=4, spot=spot, owner=owner,
                               lease_until=T0 + timedelta(hours=hours), request_id=request_id or f"req-{node}")
        return self.books(owner).record(kind, payload)

    def listed(self, name="alice-v4", state="READY", owner="alice", request_id=None, create_time=None, spot=False):
        labels = {OWNER_LABEL: owner, REQUEST_LABEL: request_id or f"req-{name}",
                  LEASE_LABEL: lease_label_value(T0 + timedelta(hours=4))} if owner else {}
        return NodeInfo(name=name, zone=ZONE, accelerator_type="v4-8", state=state, spot=spot, labels=labels,
                        create_time=create_time)

    def sync(self):
        return self.books("cron").observe(self.api)

    def report(self, **kwargs):
        return self.books("tess").month(**kwargs)

    def admit(self, member="alice", hours=1, actor=None, reason=None):
        request = UsageRequest.for_type(member, ZONE, "v4-8", spot=False, hours=hours, request_id="req-new")
        return self.books(actor or member).admit(request, reason)

    def books(self, actor):
        return Books(self.store, self.db, self.clock, self.table, actor)


@pytest.fixture
def group(tmp_path):
    g = Group(tmp_path)
    yield g
    g.db.close()


def money(report, member):
    return next(m.standing.spent.money for m in report.members if m.member == member)


def test_create_stop_start_delete_is_billed_to_the_second(group):
    group.tpuctl(NODE_CREATED)
    group.later(seconds=95)
    group.tpuctl(NODE_READY)
    group.later(hours=1, seconds=7)
    group.tpuctl(NODE_STOPPED)
    group.later(minutes=30)
    group.tpuctl("node.started")
    group.later(minutes=20, seconds=3)
    group.tpuctl("node.deleted")
    (alice,) = group.report(member="alice").members
    assert alice.standing.spent.chip_seconds == 4 * (3607 + 1203)
    assert alice.standing.spent.money == Decimal("17.209111")        # 4810 s x 4 chips = 5.3444 chip-h x $3.22
    assert [(n.node, n.status, n.seconds) for n in alice.nodes] == [("alice-v4", "deleted", 4810)]


def test_the_store_is_written_first_and_a_database_that_missed_it_catches_up(group, tmp_path):
    event = group.tpuctl(NODE_CREATED)
    assert Event.from_json(group.store.read(event.key)) == event
    other = new_event(BUDGET_SET, "tess", budget_payload(scope="member", member="bob", amount="75"),
                      group.clock.now()).signed(keys.signing_key("tess"), group.db.genesis().id)
    group.store.create(other.key, other.to_json())                   # written by another terminal
    assert sync_from_store(group.store, group.db).new_events == 1
    assert group.db.rules().budget_for("2026-05", "bob").amount == Decimal("75")


def test_an_event_written_again_after_a_lost_reply_is_one_event_but_a_clash_is_an_error(group):
    event = group.tpuctl(NODE_CREATED)
    assert group.books("alice").record_event(event) == event              # the retry finds its own bytes
    assert group.db.event_count() == len(list(group.store.list(EVENTS_PREFIX)))
    clash = Event(event.id, event.time, "mallory", event.kind, event.payload)
    with pytest.raises(ConflictError):
        group.books("alice").record_event(clash)


def test_a_racer_recording_the_same_decision_with_its_own_key_is_not_a_clash(group):
    """Releasers racing on one job write the same node.deleted (its id chosen once), each signed
    on its own machine: the one already in the store stands, and the loser goes on."""
    decided = Event(new_event_id(group.clock.now()), group.clock.now(), "alice", NODE_DELETED,
                    node_payload(zone=ZONE, node="alice-v4", accelerator_type="v4-8", chips=4, spot=False,
                                 owner="alice", lease_until=T0, request_id="req-alice-v4"))
    theirs = decided.signed(keys.signing_key("bob"), group.db.genesis().id)         # another machine's key
    group.store.create(theirs.key, theirs.to_json())
    assert group.books("alice").record_event(decided) == theirs
    assert group.store.read(theirs.key) == theirs.to_json()


def test_sync_reads_only_new_events_yet_catches_a_writer_whose_clock_is_behind(group):
    first = sync_from_store(group.store, group.db)
    assert (first.listed, first.new_events) == (6, 0)           # listed once, already ingested when recorded
    group.later(hours=1)
    group.tpuctl(NODE_CREATED)
    late = new_event(BUDGET_SET, "tess", budget_payload(scope="group", amount="900"),
                     group.clock.now() - timedelta(minutes=5)    # its id sorts before the cursor
                     ).signed(keys.signing_key("tess"), group.db.genesis().id)
    group.store.create(late.key, late.to_json())
    result = sync_from_store(group.store, group.db)
    # listed: the 2 new keys, and the 6 recorded within the lookback before the cursor (not read again)
    assert (result.listed, result.new_events) == (8, 1)
    assert group.db.rules().budget_for("2026-05").amount == Decimal("900")
    group.later(hours=1)
    group.tpuctl(NODE_READY)
    assert sync_from_store(group.store, group.db).listed == 3       # the old ones are no longer listed


def test_a_node_deleted_behind_tpuctls_back_is_closed_at_the_sync_that_sees_it(group):
    group.tpuctl(NODE_CREATED)
    group.tpuctl(NODE_READY)
    group.api.nodes = [group.listed()]
    assert group.sync() == []                                      # in line with the ledger
    group.later(hours=2, seconds=10)
    group.api.nodes = []                                           # deleted in the console
    (closed,) = group.sync()
    assert (closed.kind, closed.time, closed.payload["source"]) == ("node.deleted", group.clock.now(), "observed")
    group.later(hours=5)
    assert money(group.report(), "alice") == Decimal("25.795778")   # 7210 s x 4 chips x $3.22 / 3600


def test_preemption_ends_accrual_at_the_sync(group):
    group.tpuctl(NODE_CREATED, spot=True)
    group.tpuctl(NODE_READY, spot=True)
    group.later(minutes=45)
    group.api.nodes = [group.listed(state="PREEMPTED", spot=True)]
    assert [e.kind for e in group.sync()] == ["node.preempted"]
    group.later(hours=3)
    assert group.sync() == []
    assert money(group.report(), "alice") == Decimal("2.76")        # 3 chip-h x $0.92 spot


def test_a_node_made_outside_tpuctl_is_unattributed_and_counts_for_the_group(group):
    group.api.nodes = [group.listed(name="from-gcloud", owner=None, create_time=T0 - timedelta(hours=1))]
    assert [e.kind for e in group.sync()] == ["node.created", "node.ready"]
    report = group.report()
    assert report.unattributed.money == Decimal("12.88") and report.unattributed.chip_seconds == 4 * 3600
    assert report.group.spent.money == Decimal("12.88")


def test_a_create_killed_before_node_ready_is_billed_to_its_owner_by_the_next_sync(group):
    group.tpuctl(NODE_CREATED)                                   # written, then the process was SIGKILLed
    group.later(minutes=30)
    group.api.nodes = [group.listed(create_time=T0 + timedelta(seconds=40))]
    assert [(e.kind, e.time) for e in group.sync()] == [("node.ready", T0 + timedelta(seconds=40))]
    (alice,) = group.report(member="alice").members
    assert alice.standing.spent.chip_seconds == 4 * (30 * 60 - 40)
    assert alice.nodes[0].status == "ready"


def test_admission_refuses_with_the_numbers_and_records_a_treasurers_override(group):
    group.tpuctl(NODE_CREATED)
    group.tpuctl(NODE_READY)                                     # lease until 13:00: 4 h committed
    group.later(hours=2)
    with pytest.raises(RequestRefused) as caught:
        group.admit(hours=4)
    assert caught.value.message == ("Refused: alice's budget for 2026-05 is $100.00: spent $25.76, committed "
                                    "$25.76, requested $51.52, left $48.48.")
    with pytest.raises(RequestRefused, match="^Refused: alice is not a treasurer, so the override does not apply"):
        group.admit(hours=4, reason="please")
    admitted = group.admit(hours=4, actor="tess", reason="paper deadline")
    assert admitted.overridden_by == "tess"
    (grant,) = group.db.rules().grants
    assert (grant.member, grant.reason, grant.granted_by) == ("alice", "paper deadline", "tess")
    assert sum(1 for key in group.store.list(EVENTS_PREFIX) if OVERRIDE_GRANTED in group.store.read(key).decode()) == 1


def test_a_member_without_a_budget_of_their_own_gets_the_default_allowance(group):
    group.admit(member="bob", hours=3)                            # $38.64 of $50
    with pytest.raises(RequestRefused, match="bob's budget for 2026-05 is \\$50.00"):
        group.admit(member="bob", hours=4)


def test_only_a_treasurer_sets_budgets_and_the_group_is_initialised_once(group):
    with pytest.raises(PermissionDeniedError, match="^alice is not a treasurer of this group, so cannot set budgets\\.$"):
        group_svc.set_budget(group.store, group.db, group.clock, "alice", "1000000", member="alice")
    with pytest.raises(ConflictError, match=r"already initialised \(treasurers: tess\)"):
        group_svc.init_group(group.store, group.db, group.clock, "mallory", ["mallory"])
    before = len(list(group.store.list(EVENTS_PREFIX)))
    with pytest.raises(ConfigError, match="^Not recorded: unit 'gpus' is not money or chip_hours.$"):
        group_svc.set_budget(group.store, group.db, group.clock, "tess", "5", group=True, unit="gpus")
    with pytest.raises(UsageError, match="^The budget -5 is negative; a budget is zero or more.$"):
        group_svc.set_budget(group.store, group.db, group.clock, "tess", "-5", member="bob")
    assert len(list(group.store.list(EVENTS_PREFIX))) == before


def test_verify_reports_corrupt_objects_unknown_kinds_and_unauthorised_events(group):
    group.store.create("ledger/events/2026/05/01KQHFP680GCWQ5YQ5QBR14AFB.json", b"{oops")
    group.store.create("ledger/events/2026/05/notes.txt", b"hello")
    rogue = new_event(BUDGET_SET, "mallory", budget_payload(scope="member", member="mallory", amount="1e6"), T0)
    strange = new_event("node.teleported", "alice", {}, T0)
    for event in (rogue, strange):
        group.store.create(event.key, event.to_json())
    messages = [p.message for p in group.books("tess").verify()]
    assert messages == [
        "ledger/events/2026/05/01KQHFP680GCWQ5YQ5QBR14AFB.json is set aside: it is not JSON "
        "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1)).",
        f"{strange.key} is set aside: it has unknown kind \"node.teleported\".",
        "ledger/events/2026/05/notes.txt is not named like a ledger event (<event-id>.json).",
        f"Ignored budget.set event {rogue.id} by mallory: it is not signed (the group's history is signed "
        "since its genesis)."]
    assert group.db.rules().budget_for("2026-05", "mallory").amount == Decimal("50")     # the default allowance


def test_rebuilding_from_the_store_gives_the_same_answers(group, tmp_path):
    group.tpuctl(NODE_CREATED)
    group.tpuctl(NODE_READY)
    group.api.nodes = [group.listed(name="gc", owner=None, create_time=T0)]
    group.later(hours=1)
    group.sync()
    group.later(minutes=5)
    before = group.report()
    (tmp_path / "ledger.db").unlink()
    group.db = LedgerDB(tmp_path / "fresh.db")
    result = rebuild(group.store, group.db)
    assert result.new_events == result.listed == len(list(group.store.list(EVENTS_PREFIX)))
    assert group.report() == before


def test_a_missing_price_file_or_a_currency_mismatch_is_said_plainly(group, tmp_path):
    with pytest.raises(ConfigError, match=f"^Price file {tmp_path / 'nope.toml'} does not exist.$"):
        load_price_table(tmp_path / "nope.toml")
    euros = tmp_path / "eur.toml"
    euros.write_text('as_of = 2026-11-01\nsource = "x"\ncurrency = "EUR"\nunit = "chip-hour"\n'
                     '[default.v4]\non_demand = 3\nspot = 1\n')
    with pytest.raises(ConfigError, match=f"keeps its books in USD but price file {euros} is in EUR"):
        Books(group.store, group.db, group.clock, load_price_table(euros), "tess").month()
