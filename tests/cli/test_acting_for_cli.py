"""A treasurer acts for a member (`--for`); members need `--force` for another member's TPU.
End to end against the emulator, with a signed group."""

from __future__ import annotations

import os

import pytest

from tests.cli.conftest import alice_makes_a1
from tpuctl.adapters.store import open_store
from tpuctl.domain.events import Event
from tpuctl.errors import ExitCode


@pytest.fixture
def group(remote_env, trio):
    """Treasurer tess; members alice and bob with $100 a month each. Returns act_as(member)."""
    return trio


def events(kind: str) -> list[Event]:
    store = open_store(os.environ["TPUCTL_STORE"])
    found = [Event.from_json(store.read(key)) for key in store.list("ledger/events/")]
    return [event for event in found if event.kind == kind]


@pytest.mark.slow
def test_a_treasurer_creates_for_a_member_who_owns_and_pays_for_it(cli, group):
    group("tess")
    made = cli("create", "for-alice", "--type", "v4-8", "--hours", "1", "--for", "alice", "--json")
    assert made.code == 0, made.err
    assert made.json["owner"] == "alice" and made.json["labels"]["tpuctl-owner"] == "alice"
    [created] = events("node.created")
    assert (created.actor, created.payload["owner"]) == ("tess", "alice")

    group("alice")
    assert [n["node"] for n in cli("spend", "--json").json["nodes"]] == ["for-alice"]
    assert cli("ledger", "verify").out == "The ledger is consistent.\n"


def test_a_treasurers_override_for_a_member_is_recorded_with_who_granted_it(cli, group):
    group("tess")
    refused = cli("create", "big", "--type", "v4-8", "--hours", "10", "--for", "alice")      # $128.80 > $100
    assert refused.code == ExitCode.BUDGET
    assert "Ask a treasurer" not in refused.err
    assert refused.err.splitlines()[1] == ('Hint: You are a treasurer: raise the budget (`tpuctl budget set '
                                           '--member alice AMOUNT`) or pass --override "reason".')
    made = cli("create", "big", "--type", "v4-8", "--hours", "10", "--for", "alice", "--override", "paper deadline")
    assert made.code == 0, made.err
    [granted] = events("override.granted")
    assert (granted.actor, granted.payload["member"], granted.payload["reason"]) == ("tess", "alice", "paper deadline")
    [created] = events("node.created")
    assert (created.actor, created.payload["owner"]) == ("tess", "alice")


def test_a_member_cannot_act_for_another(cli, group):
    group("bob")
    refused = cli("create", "b1", "--type", "v4-8", "--hours", "1", "--for", "alice")
    assert (refused.code, refused.err.splitlines()[0]) == (ExitCode.PERMISSION,
                                                           "Error: bob is not a treasurer, so cannot act for alice.")
    queued = cli("queue", "create", "q1", "--type", "v4-8", "--hours", "1", "--for", "alice")
    assert queued.code == ExitCode.PERMISSION
    assert cli("list", "--json").json == []


def test_another_members_tpu_needs_force_and_is_recorded_with_who_acted(cli, group):
    alice_makes_a1(cli, group)

    group("bob")
    for args in (["stop", "a1"], ["start", "a1"], ["delete", "a1", "--yes"]):
        refused = cli(*args)
        assert (refused.code, refused.err.splitlines()[0]) == (
            ExitCode.PERMISSION, f"Error: TPU 'a1' is alice's, not yours, so tpuctl will not {args[0]} it.")
    assert cli("stop", "a1", "--force").code == 0
    [stopped] = events("node.stopped")
    assert (stopped.actor, stopped.payload["owner"]) == ("bob", "alice")

    group("tess")                                     # a treasurer may act on any TPU
    assert cli("delete", "a1", "--yes").code == 0
    [deleted] = events("node.deleted")
    assert (deleted.actor, deleted.payload["owner"]) == ("tess", "alice")
    group("alice")
    assert cli("ledger", "verify").out == "The ledger is consistent.\n"


@pytest.mark.slow
def test_a_member_cannot_start_another_members_tpu_even_with_force_but_a_treasurer_can(cli, group, remote_env):
    """Starting puts time on the owner's bill, which only the owner or a treasurer may add to:
    refused before Cloud TPU is asked, so nothing runs that the ledger would not count."""
    alice_makes_a1(cli, group)
    assert cli("stop", "a1").code == 0

    group("bob")
    for args in (["start", "a1"], ["start", "a1", "--force"]):
        refused = cli(*args)
        assert refused.code == ExitCode.PERMISSION
        assert "alice or a treasurer can start it" in refused.err
    assert refused.err.splitlines()[0] == "Error: TPU 'a1' is alice's, so bob cannot start it: its time would go on alice's bill."
    assert [n["state"] for n in cli("list", "--json").json] == ["STOPPED"]
    assert events("node.started") == []

    group("tess")
    assert cli("start", "a1").code == 0
    [started] = events("node.started")
    assert (started.actor, started.payload["owner"]) == ("tess", "alice")
    group("alice")
    assert cli("ledger", "verify").out == "The ledger is consistent.\n"
    assert [n["status"] for n in cli("spend", "--json").json["nodes"]] == ["ready"]
