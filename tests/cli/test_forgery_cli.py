"""Roles hold against a member who writes objects into the group store by hand. For every
forgery: admission ignores it, `spend` and `budget show` say what they said before, and
`ledger verify` names it with its key and the reason. On a folder store and on a bucket."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from tpuctl.adapters import keys
from tpuctl.adapters.store import open_store
from tpuctl.domain.events import (
    BUDGET_SET, GROUP_INITIALIZED, NODE_CREATED, NODE_READY, NODE_STARTED, REAP_ACTED, REAP_WARNED, TREASURER_ADDED, Event,
    budget_payload, new_event, node_payload,
)
from tpuctl.domain.times import format_time
from tpuctl.errors import ExitCode

NOW = datetime.now(timezone.utc)
ZONE = "us-central2-b"


@pytest.fixture(params=["folder", "bucket"])
def group(request, cli, remote_env, monkeypatch, join):
    """Treasurer carol; members alice and bob, $100 a month each, the group $1,000."""
    if request.param == "bucket":
        monkeypatch.setenv("TPUCTL_STORE", f"gs://{request.getfixturevalue('gcs_bucket')}/group")
    monkeypatch.setenv("TPUCTL_MEMBER", "carol")
    assert cli("group", "init", "--treasurer", "carol").code == 0
    join("alice", by="carol")
    join("bob", by="carol")
    for args in (["--group", "1000"], ["--member", "alice", "100"], ["--member", "bob", "100"]):
        assert cli("budget", "set", *args).code == 0
    return open_store(os.environ["TPUCTL_STORE"])


def group_id(store) -> str:
    return json.loads(store.read("ledger/genesis.json"))["id"]


def signed(kind: str, actor: str, payload: dict, store, *, by: str | None = None, group: str | None = None,
           time: datetime | None = None) -> Event:
    """An event as `actor`, signed with `by`'s key (default the actor's own) for `group`."""
    event = new_event(kind, actor, payload, datetime.now(timezone.utc), time=time)
    return event.signed(keys.signing_key(by or actor), group or group_id(store))


def plant(store, event: Event, key: str | None = None) -> str:
    key = key or event.key
    store.create(key, event.to_json())
    return key


def node(owner: str, accelerator_type: str = "v4-8", chips: int = 4, **changes) -> dict:
    payload = node_payload(zone=ZONE, node=f"{owner}-forged", accelerator_type=accelerator_type, chips=chips,
                           spot=False, owner=owner, lease_until=None, request_id=None,
                           create_time=NOW - timedelta(days=20))
    return {**payload, **changes}


def raise_alice(store, actor: str, **how) -> Event:
    return signed(BUDGET_SET, actor, budget_payload(scope="member", member="alice", amount="100000"), store, **how)


# Each forgery plants objects and returns {store key: what `ledger verify` must say about it}.

def actor_spoofing(store, tmp_path):
    forged = raise_alice(store, "carol", by="bob")                 # bob writes as carol
    unsigned = new_event(BUDGET_SET, "carol", budget_payload(scope="group", amount="1"), NOW)
    return {plant(store, forged): "its signature does not match carol's key",
            plant(store, unsigned): "it is not signed"}


def forged_treasurer_decisions(store, tmp_path):
    promoted = signed(TREASURER_ADDED, "bob", {"member": "bob"}, store)
    return {plant(store, promoted): "bob is not a treasurer",
            plant(store, raise_alice(store, "bob")): "bob is not a treasurer"}


def backdated_genesis(store, tmp_path):
    early = datetime(2017, 1, 2, tzinfo=timezone.utc)
    genesis = new_event(GROUP_INITIALIZED, "alice", {"treasurers": ["alice"], "currency": "USD",
                                                      "keys": {"alice": keys.signing_key("alice").public}}, early)
    genesis = genesis.signed(keys.signing_key("alice"), group_id(store))
    return {plant(store, genesis): "the group's genesis is ledger/genesis.json",
            plant(store, raise_alice(store, "alice")): "alice is not a treasurer"}


def absurd_quantities(store, tmp_path):
    negative = signed(NODE_READY, "alice", node("alice", chips=-4000), store)
    huge = signed(NODE_READY, "alice", node("alice", chips=16384), store)
    return {plant(store, negative): "not a whole number of chips from 1 to 16384",
            plant(store, huge): "says 16384 chips for a v4-8, which has 4"}


def billing_another_member(store, tmp_path):
    made = signed(NODE_CREATED, "bob", node("alice", "v5p-4096", 2048), store)
    ready = signed(NODE_READY, "bob", node("alice", "v5p-4096", 2048), store, time=NOW - timedelta(days=20))
    started = signed(NODE_STARTED, "bob", node("alice", "v5p-4096", 2048), store, time=NOW - timedelta(days=19))
    reason = "bob is not a treasurer, so cannot put usage on alice's bill"      # (as `start` refuses bob up front)
    return {plant(store, made): reason, plant(store, ready): reason, plant(store, started): reason}


def replayed_event(store, tmp_path):
    genuine = next(Event.from_json(store.read(key)) for key in store.list("ledger/events/")
                   if Event.from_json(store.read(key)).kind == BUDGET_SET)
    elsewhere = new_event(BUDGET_SET, "carol", {}, datetime.now(timezone.utc))      # a fresh id and key
    moved = plant(store, genuine, key=elsewhere.key)                # the same bytes under another name
    reissued = replace(genuine, id=new_event(BUDGET_SET, "carol", {}, datetime.now(timezone.utc)).id, raw=None)
    return {moved: f"holds event {genuine.id}, not the one its name says",
            plant(store, reissued): "its signature does not match carol's key"}


def copied_from_another_group(store, tmp_path):
    other = new_event(GROUP_INITIALIZED, "carol", {"treasurers": ["carol"], "currency": "USD"}, NOW)
    decision = raise_alice(store, "carol", group=other.id)          # carol's real signature, in another group
    return {plant(store, decision): "it belongs to another group"}


def changed_payload(store, tmp_path):
    genuine = signed(BUDGET_SET, "carol", budget_payload(scope="member", member="alice", amount="100"), store)
    changed = replace(genuine, payload={**genuine.payload, "amount": "100000"})
    return {plant(store, changed): "its signature does not match carol's key"}


def reaper_notes_about_alice(store, tmp_path):
    """What the reaper tells alice ("will be deleted at", "deleted by the reaper"), written by bob."""
    about = {"zone": ZONE, "node": "a1", "owner": "alice", "reason": "lease ended"}
    warned = new_event(REAP_WARNED, "bob", {**about, "rule": "lease", "then": "delete",
                                            "act_at": format_time(NOW + timedelta(minutes=30))}, NOW)
    acted = signed(REAP_ACTED, "carol", {**about, "rule": "idle", "action": "delete"}, store, by="bob")
    return {plant(store, warned): "it is not signed",
            plant(store, acted): "its signature does not match carol's key"}


FORGERIES = [actor_spoofing, forged_treasurer_decisions, backdated_genesis, absurd_quantities,
             billing_another_member, replayed_event, copied_from_another_group, changed_payload,
             reaper_notes_about_alice]


def books(cli) -> tuple:
    spent = cli("spend", "--json")
    shown = cli("budget", "show", "--json")
    assert spent.code == 0 and shown.code == 0, spent.err + shown.err
    return spent.json, shown.json


@pytest.mark.parametrize("forgery", FORGERIES, ids=[f.__name__ for f in FORGERIES])
def test_a_forged_object_counts_for_nothing_and_verify_names_it(cli, group, monkeypatch, tmp_path, forgery):
    monkeypatch.setenv("TPUCTL_MEMBER", "alice")
    before = books(cli)
    assert cli("ledger", "verify").out == "The ledger is consistent.\n"

    planted = forgery(group, tmp_path)

    assert books(cli) == before
    monkeypatch.setenv("TPUCTL_MEMBER", "carol")
    assert books(cli)[1] == before[1]
    found = cli("ledger", "verify", "--json").json
    for key, reason in planted.items():
        said = [p["message"] for p in found if p["key"] == key]
        assert said and reason in said[0], (key, reason, found)
    assert len(found) == len(planted)

    monkeypatch.setenv("TPUCTL_MEMBER", "alice")                      # $1,288 against $100: still refused
    refused = cli("create", "a1", "--type", "v4-8", "--hours", "100")
    assert refused.code == ExitCode.BUDGET
    assert "spent $0.00, committed $0.00, requested $1288.00, left $100.00" in refused.err
    assert cli("create", "a1", "--type", "v4-8", "--hours", "1").code == 0     # and nothing forged stands in the way
