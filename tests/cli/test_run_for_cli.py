"""`run --for` (a treasurer runs a job for a member) and `run --node` on another member's TPU,
end to end against the emulator, with a signed group."""

from __future__ import annotations

import json
import os

from tests.cli.conftest import TWO_HOUR_JOB, alice_makes_a1
from tests.cli.test_acting_for_cli import events, group  # noqa: F401 - the signed group of tess, alice and bob
from tpuctl.adapters.store import open_store
from tpuctl.domain.events import NODE_CREATED, OVERRIDE_GRANTED
from tpuctl.errors import ExitCode


def spec_of(job: str) -> dict:
    return json.loads(open_store(os.environ["TPUCTL_STORE"]).read(f"jobs/{job}/spec.json"))


def test_a_treasurer_runs_a_job_for_a_member_who_owns_and_pays_for_its_tpu(cli, group, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.yaml").write_text(TWO_HOUR_JOB.replace("hours: 2", "hours: 10"))      # $128.80 > $100
    group("tess")
    refused = cli("run", "job.yaml", "--for", "alice")
    assert refused.code == ExitCode.BUDGET
    assert "Ask a treasurer" not in refused.err and "You are a treasurer" in refused.err
    started = cli("run", "job.yaml", "--for", "alice", "--override", "paper deadline", "--json")
    assert started.code == 0, started.err
    assert started.json["member"] == "alice"
    assert spec_of(started.json["id"])["submitted_by"] == "tess"
    [node] = cli("list", "--json").json
    assert node["owner"] == "alice" and node["labels"]["tpuctl-owner"] == "alice"
    [created] = events(NODE_CREATED)
    assert (created.actor, created.payload["owner"]) == ("tess", "alice")
    [granted] = events(OVERRIDE_GRANTED)
    assert (granted.actor, granted.payload["member"], granted.payload["reason"]) == ("tess", "alice", "paper deadline")

    group("alice")
    assert [n["node"] for n in cli("spend", "--json").json["nodes"]] == [node["name"]]
    assert cli("ledger", "verify").out == "The ledger is consistent.\n"


def test_a_member_cannot_run_for_another(cli, group, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.yaml").write_text(TWO_HOUR_JOB)
    group("bob")
    refused = cli("run", "job.yaml", "--for", "alice")
    assert (refused.code, refused.err.splitlines()[0]) == (ExitCode.PERMISSION,
                                                           "Error: bob is not a treasurer, so cannot act for alice.")
    assert cli("list", "--json").json == [] and cli("jobs", "--json").json == []


def test_running_on_another_members_tpu_needs_force_and_the_job_says_whose_it_was(cli, group, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "guest.yaml").write_text("name: guest\nnode: a1\nrun: echo on a borrowed TPU\n")
    alice_makes_a1(cli, group)

    group("bob")
    refused = cli("run", "guest.yaml", "--node", "a1")
    assert (refused.code, refused.err.splitlines()[0]) == (
        ExitCode.PERMISSION, "Error: TPU 'a1' is alice's, not yours, so tpuctl will not run a job on it.")
    assert "Hint: Pass --force to run a job on it anyway; the job records that bob did." in refused.err
    assert cli("jobs", "--json").json == []
    forced = cli("run", "guest.yaml", "--node", "a1", "--force", "--json")
    assert forced.code == 0, forced.err
    assert (forced.json["member"], spec_of(forced.json["id"])["on_tpu_of"]) == ("bob", "alice")

    group("tess")                                       # a treasurer may use any TPU
    assert cli("run", "guest.yaml", "--node", "a1").code == 0


def test_a_refused_treasurer_is_never_told_to_ask_a_treasurer(cli, group, tmp_path, monkeypatch):
    prices = tmp_path / "prices.toml"
    prices.write_text('as_of = "2026-11-01"\nsource = "test"\nunit = "chip-hour"\ncurrency = "USD"\n'
                      '[default.v4]\non_demand = 3.22\nspot = 0.92\n')
    monkeypatch.setenv("TPUCTL_PRICES", str(prices))
    group("alice")
    member = cli("create", "x", "--type", "v5p-8", "--hours", "1")
    assert member.code == ExitCode.CONFIG and "ask a treasurer" in member.err
    group("tess")
    for args in (["create", "x", "--type", "v5p-8", "--hours", "1", "--for", "alice"],
                 ["create", "y", "--type", "v4-8", "--hours", "100", "--for", "alice"]):
        refused = cli(*args)
        assert refused.code in (ExitCode.CONFIG, ExitCode.BUDGET), refused.err
        assert "ask a treasurer" not in refused.err.lower() and "Hint: You are a treasurer" in refused.err
    assert cli("list", "--json").json == []
