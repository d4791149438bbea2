"""One bad object in the group store never stops the group: every command works around it,
and `ledger verify` names it with its key and why. Run on a folder store and on a bucket."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from tpuctl.adapters.store import open_store
from tpuctl.domain.events import NODE_READY, event_key, new_event_id
from tpuctl.errors import ExitCode

NOW = datetime.now(timezone.utc)


def node_body(**payload_changes) -> dict:
    payload = {"zone": "us-central2-b", "node": "poison", "accelerator_type": "v4-8", "chips": 4, "spot": False,
               "owner": "alice", "lease_until": None, "request_id": "rq-poison", "create_time": None,
               "source": "tpuctl"}
    payload.update(payload_changes)
    return {"v": 1, "id": new_event_id(NOW), "time": NOW.isoformat().replace("+00:00", "Z"), "actor": "alice",
            "kind": NODE_READY, "payload": payload}


def budget_body(amount) -> dict:
    return {"v": 1, "id": new_event_id(NOW), "time": NOW.isoformat().replace("+00:00", "Z"), "actor": "carol",
            "kind": "budget.set", "payload": {"scope": "group", "member": None, "month": "default",
                                              "amount": amount, "unit": "money"}}


def with_top(**changes) -> dict:
    body = node_body()
    body.update(changes)
    return body


POISONS = {
    "chips abc": (node_body(chips="abc"), "field 'chips' is \"abc\", not a whole number of chips"),
    "chips 10^18": (node_body(chips=10**18), "not a whole number of chips from 1 to 16384"),
    "negative chips": (node_body(chips=-4000), "not a whole number of chips"),
    "chips unlike the type": (node_body(chips=4000), "says 4000 chips for a v4-8, which has 4"),
    "time not a time": (with_top(time="yesterday"), "field"),
    "string version": (with_top(v="1"), "has schema version \"1\", not a whole number"),
    "year 1": (with_top(time="0001-01-01T00:00:00Z"), "outside 2017-2100"),
    "unknown type": (node_body(accelerator_type="v9-8"), "an accelerator type this tpuctl does not know"),
    "budget 1e30": (budget_body("1e30"), "field 'amount' is \"1e30\", outside [0, 1000000000]"),
    "budget 1e400": (budget_body("1e400"), "outside [0, 1000000000]"),
    "budget nan": (budget_body("nan"), "field 'amount' is \"nan\""),
    "budget negative": (budget_body("-5"), "outside [0, 1000000000]"),
    "not an object": ([1, 2, 3], "is not a JSON object"),
}
# `time not a time` fails before the payload is read: the message names the time itself.
POISONS["time not a time"] = (with_top(time="yesterday"), "is \"yesterday\", not an RFC 3339 time")


def plant(store, body) -> str:
    event_id = body["id"] if isinstance(body, dict) else new_event_id(NOW)
    key = event_key(event_id)
    store.create(key, json.dumps(body).encode())
    return key


@pytest.fixture(params=["folder", "bucket"])
def group_store(request, remote_env, monkeypatch, tmp_path):
    if request.param == "bucket":
        bucket = request.getfixturevalue("gcs_bucket")
        monkeypatch.setenv("TPUCTL_STORE", f"gs://{bucket}/group")
    import os

    return open_store(os.environ["TPUCTL_STORE"])


def test_poison_objects_of_every_kind_are_set_aside_and_named(cli, group_store, monkeypatch, join):
    monkeypatch.setenv("TPUCTL_MEMBER", "carol")
    assert cli("group", "init", "--treasurer", "carol").code == 0
    join("alice", by="carol")
    assert cli("budget", "set", "--group", "500").code == 0
    planted = {name: plant(group_store, body) for name, (body, _) in POISONS.items()}

    monkeypatch.setenv("TPUCTL_MEMBER", "alice")
    for args in (["sync"], ["spend"], ["budget", "show"], ["list"]):
        done = cli(*args)
        assert done.code == 0, f"{args}: {done.err}"
    created = cli("create", "alice-v4", "--type", "v4-8", "--hours", "1", "--json")
    assert created.code == 0, created.err
    shown = cli("budget", "show", "--json").json
    group = next(s for s in shown["standings"] if s["who"] == "group")
    assert group["budget"] == "500.000000"               # no poisoned budget counted
    mine = cli("spend", "--json").json
    assert [n["node"] for n in mine["nodes"]] == ["alice-v4"]       # the forged node bills nobody

    verified = cli("ledger", "verify", "--json")
    by_key = {p["key"]: p["message"] for p in verified.json}
    for name, key in planted.items():
        assert key in by_key, f"{name} was not named"
        assert POISONS[name][1] in by_key[key], f"{name}: {by_key[key]}"
        assert by_key[key].startswith(f"{key} is set aside: it ")
    assert len(by_key) == len(POISONS)
    plain = cli("ledger", "verify")
    assert plain.code == ExitCode.CONFIG
    assert f"{len(POISONS)} problems found." in plain.out


def test_rebuild_reads_the_store_again_and_counts_what_it_set_aside(cli, group_store, monkeypatch):
    monkeypatch.setenv("TPUCTL_MEMBER", "carol")
    assert cli("group", "init", "--treasurer", "carol").code == 0      # the genesis is not an event object
    assert cli("budget", "set", "--group", "500").code == 0
    plant(group_store, node_body(chips="abc"))
    rebuilt = cli("ledger", "rebuild")
    assert rebuilt.code == 0, rebuilt.err
    assert rebuilt.out == (f"Rebuilt the ledger view from {group_store.url}: 1 event; 1 object set aside "
                           "(`tpuctl ledger verify` names them).\n")
    assert cli("ledger", "rebuild", "--json").json == {"store": group_store.url, "events": 1, "set_aside": 1}


def test_a_data_dir_pointed_at_another_store_does_not_mix_two_groups(cli, remote_env, monkeypatch, tmp_path):
    monkeypatch.setenv("TPUCTL_MEMBER", "carol")
    assert cli("group", "init", "--treasurer", "carol").code == 0
    assert cli("budget", "set", "--group", "500").code == 0
    monkeypatch.setenv("TPUCTL_STORE", str(tmp_path / "other-store"))
    monkeypatch.setenv("TPUCTL_MEMBER", "dave")                        # a group is started by its treasurer
    assert cli("group", "init", "--treasurer", "dave").code == 0
    shown = cli("group", "show", "--json").json
    assert shown["treasurers"] == ["dave"]
    group = next(s for s in cli("budget", "show", "--json").json["standings"] if s["who"] == "group")
    assert group["budget"] is None
