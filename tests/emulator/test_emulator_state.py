"""The state file: one world shared by several servers (processes), kept across restarts."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from google.cloud import tpu_v2

from tpuctl.domain.clock import ManualClock
from tpuctl.emulator.models import WorldSettings
from tpuctl.emulator.server import EmulatorServer

PARENT = "projects/p/locations/us-central2-b"


def create(tpu_client, node_id):
    return tpu_client.create_node(parent=PARENT, node_id=node_id, node=tpu_v2.Node(
        accelerator_type="v4-8", runtime_version="tpu-ubuntu2204-base"))


def names(tpu_client) -> set[str]:
    return {n.name.rsplit("/", 1)[1] for n in tpu_client.list_nodes(parent="projects/p/locations/-")}


@pytest.fixture
def state_path(tmp_path):
    return tmp_path / "world.json"


def test_two_servers_share_one_world_and_it_survives_a_restart(state_path, tpu_client_for):
    with EmulatorServer(state_path) as a, EmulatorServer(state_path) as b:
        create(tpu_client_for(a.url), "from-a").result()
        assert names(tpu_client_for(b.url)) == {"from-a"}
        b.configure(boot_seconds=7)
        assert a.settings.boot_seconds == 7
    with EmulatorServer(state_path) as again:
        assert names(tpu_client_for(again.url)) == {"from-a"}
        assert again.settings.boot_seconds == 7
    with EmulatorServer(state_path, settings=WorldSettings(boot_seconds=1)) as explicit:
        assert explicit.settings.boot_seconds == 1  # given settings replace the stored ones
    assert json.loads(state_path.read_text())["version"] == 1


def test_time_moved_by_one_server_moves_for_all(state_path, tpu_client_for):
    with EmulatorServer(state_path, clock=ManualClock(), settings=WorldSettings(boot_seconds=30)) as a, \
            EmulatorServer(state_path, clock=ManualClock()) as b:
        create(tpu_client_for(a.url), "slow")
        a.advance_clock(30)
        assert tpu_client_for(b.url).get_node(name=f"{PARENT}/nodes/slow").state == tpu_v2.Node.State.READY
        b.reset()
        assert names(tpu_client_for(a.url)) == set()


@pytest.mark.slow
def test_concurrent_creates_through_two_servers_lose_nothing(state_path, tpu_client_for):
    with EmulatorServer(state_path) as a, EmulatorServer(state_path) as b:
        def worker(server, prefix):
            tpu_client = tpu_client_for(server.url)
            for i in range(10):
                create(tpu_client, f"{prefix}-{i}")

        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(worker, server, f"t{k}") for k, server in enumerate([a, b] * 4)]
            for future in futures:
                future.result()  # re-raises a worker's error
        assert len(names(tpu_client_for(a.url))) == 80
    assert len(json.loads(state_path.read_text())["nodes"]) == 80


def test_a_state_file_of_another_version_is_refused(state_path):
    state_path.write_text(json.dumps({"version": 99}))
    with pytest.raises(RuntimeError, match="version 99"):
        EmulatorServer(state_path)


def test_serve_forever_in_another_process(state_path, http_call):
    code = ("from tpuctl.emulator.server import serve_forever\n"
            "from tpuctl.emulator.models import WorldSettings\n"
            f"serve_forever('127.0.0.1', 0, {str(state_path)!r}, WorldSettings(boot_seconds=3),"
            " manual_clock=True, ready=lambda s: print(s.url, flush=True))\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert http_call("GET", url + "/emulator/v1/health")[1]["ok"] is True
        status, op = http_call("POST", f"{url}/v2/{PARENT}/nodes?nodeId=x",
                               {"acceleratorType": "v4-8", "runtimeVersion": "tpu-ubuntu2204-base"})
        assert status == 200 and op["done"] is False
        assert http_call("POST", url + "/emulator/v1/clock/advance", {"seconds": 3})[0] == 200
        assert http_call("GET", f"{url}/v2/{op['name']}")[1]["done"] is True
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert list(json.loads(state_path.read_text())["nodes"]) == [f"{PARENT}/nodes/x"]


def test_importing_the_server_stays_light():
    code = ("import sys, tpuctl.emulator.server\n"
            "heavy = sorted(m for m in sys.modules\n"
            "               if m.split('.')[0] in ('google', 'yaml', 'typer', 'rich', 'filelock'))\n"
            "print(heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
