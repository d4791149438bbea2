"""A `tpuctl create` killed with SIGKILL after its node exists loses no usage: the event it
wrote before calling Cloud TPU lets the next `sync` bill the node to its owner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from tests.conftest import ZONE
from tpuctl.adapters.store import LocalStore
from tpuctl.domain.events import EVENTS_PREFIX, Event


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_create_killed_after_the_node_exists_is_billed_to_its_owner_at_the_next_sync(cli, remote_env, api):
    remote_env.clock.set(datetime.now(timezone.utc))     # one time for tpuctl and the emulator
    remote_env.configure(boot_seconds=3600)              # the node stays CREATING: create keeps waiting
    create = subprocess.Popen([sys.executable, "-m", "tpuctl", "create", "crash-v4", "--type", "v4-8"],
                              env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: [n.state for n in api.list_nodes(ZONE)] == ["CREATING"])
        store = LocalStore(os.environ["TPUCTL_STORE"])
        written = [Event.from_json(store.read(key)).kind for key in store.list(EVENTS_PREFIX)]
        assert written == ["node.created"]               # written before the API was called
    finally:
        os.kill(create.pid, signal.SIGKILL)
        create.wait()
    assert create.returncode == -signal.SIGKILL

    remote_env.clock.advance(3600)                       # the node boots with nobody watching
    synced = cli("sync", "--json")
    assert synced.code == 0, synced.err
    assert synced.json["observed"] == [{"kind": "node.ready", "node": "crash-v4", "owner": "alice"}]
    mine = cli("spend", "--json").json
    assert [(n["node"], n["status"]) for n in mine["nodes"]] == [("crash-v4", "ready")]
    assert mine["who"] == "alice" and Decimal(mine["committed"]) > 0     # its lease still runs


def test_a_store_that_cannot_be_written_stops_a_create_before_anything_is_made(cli, remote_env, api, monkeypatch,
                                                                              tmp_path):
    not_a_folder = tmp_path / "store-file"
    not_a_folder.write_text("oops")
    monkeypatch.setenv("TPUCTL_STORE", str(not_a_folder))
    refused = cli("create", "never", "--type", "v4-8")
    assert refused.code == 3
    assert refused.err.splitlines()[0] == f"Error: The group store folder {not_a_folder} cannot be used (Not a directory)."
    assert api.list_nodes(ZONE) == []
