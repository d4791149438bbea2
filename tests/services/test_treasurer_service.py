"""Treasurers' decisions on a real temp store and SQLite files: members, price overrides, free
quota, and the price sheet `prices show` draws."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from tpuctl.adapters import keys
from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import LocalStore
from tpuctl.domain.clock import ManualClock
from tpuctl.domain.prices import FreeQuotaRule, Rates
from tpuctl.errors import ConflictError, NotFoundError, PermissionDeniedError
from tpuctl.adapters.user_files import load_price_table
from tpuctl.domain.prices import pricing_for
from tpuctl.services.ledger import Books
from tpuctl.services.sync import sync_from_store
from tpuctl.services import group as group_svc

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def group(tmp_path):
    store, db, clock = LocalStore(tmp_path / "store"), LedgerDB(tmp_path / "tess.db"), ManualClock(T0)
    group_svc.init_group(store, db, clock, "tess", ["tess"])
    return store, db, clock


def sheet_rows(db, generation):
    return [(r.region, r.type, r.rates, r.override) for r in group_svc.price_sheet(db, load_price_table()).rows
            if r.generation == generation]


def test_the_sheet_lists_the_file_then_overrides_in_their_place(group):
    store, db, clock = group
    file_v2 = sheet_rows(db, "v2")
    assert file_v2[:3] == [(None, None, Rates(Decimal("1.125"), Decimal("0.34")), False),
                           ("asia-east1", None, Rates(Decimal("1.305"), Decimal("0.3915")), False),
                           ("europe-west4", None, Rates(Decimal("1.2375"), Decimal("0.3155625")), False)]
    assert [t for _, t, _, _ in file_v2[3:]] == ["v2-32", "v2-128", "v2-256", "v2-512"]      # by size

    group_svc.override_prices(store, db, clock, "tess", "v2", "1.4", "0.4", region="asia-east1")
    assert sheet_rows(db, "v2")[1] == ("asia-east1", None, Rates(Decimal("1.4"), Decimal("0.4")), True)
    assert len(sheet_rows(db, "v2")) == len(file_v2)

    # an every-region price wins over every row of the file, so only the overrides are left
    event = group_svc.override_prices(store, db, clock, "tess", "v2", "1E+0", "0.25")
    assert event.payload == {"generation": "v2", "region": None, "on_demand": "1", "spot": "0.25"}
    assert sheet_rows(db, "v2") == [(None, None, Rates(Decimal("1"), Decimal("0.25")), True),
                                    ("asia-east1", None, Rates(Decimal("1.4"), Decimal("0.4")), True)]
    assert sheet_rows(db, "v3")[0] == (None, None, Rates(Decimal("2.00"), Decimal("0.51")), False)


def test_every_terminal_prices_with_the_same_decisions(group, tmp_path):
    store, db, clock = group
    group_svc.override_prices(store, db, clock, "tess", "v4", "4", "1")
    group_svc.add_free_quota(store, db, clock, "tess", group_svc.free_quota_rule("us-central2-b", "v4-8", "spot"))
    bobs = LedgerDB(tmp_path / "bob.db")
    sync_from_store(store, bobs)
    pricing = pricing_for(bobs.rules(), load_price_table())
    assert pricing.price_for("v4", "us-central2-b", False, "v4-8") == Decimal("4")
    assert pricing.price_for("v4", "us-central2-b", True, "v4-8") == 0
    assert pricing.price_for("v4", "us-central2-b", True, "v4-16") == Decimal("1")


def test_free_quota_rules_are_added_and_removed_as_a_whole_list(group):
    store, db, clock = group
    tpu_v4 = group_svc.free_quota_rule("us-central2-b", "v4")
    spot = group_svc.free_quota_rule(model="spot")
    group_svc.add_free_quota(store, db, clock, "tess", tpu_v4)
    event = group_svc.add_free_quota(store, db, clock, "tess", spot)
    assert event.payload == {"rules": [{"zone": "us-central2-b", "type": "v4", "model": "any"},
                                       {"zone": "*", "type": "*", "model": "spot"}]}
    with pytest.raises(ConflictError, match="already covers zone us-central2-b, type v4"):
        group_svc.add_free_quota(store, db, clock, "tess", tpu_v4)
    group_svc.remove_free_quota(store, db, clock, "tess", tpu_v4)
    assert db.rules().price_overrides.free == (FreeQuotaRule("*", "*", "spot"),)
    with pytest.raises(NotFoundError, match=r"the rules are: \(every zone, every type, spot only\)\.$"):
        group_svc.remove_free_quota(store, db, clock, "tess", tpu_v4)
    group_svc.remove_free_quota(store, db, clock, "tess", spot)
    with pytest.raises(NotFoundError, match="the rules are: none"):
        group_svc.remove_free_quota(store, db, clock, "tess", spot)


def test_a_member_is_refused_before_their_decision_is_looked_at(group):
    store, db, clock = group
    rule = group_svc.free_quota_rule("us-central2-b")
    with pytest.raises(PermissionDeniedError, match="^alice is not a treasurer"):
        group_svc.remove_free_quota(store, db, clock, "alice", rule)        # not there, but alice may not decide anyway
    group_svc.add_member(store, db, clock, "tess", "alice", key=keys.signing_key("alice").public)
    with pytest.raises(PermissionDeniedError, match="^alice is not a treasurer"):
        group_svc.add_member(store, db, clock, "alice", "alice")           # already a member, still not hers to say
    with pytest.raises(PermissionDeniedError):
        group_svc.override_prices(store, db, clock, "alice", "v4", "0", "0")
    assert Books(store, db, clock, None, "tess").verify() == []


def test_a_treasurer_can_be_promoted_from_member_once(group):
    store, db, clock = group
    group_svc.add_member(store, db, clock, "tess", "bob", key=keys.signing_key("bob").public)
    group_svc.add_member(store, db, clock, "tess", "bob", treasurer=True)
    with pytest.raises(ConflictError, match="bob is already a treasurer of this group"):
        group_svc.add_member(store, db, clock, "tess", "bob", treasurer=True)
    rules = db.rules()
    assert (rules.treasurers, rules.members) == ({"bob", "tess"}, {"bob", "tess"})
    group_svc.set_budget(store, db, clock, "bob", "10", member="tess")
    assert db.rules().budget_for("2026-05", "tess").set_by == "bob"
