"""With the group store away, deletes still stop spending and keep their events in the local
outbox; creates are refused; the next command that reaches the store writes the outbox once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import ZONE, empty_mount_point, folder_outage
from tpuctl.adapters.store import open_store

NOTICE = "keeps its ledger events in the local outbox"


def events_of(store, kind, field="node") -> list[str]:
    found = []
    for key in store.list("ledger/events/"):
        body = json.loads(store.read(key))
        if body["kind"] == kind:
            found.append(body["payload"][field])
    return sorted(found)


def outbox_files(tmp_path: Path) -> list[Path]:
    return list(tmp_path.rglob("*.outbox/*.json"))


def start_members(cli, names):
    assert cli("group", "init", "--treasurer", "alice").code == 0
    assert cli("budget", "set", "--member", "alice", "1000").code == 0
    for name in names:
        made = cli("create", name, "--type", "v4-8", "--hours", "1")
        assert made.code == 0, made.err


def deletes_across_an_outage(cli, api, tmp_path, store, go_away, come_back, refused_code):
    start_members(cli, ["n1", "n2", "n3"])
    time.sleep(1.1)                          # each TPU runs a billed second before it is deleted
    go_away()
    first = cli("delete", "n1", "--yes")
    assert first.code == 0, first.err
    assert first.err.count(NOTICE) == 1
    second = cli("delete", "n2", "--yes")
    assert second.code == 0 and second.err.count(NOTICE) == 1
    stopped = cli("stop", "n3")
    assert stopped.code == 0 and stopped.err.count(NOTICE) == 1, stopped.err
    assert [(n.name, n.state) for n in api.list_nodes(ZONE)] == [("n3", "STOPPED")]     # spending stopped
    refused = cli("create", "n4", "--type", "v4-8")
    assert refused.code == refused_code
    assert len(refused.err.splitlines()) == 2 and "admission reads every member's spend" in refused.err
    assert "n4" not in {n.name for n in api.list_nodes(ZONE)}
    assert len(outbox_files(tmp_path)) >= 2
    come_back()
    third = cli("delete", "n3", "--yes")
    assert third.code == 0 and NOTICE not in third.err
    assert events_of(store, "node.deleted") == ["n1", "n2", "n3"]       # each written once
    assert events_of(store, "node.stopped") == ["n3"]
    assert outbox_files(tmp_path) == []
    assert cli("ledger", "rebuild").code == 0 and cli("ledger", "verify").code == 0
    spend = cli("spend", "--json").json
    assert sorted((n["node"], n["status"]) for n in spend["nodes"]) == [("n1", "deleted"), ("n2", "deleted"),
                                                                        ("n3", "deleted")]


def queue_deletes_across_an_outage(cli, remote_env, api, tmp_path, store, go_away, come_back, refused_code):
    """A waiting request and an active one (with its TPU) deleted while the store is away."""
    assert cli("group", "init", "--treasurer", "alice").code == 0
    assert cli("budget", "set", "--member", "alice", "1000").code == 0
    assert cli("queue", "create", "held", "--type", "v4-8", "--hours", "1").code == 0
    remote_env.advance_clock(60)
    remote_env.set_capacity(ZONE, "v4", 4)                      # held's TPU fills the zone: the next one waits
    assert cli("queue", "create", "waiting", "--type", "v4-8", "--hours", "1").code == 0
    remote_env.advance_clock(60)
    assert {q.name: q.state for q in api.list_queued_resources(ZONE)} == {
        "held": "ACTIVE", "waiting": "WAITING_FOR_RESOURCES"}
    assert cli("sync").code == 0                                # the ledger has seen held's TPU
    go_away()
    first = cli("queue", "delete", "waiting", "--yes")
    assert first.code == 0, first.err
    assert first.err.count(NOTICE) == 1
    forced = cli("queue", "delete", "held", "--force", "--yes")
    assert forced.code == 0 and forced.err.count(NOTICE) == 1, forced.err
    remote_env.advance_clock(60)
    assert (api.list_queued_resources(ZONE), api.list_nodes(ZONE)) == ([], [])     # spending stopped
    refused = cli("queue", "create", "again", "--type", "v4-8")
    assert refused.code == refused_code and "admission reads every member's spend" in refused.err
    assert len(outbox_files(tmp_path)) == 3             # two queued deletes and held's TPU
    come_back()
    synced = cli("sync")
    assert synced.code == 0 and NOTICE not in synced.err
    assert events_of(store, "queued.deleted", "name") == ["held", "waiting"]      # each written once
    assert events_of(store, "node.deleted") == ["held"]
    assert outbox_files(tmp_path) == []
    assert cli("sync").code == 0 and events_of(store, "queued.deleted", "name") == ["held", "waiting"]
    assert cli("ledger", "rebuild").code == 0 and cli("ledger", "verify").code == 0
    assert cli("queue", "list", "--json").json == []


@pytest.mark.slow
def test_a_folder_store_that_goes_away_mid_way_through_deletes(cli, remote_env, api, tmp_path):
    deletes_across_an_outage(cli, api, tmp_path, *folder_outage(tmp_path),
                             refused_code=3)        # a folder that is not one is a config error


@pytest.mark.slow
def test_an_unmounted_disk_under_a_folder_store_is_not_taken_for_an_empty_group(cli, remote_env, api, tmp_path):
    deletes_across_an_outage(cli, api, tmp_path, *empty_mount_point(tmp_path), refused_code=8)


def test_a_group_that_really_started_over_in_an_empty_folder_is_taken_after_a_rebuild(cli, remote_env, tmp_path):
    start_members(cli, ["n1"])
    store, go_away, _ = empty_mount_point(tmp_path)
    go_away()                                        # or a treasurer emptied the folder on purpose
    refused = cli("spend")
    assert refused.code == 8 and refused.err.startswith(f"Error: The group store folder {tmp_path / 'store'} holds no "
                                                        "ledger, though this machine has read one from it.")
    assert "tpuctl ledger rebuild" in refused.err and list((tmp_path / "store").iterdir()) == []
    assert cli("ledger", "rebuild").code == 0
    assert cli("group", "init", "--treasurer", "alice").code == 0       # the new group's first event
    assert list(store.list("ledger/")) != []                             # written into the folder


@pytest.mark.slow
def test_queue_deletes_act_while_a_folder_store_is_away(cli, remote_env, api, tmp_path):
    queue_deletes_across_an_outage(cli, remote_env, api, tmp_path, *folder_outage(tmp_path), refused_code=3)


@pytest.mark.slow
def test_a_bucket_that_stops_mid_way_through_deletes(cli, remote_env, api, tmp_path, restartable_gcs):
    start, stop = restartable_gcs
    deletes_across_an_outage(cli, api, tmp_path, open_store("gs://group-bucket/tpuctl"), stop, start,
                             refused_code=8)


@pytest.mark.slow
def test_queue_deletes_act_while_a_bucket_is_stopped(cli, remote_env, api, tmp_path, restartable_gcs):
    start, stop = restartable_gcs
    queue_deletes_across_an_outage(cli, remote_env, api, tmp_path, open_store("gs://group-bucket/tpuctl"), stop,
                                   start, refused_code=8)
