"""A forged "observation": alice signs, with her own real key, that sync saw a TPU Cloud TPU
never listed, billed to bob or to everyone. The next sync that lists the zone flags it: it
stops counting and `ledger verify` names it. Genuine observations, TPUs deleted with tpuctl
meanwhile and zones the listing could not reach are left alone. Against the emulator."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from tests.cli.test_acting_for_cli import group  # noqa: F401 - the signed group of tess, alice and bob
from tests.cli.test_forgery_cli import node, signed
from tests.conftest import TEST_NOW, ZONE
from tpuctl.adapters.store import open_store
from tpuctl.domain.events import NODE_CREATED, NODE_READY, OBSERVATION_DISPUTED

AGO = TEST_NOW - timedelta(days=2)


def forge(owner: str, name: str, zone: str = ZONE) -> list[str]:
    """alice's signed node.created and node.ready, as a sync would write them, for a TPU that never ran."""
    store = open_store(os.environ["TPUCTL_STORE"])
    payload = {**node(owner), "node": name, "zone": zone, "create_time": AGO.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
               "source": "observed"}
    keys = []
    for kind in (NODE_CREATED, NODE_READY):
        event = signed(kind, "alice", payload, store, time=AGO)
        store.create(event.key, event.to_json())
        keys.append(event.key)
    return keys


def spent(cli, member: str) -> str:
    shown = cli("budget", "show", "--json").json
    return next(s["spent"] for s in shown["standings"] if s["who"] == member)


def test_a_forged_observation_stops_counting_at_the_next_sync_and_verify_names_it(cli, group, api, shared_clock):
    api.create_node(ZONE, "real", accelerator_type="v4-8", runtime_version="tpu-ubuntu2204-base", spot=False,
                    labels={})
    group("bob")
    assert cli("sync").code == 0                      # bob observes the real one: genuine
    group("tess")
    before = {who: spent(cli, who) for who in ("bob", "unattributed")}
    planted = forge("bob", "ghost") + forge("unattributed", "ghost2")
    assert spent(cli, "bob") != before["bob"]         # until a sync lists the zone, it is billed

    synced = cli("sync", "--json")
    assert synced.code == 0, synced.err
    assert sorted(e["node"] for e in synced.json["observed"] if e["kind"] == OBSERVATION_DISPUTED) == ["ghost",
                                                                                                       "ghost2"]
    assert {who: spent(cli, who) for who in ("bob", "unattributed")} == before
    group("bob")
    assert [n["node"] for n in cli("spend", "--json").json["nodes"]] == []
    group("tess")
    found = {p["key"]: p["message"] for p in cli("ledger", "verify", "--json").json}
    assert sorted(found) == sorted(planted)
    assert all("does not count: Cloud TPU did not list TPU 'ghost" in m and "when tess synced at" in m
               for m in found.values())

    shared_clock.advance(600)
    assert cli("sync", "--json").json == {"observed": []}       # the genuine one is observed again: nothing new
    assert cli("delete", "real", "--yes").code == 0              # deleted with tpuctl: a delete, not a dispute
    assert cli("sync", "--json").json == {"observed": []}
    assert spent(cli, "unattributed") == "2.146667"              # its 600 s as a v4-8, all of them counted


def test_a_forged_observation_in_a_zone_the_listing_missed_is_left_until_it_is_seen(cli, group, emulator, shared_clock):
    forge("bob", "ghost")
    emulator.configure(unreachable_zones=[ZONE])
    group("tess")
    assert cli("sync", "--json").json == {"observed": []}
    assert cli("ledger", "verify").out == "The ledger is consistent.\n"
    emulator.configure(unreachable_zones=[])
    assert [e["kind"] for e in cli("sync", "--json").json["observed"]] == [OBSERVATION_DISPUTED]
