"""The treasurer's commands as a newcomer meets them: either price alone, unset, warnings,
exit codes and sentences in the user's words."""

from __future__ import annotations

import pytest

from tpuctl.errors import ExitCode


@pytest.fixture
def treasurer(cli, remote_env, monkeypatch):
    def act_as(member: str) -> None:
        monkeypatch.setenv("TPUCTL_MEMBER", member)

    act_as("tess")
    assert cli("group", "init", "--treasurer", "tess").code == 0
    return act_as


def v4_prices(cli) -> list[tuple]:
    shown = cli("prices", "show", "--json").json["prices"]
    return [(p["region"], p["on_demand"], p["spot"], p["override"]) for p in shown
            if p["generation"] == "v4" and p["type"] is None]


def test_prices_set_takes_either_price_alone_and_keeps_the_other(cli, treasurer):
    spot_only = cli("prices", "set", "v4", "--spot", "0.90")
    assert spot_only.code == 0, spot_only.err
    assert spot_only.out == ("v4 now costs 3.22 on demand and 0.90 spot (USD per chip-hour) in every region, "
                             "for every member.\n")
    assert cli("prices", "set", "v4", "--on-demand", "3.00").code == 0
    assert v4_prices(cli) == [(None, "3.000000", "0.900000", True)]
    neither = cli("prices", "set", "v4")
    assert neither.code == ExitCode.USAGE and "Give the new price: --on-demand, --spot or both." in neither.err


def test_prices_unset_brings_back_the_price_file(cli, treasurer):
    assert cli("prices", "set", "v4", "--on-demand", "1", "--spot", "0.5").code == 0
    unset = cli("prices", "unset", "v4")
    assert unset.code == 0, unset.err
    assert unset.out == "v4 in every region costs what the price file says again, for every member.\n"
    assert v4_prices(cli)[0] == (None, "3.220000", "0.920000", False)
    again = cli("prices", "unset", "v4")
    assert again.code == ExitCode.NOT_FOUND
    assert again.err.startswith("Error: No price override for v4 in every region to remove.")
    assert cli("ledger", "verify").out.endswith("The ledger is consistent.\n")


def test_a_spot_price_above_on_demand_is_warned_about(cli, treasurer):
    made = cli("prices", "set", "v4", "--on-demand", "1.00", "--spot", "2.00")
    assert made.code == 0
    assert made.err == ("Warning: the spot price 2.00 is above the on-demand price 1.00; "
                        "spot capacity is normally the cheaper one.\n")
    assert cli("prices", "set", "v4", "--spot", "0.50").err == ""


def test_removing_a_free_quota_rule_that_does_not_exist_is_not_found(cli, treasurer):
    missing = cli("prices", "free", "remove", "--zone", "us-central2-b", "--type", "v4")
    assert missing.code == ExitCode.NOT_FOUND
    assert missing.err.startswith("Error: There is no free-quota rule for zone us-central2-b, type v4")


def test_budget_show_lists_a_member_with_a_budget_not_yet_added(cli, treasurer):
    assert cli("budget", "set", "--member", "dora", "120").code == 0
    standings = {s["who"]: s for s in cli("budget", "show", "--json").json["standings"]}
    assert standings["dora"]["budget"] == "120.000000" and standings["dora"]["left"] == "120.000000"
    assert "dora" in cli("budget", "show").out


def test_a_member_is_refused_in_words_not_event_names(cli, treasurer):
    treasurer("alice")
    refused = cli("budget", "set", "--member", "alice", "1000")
    assert refused.code == ExitCode.PERMISSION
    assert refused.err.splitlines()[0] == "Error: alice is not a treasurer of this group, so cannot set budgets."
    assert "so cannot set prices." in cli("prices", "unset", "v4").err


def test_sync_counts_changes_in_words(cli, treasurer, remote_env):
    from tests.conftest import PROJECT, ZONE
    from tpuctl.adapters.tpu import TpuApi

    made_elsewhere = TpuApi(PROJECT, remote_env.url)
    made_elsewhere.create_node(ZONE, "gc", accelerator_type="v4-8", runtime_version="tpu-ubuntu2204-base",
                               spot=False, labels={})
    assert cli("sync").out == "Synced; 2 changes observed.\n"


def test_member_names_are_checked_where_they_are_typed(cli, remote_env, monkeypatch):
    monkeypatch.setenv("TPUCTL_MEMBER", "carol")
    refused = cli("group", "init", "--treasurer", "Carol")
    assert (refused.code, refused.err.splitlines()[0]) == (ExitCode.USAGE, "Error: --treasurer 'Carol' cannot be a member name.")
    assert cli("group", "init", "--treasurer", "carol").code == 0
    refused = cli("budget", "set", "--member", "Bob", "5")
    assert (refused.code, refused.err.splitlines()[0]) == (ExitCode.USAGE, "Error: --member 'Bob' cannot be a member name.")
