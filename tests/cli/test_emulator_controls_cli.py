"""`tpuctl emulator preempt|maintenance|capacity set|clock advance` and `serve --json-log`:
the README's queue, preemption and maintenance paths, steered on the local profile and on a
served emulator."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from tests.conftest import ZONE
from tpuctl.errors import ExitCode


@pytest.fixture
def local_world(isolated_env):
    """The local profile's world on disk, with no boot delay and a 10-minute maintenance."""
    from tpuctl.adapters.local_emulator import world_path
    from tpuctl.emulator.models import WorldSettings
    from tpuctl.emulator.server import EmulatorServer

    return EmulatorServer(state_path=world_path(isolated_env / "data"),
                          settings=WorldSettings(boot_seconds=0, maintenance_seconds=600))


def states(cli) -> dict[str, str]:
    return {n["name"]: n["state"] for n in cli("list", "--json").json}


def test_the_local_profile_is_steered_through_a_full_zone_a_preemption_and_a_maintenance(cli, local_world):
    full = cli("emulator", "capacity", "set", ZONE, "v4", "4")
    assert (full.code, full.out) == (0, f"Capacity in {ZONE}: v4 4 chips.\n")
    assert cli("create", "s1", "--type", "v4-8", "--spot", "--hours", "1").code == 0
    waiting = cli("queue", "create", "s2", "--type", "v4-8", "--hours", "1")
    assert waiting.code == 0, waiting.err
    assert [q["state"] for q in cli("queue", "list", "--json").json] == ["WAITING_FOR_RESOURCES"]

    preempted = cli("emulator", "preempt", "s1")
    assert (preempted.code, preempted.out) == (0, f"TPU s1 in {ZONE} is PREEMPTED.\n")
    assert [q["state"] for q in cli("queue", "list", "--json").json] == ["ACTIVE"]     # s1's chips came free
    assert states(cli) == {"s1": "PREEMPTED", "s2": "READY"}

    maintained = cli("emulator", "maintenance", "s2")
    assert (maintained.code, maintained.out) == (0, f"TPU s2 in {ZONE} is REPAIRING.\n")
    before = datetime.fromisoformat(local_world.now())
    moved = cli("emulator", "clock", "advance", "10m")
    assert moved.code == 0 and datetime.fromisoformat(moved.out.split()[-1].rstrip(".")) - before >= timedelta(minutes=10)
    assert states(cli)["s2"] == "READY"


def test_a_served_emulator_is_steered_with_endpoint(cli, emulator, isolated_env):
    from tests.emulator.conftest import make_client

    url = emulator.url
    assert cli("emulator", "capacity", "set", ZONE, "v4-8", "8", "--endpoint", url).out == f"Capacity in {ZONE}: v4 8 chips.\n"
    client = make_client(url)
    from google.cloud import tpu_v2

    client.create_node(parent=f"projects/p/locations/{ZONE}", node_id="n1", node=tpu_v2.Node(
        accelerator_type="v4-8", runtime_version="tpu-ubuntu2204-base",
        scheduling_config=tpu_v2.SchedulingConfig(spot=True))).result(timeout=5)

    emulator.configure(maintenance_seconds=60)
    assert cli("emulator", "maintenance", "n1", "--zone", ZONE, "--endpoint", url).out == f"TPU n1 in {ZONE} is REPAIRING.\n"
    assert cli("emulator", "clock", "advance", "1m", "--endpoint", url).code == 0
    assert client.get_node(name=f"projects/p/locations/{ZONE}/nodes/n1").state == tpu_v2.Node.State.READY
    assert cli("emulator", "preempt", "n1", "--zone", ZONE, "--endpoint", url).out == f"TPU n1 in {ZONE} is PREEMPTED.\n"

    again = cli("emulator", "preempt", "n1", "--zone", ZONE, "--endpoint", url)
    assert (again.code, again.err) == (
        ExitCode.USAGE, f"Error: Node projects/p/locations/{ZONE}/nodes/n1 is not a READY spot or preemptible node.\n")
    missing = cli("emulator", "maintenance", "nope", "--zone", ZONE, "--endpoint", url)
    assert (missing.code, missing.err) == (ExitCode.NOT_FOUND, f"Error: No node nope in zone {ZONE}.\n")
    bad = cli("emulator", "clock", "advance", "soon", "--endpoint", url)
    assert bad.code == ExitCode.USAGE and "'soon' is not a duration" in bad.err


@pytest.mark.slow
def test_serve_flags_and_json_log_one_line_per_request(cli):
    from tests.emulator.conftest import http_json

    proc = subprocess.Popen([sys.executable, "-m", "tpuctl", "emulator", "serve", "--port", "0", "--json-log",
                             "--manual-clock", "--capacity", f"{ZONE}:v4=4", "--spot-preempt-after-seconds", "3600",
                             "--maintenance-seconds", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stderr.readline().split("listening on ")[1].split()[0]
        http_json("GET", f"{url}/v2/projects/p/locations/{ZONE}/nodes?pageSize=5")
        http_json("GET", f"{url}/v2/projects/p/locations/{ZONE}/nodes/nope")
        settings = http_json("GET", f"{url}/emulator/v1/settings")[1]
        moved = cli("emulator", "clock", "advance", "1h", "--endpoint", url)
        lines = [json.loads(proc.stdout.readline()) for _ in range(4)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert (settings["capacity"], settings["spot_preempt_after_seconds"], settings["maintenance_seconds"]) == (
        {ZONE: {"v4": 4}}, 3600, 30)
    assert moved.code == 0, moved.err
    assert [(e["method"], e["path"], e["query"], e["status"]) for e in lines] == [
        ("GET", f"/v2/projects/p/locations/{ZONE}/nodes", "pageSize=5", 200),
        ("GET", f"/v2/projects/p/locations/{ZONE}/nodes/nope", "", 404),
        ("GET", "/emulator/v1/settings", "", 200),
        ("POST", "/emulator/v1/clock/advance", "", 200)]
    assert all(0 <= e["latency_ms"] < 5000 for e in lines)
