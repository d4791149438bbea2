"""A treasurer's decisions at the terminal: price overrides and free quota change what every
member pays and what admission lets through; members and treasurers are added by treasurers."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.cli.conftest import start_group
from tpuctl.errors import ExitCode


@pytest.fixture
def group(cli, remote_env, monkeypatch, join, act_as):
    """Treasurer tess; alice may spend $60 a month. Returns a function to act as a member."""
    start_group(cli, monkeypatch, join, "60")
    return act_as


def per_hour(cli, accelerator_type: str = "v4-8") -> str:
    return {t["type"]: t for t in cli("types", "--json").json}[accelerator_type]["per_hour"]


def test_a_price_override_is_what_every_member_pays_and_admits_by(cli, group):
    assert per_hour(cli) == "12.880000"                     # 4 chips x $3.22
    group("tess")
    set_ = cli("prices", "set", "v4", "--on-demand", "5.00", "--spot", "1.50")
    assert set_.code == 0, set_.err
    assert set_.out == ("v4 now costs 5.00 on demand and 1.50 spot (USD per chip-hour) in every region, "
                        "for every member.\n")
    for member in ("alice", "bob"):
        group(member)
        assert per_hour(cli) == "20.000000"

    group("alice")                                      # 4 h x $20.00 = $80 > $60; at list price it was $51.52
    month = f"{datetime.now(timezone.utc):%Y-%m}"
    refused = cli("create", "a1", "--type", "v4-8")
    assert refused.code == ExitCode.BUDGET
    assert refused.err.splitlines()[0] == (f"Error: Refused: alice's budget for {month} is $60.00: spent $0.00, "
                                           "committed $0.00, requested $80.00, left $60.00.")

    group("tess")                                       # a region's price wins over the every-region one
    assert cli("prices", "set", "v4", "--region", "us-central2", "--on-demand", "1", "--spot", "0.5").code == 0
    group("alice")
    made = cli("create", "a1", "--type", "v4-8")
    assert made.code == 0, made.err
    assert "$4.00/hour, up to $16.00 for the lease" in made.out

    shown = cli("prices", "show", "--json").json
    v4 = [(p["region"], p["on_demand"], p["spot"], p["override"]) for p in shown["prices"] if p["generation"] == "v4"]
    assert v4 == [(None, "5.000000", "1.500000", True), ("us-central2", "1.000000", "0.500000", True)]
    assert (shown["as_of"], shown["currency"], shown["unit"]) == ("2026-11-01", "USD", "chip-hour")
    assert shown["price_file"].endswith("prices.toml") and "SkyPilot" in shown["source"]
    table = cli("prices", "show").out
    assert "As of:" in table and "treasurer" in table and "price file" in table
    assert cli("ledger", "verify").out.endswith("The ledger is consistent.\n")


def test_free_quota_costs_nothing_but_its_chip_hours_still_count(cli, group):
    group("tess")
    assert cli("budget", "set", "--member", "alice", "10").code == 0
    group("alice")
    assert cli("create", "a1", "--type", "v4-8", "--hours", "1").code == ExitCode.BUDGET     # $12.88 > $10

    group("tess")
    added = cli("prices", "free", "add", "--zone", "us-central2-b", "--type", "v4")
    assert added.code == 0, added.err
    assert added.out == ("Free quota now covers zone us-central2-b, type v4, on-demand and spot; "
                         "its chip-hours still count.\n")
    group("alice")
    assert per_hour(cli) == "0.000000"
    made = cli("create", "a1", "--type", "v4-8", "--hours", "1")
    assert made.code == 0, made.err
    assert "$0.00/hour" in made.out

    group("tess")                                       # 8 chip-hours a month; a1 holds 4 of them
    assert cli("budget", "set", "--member", "alice", "8", "--chip-hours").code == 0
    group("alice")
    refused = cli("create", "a2", "--type", "v4-8", "--hours", "2")
    assert refused.code == ExitCode.BUDGET
    assert "requested 8.00 chip-hours, left 4.00 chip-hours" in refused.err
    assert cli("prices", "show", "--json").json["free_quota"] == [{"zone": "us-central2-b", "type": "v4",
                                                                   "model": "any"}]

    group("tess")
    missing = cli("prices", "free", "remove", "--zone", "us-central2-b")
    assert missing.code == ExitCode.NOT_FOUND
    assert missing.err.splitlines()[0] == ("Error: There is no free-quota rule for zone us-central2-b, every type, "
                                           "on-demand and spot; the rules are: (zone us-central2-b, type v4, "
                                           "on-demand and spot).")
    removed = cli("prices", "free", "remove", "--zone", "us-central2-b", "--type", "v4")
    assert removed.out == "Free quota no longer covers zone us-central2-b, type v4, on-demand and spot.\n"
    assert per_hour(cli) == "12.880000"
    assert "No free quota." in cli("prices", "show").out
    assert cli("ledger", "verify").out.endswith("The ledger is consistent.\n")


@pytest.mark.parametrize("args", [
    ["prices", "set", "v4", "--on-demand", "0", "--spot", "0"],
    ["prices", "free", "add", "--type", "v4"],
    ["group", "add", "carol"],
    ["group", "add", "alice", "--treasurer"],
], ids=["prices-set", "free-add", "group-add", "add-self-as-treasurer"])
def test_a_member_cannot_decide_for_the_group(cli, group, args):
    refused = cli(*args)
    assert refused.code == ExitCode.PERMISSION
    assert refused.err.startswith("Error: alice is not a treasurer of this group, so cannot ")
    assert per_hour(cli) == "12.880000"
    assert cli("group", "show", "--json").json == {"currency": "USD", "treasurers": ["tess"],
                                                   "members": ["alice", "tess"]}


def test_a_treasurer_adds_members_and_treasurers_who_can_then_decide(cli, group):
    keys = {}
    for member in ("carol", "bob"):
        group(member)
        keys[member] = cli("whoami", "--json").json["key"]
    group("tess")
    keyless = cli("group", "add", "carol")             # listed (budgets, reports), but nothing she signs counts yet
    assert (keyless.code, keyless.err) == (0, "Note: nothing carol signs counts until a treasurer gives their key: "
                                              "`tpuctl group add carol --key KEY` (they print it with `tpuctl whoami`).\n")
    added = cli("group", "add", "carol", "--key", keys["carol"])
    assert added.out == f"carol is now a member of the group with key {keys['carol']}.\n"
    added = cli("group", "add", "bob", "--treasurer", "--key", keys["bob"])
    assert added.out == f"bob is now a treasurer of the group with key {keys['bob']}.\n"
    again = cli("group", "add", "carol", "--key", keys["carol"])
    assert (again.code, again.err.splitlines()[0]) == (ExitCode.CONFLICT,
                                                       "Error: carol is already a member of this group.")

    group("bob")
    assert cli("budget", "set", "--member", "alice", "5").code == 0
    group("alice")
    refused = cli("create", "a1", "--type", "v4-8", "--hours", "1")
    assert refused.code == ExitCode.BUDGET and "left $5.00" in refused.err
    assert cli("group", "show", "--json").json == {"currency": "USD", "treasurers": ["bob", "tess"],
                                                   "members": ["alice", "bob", "carol", "tess"]}
    shown = cli("group", "show").out
    assert "Treasurers: bob, tess" in shown and "Members:    alice, bob, carol, tess" in shown
    assert cli("ledger", "verify").out.endswith("The ledger is consistent.\n")


def test_group_show_before_the_group_is_started(cli, remote_env):
    shown = cli("group", "show")
    assert (shown.code, shown.err.splitlines()[0]) == (ExitCode.NOT_FOUND, "Error: The group has not been started yet.")


@pytest.mark.parametrize("args, sentence", [
    (["prices", "set", "v9", "--on-demand", "1", "--spot", "1"],
     "'v9' is not a TPU generation (v2, v3, v4, v5e, v5p, v6e)."),
    (["prices", "set", "v4", "--on-demand", "-1", "--spot", "1"],
     "The on-demand price -1 is negative; a price is zero or more."),
    (["prices", "set", "v4", "--on-demand", "1", "--spot", "cheap"], "The spot price 'cheap' is not a number."),
    (["prices", "set", "v4", "--on-demand", "1", "--spot", "1", "--region", "us-central2-b"],
     "'us-central2-b' is not a region like us-central2."),
    (["prices", "free", "add", "--model", "free"], "'free' is not a pricing model (any, on_demand, spot)."),
    (["prices", "free", "add", "--type", "v9-8"],
     "'v9-8' is not a TPU generation (v2, v3, v4, v5e, v5p, v6e) or an accelerator type like v4-8."),
    (["prices", "free", "add", "--zone", "us-central2"], "'us-central2' is not a zone like us-central2-b."),
    (["group", "add", "Carol"], "'Carol' cannot be a member name."),
], ids=["generation", "negative", "not-a-number", "zone-as-region", "model", "type", "region-as-zone", "name"])
def test_bad_input_is_one_sentence_and_records_nothing(cli, group, args, sentence):
    group("tess")
    refused = cli(*args)
    assert (refused.code, refused.err.splitlines()[0]) == (ExitCode.USAGE, f"Error: {sentence}")
    shown = cli("prices", "show", "--json").json
    assert shown["free_quota"] == [] and not any(p["override"] for p in shown["prices"])
    assert cli("group", "show", "--json").json["members"] == ["alice", "tess"]
