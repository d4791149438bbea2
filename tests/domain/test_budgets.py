from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tpuctl.domain.budgets import Override, RequestRefused, UsageRequest, admit_request, group_rules
from tpuctl.domain.events import (
    BUDGET_SET, FREE_QUOTA_SET, GROUP_INITIALIZED, MEMBER_ADDED, OVERRIDE_GRANTED, PRICES_OVERRIDDEN,
    TREASURER_ADDED, budget_payload, new_event,
)
from tpuctl.domain.metering import PriceKey
from tpuctl.domain.prices import PriceTable, Pricing, Rates

T0 = datetime(2026, 5, 10, 12, tzinfo=timezone.utc)
TABLE = PriceTable("test", T0.date(), "test", "USD", {"v4": Rates(Decimal("3.22"), Decimal("0.92"))}, {}, {})
V4 = PriceKey("us-central2-b", "v4", "v4-8", False)


def ev(kind, actor, payload, minutes=0):
    return new_event(kind, actor, payload, T0 + timedelta(minutes=minutes))


INIT = ev(GROUP_INITIALIZED, "tess", {"treasurers": ["tess"], "currency": "USD"})


def budget(actor="tess", minutes=1, **fields):
    return ev(BUDGET_SET, actor, budget_payload(**fields), minutes)


def test_only_treasurers_decide_and_the_rest_is_reported():
    events = [INIT,
              budget(scope="member", member="alice", amount=100),
              budget(actor="mallory", minutes=2, scope="member", member="mallory", amount=10**6),
              ev(TREASURER_ADDED, "alice", {"member": "alice"}, 3),
              ev(TREASURER_ADDED, "tess", {"member": "tom"}, 4),
              budget(actor="tom", minutes=5, scope="group", amount=500),
              ev(GROUP_INITIALIZED, "mallory", {"treasurers": ["mallory"], "currency": "USD"}, 6),
              budget(minutes=7, scope="team", amount=1)]
    rules = group_rules(reversed(events))            # order of arrival does not matter
    assert rules.treasurers == {"tess", "tom"} and rules.currency == "USD"
    assert rules.budget_for("2026-05", "alice").amount == Decimal(100)
    assert rules.budget_for("2026-05").amount == Decimal(500)
    assert rules.budget_for("2026-05", "mallory") is None
    assert [(i.actor, i.kind, i.reason) for i in rules.ignored] == [
        ("mallory", BUDGET_SET, "mallory is not a treasurer"),
        ("alice", TREASURER_ADDED, "alice is not a treasurer"),
        ("mallory", GROUP_INITIALIZED, "the group was already initialised"),
        ("tess", BUDGET_SET, "scope 'team' is not group or member")]


def test_a_months_budget_beats_the_default_and_unnamed_members_get_the_allowance():
    rules = group_rules([INIT,
                         budget(scope="member", member=None, amount=50),
                         budget(scope="member", member="alice", amount=80, minutes=2),
                         budget(scope="member", member="alice", month="2026-06", amount=200, minutes=3),
                         budget(scope="member", member="alice", amount=90, minutes=4),    # later wins
                         budget(scope="group", amount=400, unit="chip_hours", minutes=5)])
    assert rules.budget_for("2026-05", "alice").amount == Decimal(90)
    assert rules.budget_for("2026-06", "alice").amount == Decimal(200)
    assert rules.budget_for("2026-05", "bob").amount == Decimal(50)
    assert rules.budget_for("2026-05").unit == "chip_hours"


def test_price_overrides_free_quota_members_and_grants_are_materialised():
    rules = group_rules([INIT,
                         ev(PRICES_OVERRIDDEN, "tess", {"generation": "v4", "region": "us-central2",
                                                        "on_demand": "3.00", "spot": "0.90"}, 1),
                         ev(FREE_QUOTA_SET, "tess", {"rules": [{"zone": "us-central2-b", "type": "v4"}]}, 2),
                         ev(MEMBER_ADDED, "tess", {"member": "bob"}, 3),
                         ev(OVERRIDE_GRANTED, "tess", {"member": "bob", "request_id": "r1", "reason": "paper"}, 4)])
    pricing = Pricing(TABLE, rules.price_overrides)
    assert pricing.price_for("v4", "us-central2-a", False) == Decimal("3.00")
    assert pricing.price_for("v4", "us-central2-b", False) == Decimal("0")
    assert rules.members == {"tess", "bob"}
    assert [(g.member, g.reason, g.granted_by) for g in rules.grants] == [("bob", "paper", "tess")]
    odd = group_rules([INIT, ev(FREE_QUOTA_SET, "tess", {"rules": [{"zone": "*", "quota": 5}]}, 1)])
    assert odd.ignored[0].reason == "a free quota rule has 'quota', not only zone, type and model"


RULES = group_rules([INIT, budget(scope="member", member="alice", amount=100),
                     budget(scope="group", amount=1000, minutes=2)])
REQUEST = UsageRequest.for_type("alice", "us-central2-b", "v4-8", spot=False, hours=1)   # 4 chip-h = $12.88


def admit(spent_hours, committed_hours=0, override=None, rules=RULES, request=REQUEST):
    spent = {"alice": Counter({V4: int(spent_hours * 4 * 3600)}), "bob": Counter({V4: 4 * 3600})}
    committed = {"alice": Counter({V4: int(committed_hours * 4 * 3600)})}
    return admit_request(request, month="2026-05", spent=spent, committed=committed, rules=rules,
                         pricing=Pricing(TABLE), override=override)


def test_a_request_that_fits_is_admitted_with_the_numbers():
    admission = admit(spent_hours=5)
    assert admission.member.spent.money == Decimal("64.40")
    assert admission.member.requested.money == Decimal("12.88")
    assert admission.member.left == Decimal("35.60")
    assert admission.group.spent.money == Decimal("77.28")         # alice's and bob's
    assert admission.overridden_by is None


def test_a_request_over_the_members_budget_is_refused_with_spent_committed_requested_left():
    with pytest.raises(RequestRefused) as caught:
        admit(spent_hours=5, committed_hours=2.5)
    assert caught.value.message == (
        "Refused: alice's budget for 2026-05 is $100.00: spent $64.40, committed $32.20, requested $12.88, "
        "left $3.40.")
    assert caught.value.exit_code == 9
    assert caught.value.admission.member.over and not caught.value.admission.group.over


def test_a_chip_hour_budget_counts_chip_hours():
    rules = group_rules([INIT, budget(scope="group", amount=30, unit="chip_hours")])
    admit(spent_hours=5, rules=rules)                   # 20 + 4 used, 4 asked: fits in 30
    with pytest.raises(RequestRefused) as caught:
        admit(spent_hours=6, rules=rules)
    assert caught.value.message == ("Refused: the group's budget for 2026-05 is 30.00 chip-hours: spent 28.00 "
                                    "chip-hours, committed 0.00 chip-hours, requested 4.00 chip-hours, "
                                    "left 2.00 chip-hours.")


def test_a_treasurer_may_let_a_refused_request_through_but_a_member_may_not():
    admission = admit(spent_hours=30, override=Override("tess", "deadline"))
    assert admission.overridden_by == "tess" and admission.override_reason == "deadline"
    assert admission.member.left == Decimal("-286.40")           # $100 - 30 h x $12.88
    with pytest.raises(RequestRefused) as caught:
        admit(spent_hours=30, override=Override("alice", "please"))
    assert caught.value.message.startswith("Refused: alice is not a treasurer, so the override does not apply; "
                                           "alice's budget for 2026-05 is $100.00: spent $386.40")
    assert caught.value.hint == "Only a treasurer can override a budget refusal."


def test_without_any_budget_everything_is_admitted():
    admission = admit(spent_hours=10**4, rules=group_rules([INIT]))
    assert admission.member.left is None and admission.over == []
