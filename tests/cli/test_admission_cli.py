"""Budgets at the terminal: create, queue create and run show what they cost and are refused,
with the numbers, when they would go over; a treasurer's --override goes through."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from tpuctl.errors import ExitCode

JOB = """\
name: train
tpu: {type: v4-8}
hours: 2
run: python -c "print('hi')"
"""


@pytest.fixture
def group(cli, remote_env, monkeypatch, join):
    """Treasurer tess; alice may spend $60 a month."""
    monkeypatch.setenv("TPUCTL_MEMBER", "tess")
    assert cli("group", "init", "--treasurer", "tess").code == 0
    join("alice", by="tess")
    assert cli("budget", "set", "--member", "alice", "60").code == 0
    monkeypatch.setenv("TPUCTL_MEMBER", "alice")
    return monkeypatch


def test_create_says_the_hourly_price_and_what_the_lease_leaves(cli, group):
    month = f"{datetime.now(timezone.utc):%Y-%m}"
    made = cli("create", "a1", "--type", "v4-8", "--hours", "2")
    assert made.code == 0, made.err
    assert made.out.rstrip().endswith(f"$12.88/hour, up to $25.76 for the lease; "
                                      f"$34.24 of your {month} budget left after it.")
    cost = cli("create", "a2", "--type", "v4-8", "--hours", "1", "--spot", "--json").json["cost"]
    left_after = Decimal(cost.pop("left_after"))     # $60 - $25.76 - $3.68, give or take a running second
    assert abs(left_after - Decimal("30.56")) < Decimal("0.01")
    assert cost == {"currency": "USD", "per_hour": "3.68", "lease": "3.680000", "unit": "money",
                    "overridden_by": None, "override_reason": None}
    rows = {line.split()[0]: line.split() for line in cli("spend").out.splitlines()[3:]}
    assert rows["a2"][2:4] == ["v4-8", "(spot)"] and rows["a2"][-1].startswith("$")
    assert rows["a1"][3] == "ready"


@pytest.mark.parametrize("args", [
    ["create", "big", "--type", "v4-8", "--hours", "5"],
    ["queue", "create", "big", "--type", "v4-8", "--hours", "5"],
], ids=["create", "queue-create"])
def test_over_budget_requests_are_refused_with_the_numbers(cli, group, args):
    refused = cli(*args)
    assert refused.code == ExitCode.BUDGET
    month = f"{datetime.now(timezone.utc):%Y-%m}"
    assert refused.err.splitlines()[0] == (f"Error: Refused: alice's budget for {month} is $60.00: spent $0.00, "
                                           "committed $0.00, requested $64.40, left $60.00.")
    assert "--override" in refused.err
    assert cli("list", "--json").json == [] and cli("queue", "list", "--json").json == []


def test_refusal_as_json_keeps_the_envelope(cli, group):
    refused = cli("create", "big", "--type", "v4-8", "--hours", "5", "--json")
    assert refused.code == ExitCode.BUDGET
    error = refused.json["error"]
    assert (error["code"], error["exit_code"], error["currency"]) == ("budget", ExitCode.BUDGET, "USD")
    assert error["refused_by"] == [{"who": "alice", "unit": "money", "budget": "60.000000", "spent": "0.000000",
                                    "committed": "0.000000", "requested": "64.400000", "left": "60.000000"}]


def test_only_a_treasurer_can_override_and_the_reason_is_kept(cli, group):
    refused = cli("create", "big", "--type", "v4-8", "--hours", "5", "--override", "my thesis")
    assert refused.code == ExitCode.BUDGET
    assert "alice is not a treasurer, so the override does not apply" in refused.err

    group.setenv("TPUCTL_MEMBER", "tess")
    assert cli("budget", "set", "--member", "tess", "10").code == 0
    made = cli("create", "big", "--type", "v4-8", "--hours", "5", "--override", "paper deadline")
    assert made.code == 0, made.err
    assert "let through by tess's override: paper deadline" in made.err
    assert cli("ledger", "verify").code == 0


def test_run_is_refused_before_anything_is_staged(cli, group, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.yaml").write_text(JOB.replace("hours: 2", "hours: 5"))
    refused = cli("run", "job.yaml")
    assert refused.code == ExitCode.BUDGET
    assert "requested $64.40, left $60.00" in refused.err
    assert cli("jobs", "--json").json == []
    assert cli("list", "--json").json == []


def test_a_treasurer_runs_an_over_budget_job_with_an_override(cli, group, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.yaml").write_text(JOB)
    group.setenv("TPUCTL_MEMBER", "tess")
    assert cli("budget", "set", "--member", "tess", "5").code == 0
    assert cli("run", "job.yaml").code == ExitCode.BUDGET
    started = cli("run", "job.yaml", "--override", "conference demo", "--json")
    assert started.code == 0, started.err
    assert "let through by tess's override: conference demo" in started.err
    assert [n["owner"] for n in cli("list", "--json").json] == ["tess"]
