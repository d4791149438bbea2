"""The ledger's money on the ordinary paths a member takes at the terminal: a queued node
deleted with its request, a stopped node started again, a create that fails or half
fails. tpuctl and the emulator share one clock here, so the seconds billed are exact.

v4 lists at $3.22 per chip-hour on demand and a v4-8 has 4 chips: $12.88 an hour.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from tests.cli.conftest import start_group
from tests.conftest import TEST_NOW
from tpuctl.errors import ExitCode

HOURLY = Decimal("12.88")


@pytest.fixture
def group(cli, shared_clock, monkeypatch, join):
    """Treasurer tess; alice may spend $30 a month."""
    start_group(cli, monkeypatch, join, "30")
    return monkeypatch


def month() -> str:
    return f"{TEST_NOW:%Y-%m}"


def spend(cli) -> dict:
    found = cli("spend", "--json")
    assert found.code == 0, found.err
    return found.json


def nodes_billed(cli) -> list[tuple[str, str, int, str]]:
    return [(n["node"], n["status"], n["seconds"], n["cost"]) for n in spend(cli)["nodes"]]


# --- 1. queue delete --force ends its TPUs' lives, and their bills --------------------------

def test_queue_delete_force_before_any_sync_bills_the_queued_node_as_delete_does(cli, shared_clock):
    assert cli("queue", "create", "held", "--type", "v4-8", "--hours", "2").code == 0
    assert cli("create", "plain", "--type", "v4-8", "--hours", "2").code == 0
    shared_clock.advance(1800)
    assert [n["state"] for n in cli("list", "--json").json] == ["READY", "READY"]

    assert cli("queue", "delete", "held", "--force", "--yes").code == 0
    assert cli("delete", "plain", "--yes").code == 0
    half_hour = str(HOURLY / 2) + "0000"
    assert nodes_billed(cli) == [("held", "deleted", 1800, half_hour), ("plain", "deleted", 1800, half_hour)]
    mine = spend(cli)
    assert (mine["spent"], mine["committed"]) == ("12.880000", "0.000000")
    shared_clock.advance(600)
    assert cli("sync", "--json").json == {"observed": []}      # nothing left for a sync to find
    assert nodes_billed(cli)[0] == ("held", "deleted", 1800, half_hour)


# --- 2. start is weighed like create ----------------------------------------------------------

def test_start_of_a_stopped_node_is_refused_with_the_numbers_when_it_no_longer_fits(cli, group, shared_clock):
    assert cli("create", "a1", "--type", "v4-8", "--hours", "2").code == 0
    assert cli("stop", "a1").code == 0                                   # frees a1's lease
    shared_clock.advance(1800)
    assert cli("create", "a2", "--type", "v4-8", "--hours", "1.5").code == 0

    refused = cli("start", "a1")                                         # 1.5 hours of lease left
    assert refused.code == ExitCode.BUDGET
    assert refused.err.splitlines()[0] == (f"Error: Refused: alice's budget for {month()} is $30.00: spent $0.00, "
                                           "committed $19.32, requested $19.32, left $10.68.")
    assert "--override" in refused.err
    assert {n["name"]: n["state"] for n in cli("list", "--json").json} == {"a1": "STOPPED", "a2": "READY"}

    group.setenv("TPUCTL_MEMBER", "tess")
    started = cli("start", "a1", "--override", "deadline tonight")
    assert started.code == 0, started.err
    assert started.out == "a1: READY.\n"
    assert "let through by tess's override: deadline tonight" in started.err
    group.setenv("TPUCTL_MEMBER", "alice")
    assert spend(cli)["left"] == "-8.640000"                       # both leases, as the treasurer allowed


def test_start_after_the_lease_ended_is_weighed_for_the_profiles_default_hours(cli, group, shared_clock):
    group.setenv("TPUCTL_HOURS", "1")
    assert cli("create", "a1", "--type", "v4-8", "--hours", "0.5").code == 0
    assert cli("stop", "a1").code == 0
    shared_clock.advance(3600)                                           # the lease is over
    assert cli("create", "a2", "--type", "v4-8", "--hours", "2").code == 0
    refused = cli("start", "a1", "--json")
    assert refused.code == ExitCode.BUDGET
    [over] = refused.json["error"]["refused_by"]
    assert (over["who"], over["requested"], over["left"]) == ("alice", "12.880000", "4.240000")


def error_of(result) -> str:
    """stderr from the error on (retries are announced before it)."""
    return result.err[result.err.index("Error: "):]


# --- 3. a create that made nothing commits nothing ------------------------------------------

def test_a_create_that_could_not_reach_the_api_commits_nothing(cli, group):
    group.setenv("TPUCTL_API_ENDPOINT", "http://127.0.0.1:9")
    group.setenv("TPUCTL_RETRIES", "1")
    failed = cli("create", "a1", "--type", "v4-8", "--hours", "2")
    assert failed.code == ExitCode.UNAVAILABLE
    assert failed.err.startswith("Error: Could not create TPU 'a1' in us-central2-b: the Cloud TPU API is unreachable")
    mine = spend(cli)
    assert (mine["committed"], mine["left"]) == ("0.000000", "30.000000")
    assert cli("create", "a2", "--type", "v4-8", "--hours", "2").code == ExitCode.UNAVAILABLE   # not refused


def test_a_create_whose_fate_is_unknown_is_closed_by_the_sync_that_sees_the_zone_after_a_grace(
        cli, group, remote_env, shared_clock):
    # The create call and the look after it meet 503s: tpuctl cannot know; Cloud TPU made nothing.
    group.setenv("TPUCTL_RETRIES", "1")
    remote_env.inject_faults(status=503, count=1, method="POST", path_contains="nodeId=a1")
    remote_env.inject_faults(status=503, count=1, method="GET", path_contains="/nodes/a1")
    failed = cli("create", "a1", "--type", "v4-8", "--hours", "2")
    assert failed.code == ExitCode.UNAVAILABLE
    assert failed.err.startswith("Error: TPU 'a1' may exist in us-central2-b: Cloud TPU was asked to create it, "
                                 "but tpuctl could not create TPU 'a1' in us-central2-b: the Cloud TPU API is unavailable")
    assert "Hint: Run `tpuctl list` (or `tpuctl sync`) to see whether 'a1' exists before creating it again" in failed.err
    assert spend(cli)["committed"] == "25.760000"                      # it may exist: held for now
    assert cli("sync", "--json").json == {"observed": []}              # within the grace
    shared_clock.advance(15 * 60 + 1)
    assert cli("sync", "--json").json == {"observed": [{"kind": "node.deleted", "node": "a1", "owner": "alice"}]}
    mine = spend(cli)
    assert (mine["committed"], mine["spent"]) == ("0.000000", "0.000000")


# --- 5. a create that half fails says the TPU may exist, and keeps it on the books ----------

@pytest.mark.slow
def test_a_create_that_loses_sight_of_its_tpu_says_it_may_exist_and_the_next_sync_bills_it(cli, group, remote_env,
                                                                                            shared_clock):
    group.setenv("TPUCTL_RETRIES", "2")
    # Every look at the node after the create call fails (its operation's last poll, both tries of
    # the wait, and the look after the failure).
    remote_env.inject_faults(status=503, count=4, method="GET", path_contains="/nodes/a1")
    failed = cli("create", "a1", "--type", "v4-8", "--hours", "2")
    assert failed.code == ExitCode.UNAVAILABLE
    assert "; retrying (2/2) in 0.5 s…" in failed.err.splitlines()[0]       # the wait said what it waited for
    assert error_of(failed).startswith("Error: TPU 'a1' may exist in us-central2-b: Cloud TPU was asked to create it, "
                                       "but tpuctl could not find TPU 'a1' in us-central2-b: the Cloud TPU API is unavailable")
    assert "try again" not in failed.err
    assert [(n["name"], n["state"], n["owner"]) for n in cli("list", "--json").json] == [("a1", "READY", "alice")]
    shared_clock.advance(600)
    assert cli("sync", "--json").json == {"observed": [{"kind": "node.ready", "node": "a1", "owner": "alice"}]}
    assert nodes_billed(cli) == [("a1", "ready", 600, "2.146667")]


@pytest.mark.slow
def test_a_create_whose_tpu_is_found_after_the_api_failed_says_it_exists_and_bills_it_at_once(cli, group,
                                                                                               remote_env, shared_clock):
    group.setenv("TPUCTL_RETRIES", "2")
    remote_env.inject_faults(status=503, count=3, method="GET", path_contains="/nodes/a1")    # not the last look
    failed = cli("create", "a1", "--type", "v4-8", "--hours", "2")
    assert failed.code == ExitCode.UNAVAILABLE
    assert error_of(failed).startswith("Error: TPU 'a1' exists in us-central2-b (READY), but tpuctl could "
                                       "not find TPU 'a1'")
    assert "Hint: It is yours and billed: `tpuctl list` shows it and `tpuctl delete a1` ends it. " \
           "Do not create it again." in failed.err
    shared_clock.advance(600)
    assert nodes_billed(cli) == [("a1", "ready", 600, "2.146667")]      # no sync needed
    assert spend(cli)["committed"] == "23.613333"


def test_a_create_that_loses_the_store_after_the_api_call_keeps_the_tpu_in_the_outbox(cli, group, shared_clock,
                                                                                     tmp_path):
    from tpuctl.emulator.models import WorldSettings
    from tpuctl.emulator.server import EmulatorServer

    store_tmp = tmp_path / "store" / ".tpuctl-store" / "tmp"

    def store_goes_away(node) -> None:
        store_tmp.rmdir()
        store_tmp.write_text("not a folder any more")

    server = EmulatorServer(settings=WorldSettings(boot_seconds=0), clock=shared_clock,
                            on_node_ready=store_goes_away).start()
    try:
        group.setenv("TPUCTL_API_ENDPOINT", server.url)
        made = cli("create", "a1", "--type", "v4-8", "--hours", "2")
        assert made.code == 0, made.err
        assert made.err.count("keeps its ledger events in the local outbox") == 1
        store_tmp.unlink()
        shared_clock.advance(60)
        assert cli("sync", "--json").json == {"observed": []}          # the outbox said it runs, from READY on
        assert nodes_billed(cli)[0][:3] == ("a1", "ready", 60)
    finally:
        server.stop()


@pytest.mark.slow
def test_creates_under_injected_503s_never_claim_failure_for_a_tpu_that_exists(cli, group, remote_env,
                                                                                 shared_clock):
    """20 % of requests fail and one retry is allowed: whatever each create says, the ledger
    ends with exactly the TPUs the emulator holds, and no message invites a paid-twice retry."""
    group.setenv("TPUCTL_RETRIES", "2")
    group.setenv("TPUCTL_MEMBER", "tess")                       # no budget: every create is admitted
    remote_env.configure(fail_rate=0.2, seed=11)
    said = {}
    for i in range(15):
        result = cli("create", f"n{i}", "--type", "v4-8", "--hours", "1")
        said[f"n{i}"] = result
    remote_env.configure(fail_rate=0.0)
    made = {n["name"] for n in cli("list", "--json").json}
    failed = {name for name, result in said.items() if result.code != 0}
    assert failed, "the faults should make some creates fail"
    for name, result in said.items():
        if name in made and result.code != 0:
            assert f"TPU '{name}' may exist" in result.err or f"TPU '{name}' exists" in result.err, result.err
            assert "try again" not in result.err and "Do not create it again" in result.err + "creating it again"
        if name not in made:
            assert result.code != 0 and f"TPU '{name}' exists" not in result.err
    assert made & failed, f"some TPUs that exist should have been reported as failures: {sorted(failed)}"
    shared_clock.advance(16 * 60)                                # past the grace for creates never seen
    assert cli("sync").code == 0
    mine = spend(cli)
    assert {n["node"]: n["status"] for n in mine["nodes"]} == dict.fromkeys(made, "ready")
    assert all(n["seconds"] == 16 * 60 for n in mine["nodes"])
    per_node = HOURLY * 44 / 60                                   # 44 minutes of each lease left
    assert Decimal(mine["committed"]) == (len(made) * per_node).quantize(Decimal("0.000001"))


# --- 4. every budget that applies is checked ----------------------------------------------------

@pytest.mark.parametrize("budgets, refused_by", [
    ([["--member", "alice", "20"], ["--member", "alice", "100", "--chip-hours"]],
     "alice's budget for {month} is $20.00: spent $0.00, committed $0.00, requested $25.76, left $20.00"),
    ([["20"], ["--member", "alice", "100", "--chip-hours"]],          # the default allowance is money
     "alice's budget for {month} is $20.00: spent $0.00, committed $0.00, requested $25.76, left $20.00"),
    ([["--member", "alice", "100", "--chip-hours"], ["--group", "20"], ["--group", "1000", "--chip-hours"]],
     "the group's budget for {month} is $20.00: spent $0.00, committed $0.00, requested $25.76, left $20.00"),
], ids=["member-money-and-chip-hours", "default-money-and-member-chip-hours", "group-money-and-chip-hours"])
def test_a_member_with_a_chip_hour_budget_is_still_held_to_the_money_budgets(cli, shared_clock, monkeypatch,
                                                                            budgets, refused_by, join):
    monkeypatch.setenv("TPUCTL_MEMBER", "tess")
    assert cli("group", "init", "--treasurer", "tess").code == 0
    join("alice", by="tess")
    for args in budgets:
        assert cli("budget", "set", *args).code == 0
    monkeypatch.setenv("TPUCTL_MEMBER", "alice")
    refused = cli("create", "a1", "--type", "v4-8", "--hours", "2")          # $25.76, 8 chip-hours
    assert refused.code == ExitCode.BUDGET
    assert refused.err.splitlines()[0] == f"Error: Refused: {refused_by.format(month=month())}."
    assert cli("list", "--json").json == []
    assert cli("create", "a1", "--type", "v4-8", "--hours", "0.5").code == 0   # $6.44, 2 chip-hours: fits all
