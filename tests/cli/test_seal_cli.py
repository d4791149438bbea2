"""`tpuctl group seal`: a group started before signatures keeps its unsigned history, and
nothing unsigned written after the seal counts, on a folder store and on a bucket."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import pytest

from tpuctl.adapters.store import open_store
from tpuctl.domain.events import (
    BUDGET_SET, GROUP_INITIALIZED, MEMBER_ADDED, NODE_CREATED, NODE_DELETED, NODE_READY, budget_payload, new_event,
    node_payload,
)
from tpuctl.errors import ExitCode
from tests.conftest import TEST_NOW

ZONE = "us-central2-b"


def plant(store, kind: str, actor: str, payload: dict, at: datetime | None = None):
    event = new_event(kind, actor, payload, TEST_NOW, time=at)
    store.create(event.key, event.to_json())
    return event


def usage(owner: str, node: str, start: datetime) -> dict:
    return node_payload(zone=ZONE, node=node, accelerator_type="v4-8", chips=4, spot=False, owner=owner,
                        lease_until=None, request_id=None, create_time=start)


def legacy_group(store) -> list:
    """What a group made before signatures holds: unsigned decisions, and an hour of alice's v4-8."""
    start = TEST_NOW - timedelta(minutes=90)
    events = [plant(store, GROUP_INITIALIZED, "carol", {"treasurers": ["carol"], "currency": "USD"}),
              plant(store, MEMBER_ADDED, "carol", {"member": "alice"}),
              plant(store, BUDGET_SET, "carol", budget_payload(scope="group", amount="1000")),
              plant(store, BUDGET_SET, "carol", budget_payload(scope="member", member="alice", amount="100"))]
    for kind, at in ((NODE_CREATED, start), (NODE_READY, start), (NODE_DELETED, start + timedelta(hours=1))):
        events.append(plant(store, kind, "alice", usage("alice", "old-run", start), at))
    return events


@pytest.fixture(params=["folder", "bucket"])
def store(request, remote_env, monkeypatch, shared_clock):
    if request.param == "bucket":
        monkeypatch.setenv("TPUCTL_STORE", f"gs://{request.getfixturevalue('gcs_bucket')}/group")
    found = open_store(os.environ["TPUCTL_STORE"])
    legacy_group(found)
    return found


def as_member(monkeypatch, member: str) -> None:
    monkeypatch.setenv("TPUCTL_MEMBER", member)


def test_after_the_seal_the_old_history_counts_and_nothing_unsigned_added_later_does(cli, store, monkeypatch, join):
    as_member(monkeypatch, "alice")
    before = cli("spend", "--json").json              # alice's view, read before the seal
    assert before["spent"] == "12.880000"
    as_member(monkeypatch, "carol")
    shown = cli("budget", "show", "--json").json

    sealed = cli("group", "seal")
    assert sealed.code == 0, sealed.err
    assert sealed.out.startswith("Sealed the group's history: its 7 unsigned events still count")
    join("alice", by="carol")                          # her key, so what she signs from now on counts

    forged_ready = plant(store, NODE_READY, "alice", usage("alice", "ghost", TEST_NOW - timedelta(days=2)),
                         TEST_NOW - timedelta(days=2))
    forged_budget = plant(store, BUDGET_SET, "carol", budget_payload(scope="member", member="alice",
                                                                     amount="100000"))

    as_member(monkeypatch, "alice")
    assert cli("spend", "--json").json == {**before, "nodes": before["nodes"]}
    refused = cli("create", "a1", "--type", "v4-8", "--hours", "10")            # $128.80 against $100
    assert refused.code == ExitCode.BUDGET
    assert "spent $12.88, committed $0.00, requested $128.80, left $87.12" in refused.err
    assert cli("create", "a1", "--type", "v4-8", "--hours", "1").code == 0

    as_member(monkeypatch, "carol")
    now_shown = cli("budget", "show", "--json").json
    assert now_shown["standings"][0]["budget"] == shown["standings"][0]["budget"]
    assert [s["budget"] for s in now_shown["standings"]] == [s["budget"] for s in shown["standings"]]
    found = {p["key"]: p["message"] for p in cli("ledger", "verify", "--json").json}
    assert "it is not signed" in found[forged_ready.key]
    assert "Ignored budget.set event" in found[forged_budget.key] and "it is not signed" in found[forged_budget.key]
    assert len(found) == 2, found


def test_only_a_treasurer_seals(cli, store, monkeypatch):
    as_member(monkeypatch, "alice")
    refused = cli("group", "seal")
    assert (refused.code, refused.err.splitlines()[0]) == (
        ExitCode.PERMISSION, "Error: alice is not a treasurer of this group, so cannot seal its history.")
    assert list(store.list("ledger/genesis")) == []
    as_member(monkeypatch, "carol")
    assert cli("group", "seal").code == 0
    again = cli("group", "seal")
    assert again.code == ExitCode.CONFLICT
    assert again.err.splitlines()[0].startswith("Error: The group's history is already signed, since its genesis by carol")


def test_a_sealed_event_edited_by_hand_no_longer_counts(cli, remote_env, monkeypatch, tmp_path, shared_clock):
    store = open_store(os.environ["TPUCTL_STORE"])
    budget = legacy_group(store)[3]                      # alice's $100
    as_member(monkeypatch, "carol")
    assert cli("group", "seal").code == 0
    path = tmp_path / "store" / budget.key              # a folder store: a member can rewrite a file
    path.write_bytes(path.read_bytes().replace(b'"amount":"100"', b'"amount":"100000"'))

    assert cli("ledger", "rebuild").code == 0
    shown = {s["who"]: s["budget"] for s in cli("budget", "show", "--json").json["standings"]}
    assert shown["alice"] != "100000.000000"
    [problem] = cli("ledger", "verify", "--json").json
    assert problem["key"] == budget.key
    assert "it was changed after the group's history was sealed" in problem["message"]
