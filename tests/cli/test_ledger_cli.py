"""The treasurer's and member's ledger commands end to end, on a local-folder store."""

from __future__ import annotations

import pytest

from tpuctl.errors import ExitCode


@pytest.mark.slow
def test_budget_set_is_for_treasurers_and_spend_sees_observed_nodes(cli, remote_env, monkeypatch, api, join):
    assert cli("group", "init", "--treasurer", "alice").code == 0
    join("bob", by="alice")
    assert cli("budget", "set", "--group", "1000").code == 0
    assert cli("budget", "set", "--member", "bob", "50").code == 0

    monkeypatch.setenv("TPUCTL_MEMBER", "bob")
    refused = cli("budget", "set", "--member", "bob", "5000")
    assert refused.code == ExitCode.PERMISSION
    assert refused.err.startswith("Error: bob is not a treasurer of this group")

    over = cli("create", "bob-v4", "--type", "v4-8")      # 4 chips x $3.22 x 4 h = $51.52 > $50
    assert over.code == ExitCode.BUDGET
    assert "requested $51.52, left $50.00" in over.err
    assert cli("create", "bob-v4", "--type", "v4-8", "--hours", "3").code == 0
    api.create_node("us-central1-b", "stray", accelerator_type="v2-8", runtime_version="tpu-ubuntu2204-base",
                    spot=False, labels={})
    synced = cli("sync", "--json")
    assert synced.code == 0, synced.err
    observed = {(e["node"], e["owner"]) for e in synced.json["observed"]}
    assert observed == {("stray", "unattributed")}      # bob-v4 was recorded by create itself

    mine = cli("spend", "--json").json
    assert mine["who"] == "bob" and mine["budget"] == "50.000000"
    assert [n["node"] for n in mine["nodes"]] == ["bob-v4"]

    shown = cli("budget", "show", "--json").json
    assert shown["treasurers"] == ["alice"]
    by_who = {x["who"]: x for x in shown["standings"]}
    assert by_who["group"]["budget"] == "1000.000000"
    assert "unattributed" in by_who
    assert cli("ledger", "verify").out.endswith("The ledger is consistent.\n")


def test_a_group_in_an_unknown_currency_is_refused_in_one_sentence(cli, remote_env):
    refused = cli("group", "init", "--treasurer", "alice", "--currency", "DOGE")
    assert refused.code == ExitCode.USAGE
    assert refused.err.splitlines()[0].startswith("Error: 'DOGE' is not a currency tpuctl knows (USD, EUR")
    assert cli("group", "init", "--treasurer", "alice", "--currency", "EUR").code == 0
