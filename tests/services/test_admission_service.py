"""Admission through the admission log on a real temp folder store, one SQLite view per
member (as on separate laptops) and a clock the test moves."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import LocalStore
from tpuctl.domain.admission_log import ADMISSION_GRACE, entry_key, parse_entry
from tpuctl.domain.budgets import RequestRefused, UsageRequest, admit_request
from tpuctl.domain.clock import ManualClock
from tpuctl.domain.events import NODE_CREATED, node_payload
from tpuctl.domain.metering import merge
from tpuctl.services import group as group_svc
from tpuctl.adapters.user_files import load_price_table
from tpuctl.domain.prices import pricing_for
from tpuctl.services.ledger import Books
from tpuctl.services.sync import sync_from_store
from tpuctl.services.admission import admit_logged
from tests.conftest import enrol

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=timezone.utc)
ZONE = "us-central2-b"


class CountingStore(LocalStore):
    """A real folder store that counts the requests an admission makes."""

    def __init__(self, root):
        super().__init__(root)
        self.calls: list[str] = []

    def read(self, key):
        self.calls.append(f"read {key}")
        return super().read(key)

    def list(self, prefix="", start_after=None):
        self.calls.append(f"list {prefix}")
        return super().list(prefix, start_after)

    def create(self, key, data):
        self.calls.append(f"create {key}")
        return super().create(key, data)


class Group:
    """Treasurer tess and a $10 group budget; each member has their own ledger view."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.store = CountingStore(tmp_path / "store")
        self.clock = ManualClock(T0)
        self.table = load_price_table()
        tess = self.db("tess")
        group_svc.init_group(self.store, tess, self.clock, "tess", ["tess"])
        group_svc.set_budget(self.store, tess, self.clock, "tess", "10", group=True)
        enrol(self.store, tess, self.clock, "ana", "bo", "cy")      # members whose key the group knows

    def db(self, member: str) -> LedgerDB:
        return LedgerDB(self.tmp / f"{member}.sqlite")

    def ask(self, member: str, db: LedgerDB, request_id: str, hours: str = "0.25"):
        """A v4-8 for 15 minutes ($3.22) through the real admission (sync first)."""
        request = UsageRequest.for_type(member, ZONE, "v4-8", False, hours, request_id=request_id)
        return Books(self.store, db, self.clock, self.table, member).admit(request)


@pytest.fixture
def group(tmp_path):
    return Group(tmp_path)


def test_a_lost_race_reads_the_winning_entry_and_decides_again(group):
    ana, bo = group.db("ana"), group.db("bo")
    group.ask("ana", ana, "r1")
    group.ask("ana", ana, "r2")                  # $6.44 held; $3.56 left
    seen = []

    def decide(pending):
        seen.append(sum(sum(c.values()) for c in pending.values()))
        if len(seen) == 1:                       # while bo decides, cy takes entry 3
            group.ask("cy", group.db("cy"), "r3")
        return admit_request(request, month="2026-05", spent={}, committed=merge(pending), rules=bo.rules(),
                             pricing=pricing_for(bo.rules(), group.table))

    sync_from_store(group.store, bo)
    request = UsageRequest.for_type("bo", ZONE, "v4-8", False, "0.25", request_id="r4")
    with pytest.raises(RequestRefused) as refused:
        admit_logged(group.store, bo, group.clock, request, "bo", decide)
    assert seen == [2 * 3600, 3 * 3600]          # chip-seconds held: before and after cy's entry
    assert "committed $9.66, requested $3.22, left $0.34" in refused.value.message
    assert sorted(group.store.list("ledger/admissions/")) == [entry_key("2026-05", n) for n in (1, 2, 3)]


def test_an_admitted_request_and_its_node_count_once(group):
    ana, bo = group.db("ana"), group.db("bo")
    group.ask("ana", ana, "r1")
    assert group.ask("bo", bo, "r2").group.committed.money == Decimal("3.22")     # ana's, from the log
    Books(group.store, ana, group.clock, None, "ana").record(NODE_CREATED, node_payload(
        zone=ZONE, node="n1", accelerator_type="v4-8", chips=4, spot=False, owner="ana",
        lease_until=T0 + timedelta(minutes=15), request_id="r1"))
    third = group.ask("bo", bo, "r3")        # ana's node (not its entry too) and bo's entry: the third fits
    assert (third.group.committed.money, third.group.left) == (Decimal("6.44"), Decimal("3.56"))
    with pytest.raises(RequestRefused, match="committed \\$9.66, requested \\$3.22, left \\$0.34"):
        group.ask("ana", ana, "r4")


def test_admission_reads_only_what_is_new_and_one_create(group):
    ana, bo = group.db("ana"), group.db("bo")
    group.ask("ana", ana, "r1")
    group.ask("bo", bo, "r2")
    group.store.calls.clear()
    group.ask("ana", ana, "r3")
    log = [call for call in group.store.calls if "admissions" in call]
    assert log == ["list ledger/admissions/2026-05/", f"read {entry_key('2026-05', 2)}",
                   f"create {entry_key('2026-05', 3)}"]


def test_a_request_that_never_made_a_node_stops_holding_budget_after_the_grace(group):
    ana, bo = group.db("ana"), group.db("bo")
    group.ask("ana", ana, "r1", hours="0.5")                      # $6.44, and ana's laptop dies
    with pytest.raises(RequestRefused, match="committed \\$6.44, requested \\$6.44, left \\$3.56"):
        group.ask("bo", bo, "r2", hours="0.5")
    group.clock.advance(ADMISSION_GRACE.total_seconds())
    assert group.ask("bo", bo, "r2", hours="0.5").group.committed.money == 0


def test_unreadable_entries_are_skipped_and_named_by_verify(group):
    ana = group.db("ana")
    group.store.create(entry_key("2026-05", 1), b"not json")
    group.store.create("ledger/admissions/2026-05/oops.json", b"{}")
    group.ask("ana", ana, "r1")
    assert parse_entry(group.store.read(entry_key("2026-05", 2)), entry_key("2026-05", 2)).request_id == "r1"
    problems = {p.key: p.message for p in Books(group.store, ana, group.clock, None, "ana").verify()}
    assert problems[entry_key("2026-05", 1)].startswith(
        "ledger/admissions/2026-05/0000000001.json is not a readable admission entry (")
    assert problems["ledger/admissions/2026-05/oops.json"] == (
        "ledger/admissions/2026-05/oops.json is not named like an admission entry (<10 digits>.json).")


def test_last_months_newest_requests_still_count_in_the_first_minutes_of_a_month(group):
    ana, bo = group.db("ana"), group.db("bo")
    group.clock.set(datetime(2026, 5, 31, 23, 59, 50, tzinfo=timezone.utc))
    group.ask("ana", ana, "r1", hours="0.5")                      # $6.44, in May's log
    group.clock.set(datetime(2026, 6, 1, 0, 0, 5, tzinfo=timezone.utc))
    with pytest.raises(RequestRefused, match="for 2026-06 is \\$10.00: spent \\$0.00, committed \\$6.39, "
                                             "requested \\$6.44"):
        group.ask("bo", bo, "r2", hours="0.5")
    assert entry_key("2026-06", 1) not in set(group.store.list("ledger/admissions/"))
