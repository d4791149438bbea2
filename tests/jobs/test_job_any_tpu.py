"""Jobs on a TPU a member made with `tpuctl create`, and what its agent says it is doing."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from job_helpers import wait_for
from tests.conftest import ZONE
from tpuctl.domain.activity import node_activity, parse_beat
from tpuctl.errors import ExitCode


def beat(store, node: str) -> dict:
    return json.loads(store.read(f"agents/{ZONE}/{node}/beat/w0.json"))


def activity(store, node: str):
    raw = store.read(f"agents/{ZONE}/{node}/beat/w0.json")
    parsed = parse_beat(raw)
    return node_activity([parsed], 1, parsed.time)


@pytest.fixture
def probes_env(jobs_env, monkeypatch, tmp_path):
    """A fake TPU device file and login records the agent is pointed at (local profile only)."""
    device = tmp_path / "fake-accel0"
    device.write_bytes(b"")
    monkeypatch.setenv("TPUCTL_DEVICE_PATHS", str(tmp_path / "fake-accel*"))
    monkeypatch.setenv("TPUCTL_UTMP", str(tmp_path / "utmp"))
    return device


@pytest.mark.slow
def test_two_jobs_run_one_after_the_other_on_a_tpu_made_by_create(cli, probes_env, write_job, store):
    created = cli("create", "a1", "--type", "v4-8")
    assert created.code == 0, created.err
    wait_for(lambda: list(store.list(f"agents/{ZONE}/a1/beat/")), what="a1's agent to report")
    for n in (1, 2):
        path = write_job(f"name: step{n}\nnode: a1\nrun: echo step {n} on $TPU_WORKER_ID\n")
        result = cli("run", str(path), "--follow")
        assert result.code == 0, result.err
        assert f"step {n} on 0\n" in result.out
        assert "succeeded on 1 worker" in result.err
    # The member made a1, so no job's end deletes it: it stays, and its agent keeps reporting.
    assert [n["name"] for n in cli("list", "--json").json] == ["a1"]
    jobs = cli("jobs", "--json").json
    assert [(j["state"], j["node"], j["release"]) for j in jobs] == [("succeeded", "a1", None)] * 2
    idle = wait_for(lambda: (b := beat(store, "a1"))["busy"] == [] and b, what="a1 to report idle")
    assert (idle["v"], idle["state"]) == (1, "idle") and idle["idle_since"]
    assert activity(store, "a1").status == "idle"


@pytest.mark.slow
def test_a_process_outside_tpuctl_holding_the_device_makes_the_node_busy(cli, probes_env, store, tmp_path):
    assert cli("create", "a1", "--type", "v4-8").code == 0
    wait_for(lambda: list(store.list(f"agents/{ZONE}/a1/beat/")) and beat(store, "a1")["state"] == "idle",
             what="a1 to report idle")
    idle_since = beat(store, "a1")["idle_since"]
    holder = subprocess.Popen([sys.executable, "-c", f"f = open({str(probes_env)!r}); import time; time.sleep(60)"])
    try:
        busy = wait_for(lambda: (b := beat(store, "a1"))["busy"] and b, what="a1 to report busy")
        assert busy["state"] == "busy" and busy["idle_since"] is None
        comm = Path(f"/proc/{holder.pid}/comm").read_text().strip()
        assert busy["busy"] == [{"kind": "device", "detail": f"pid {holder.pid} ({comm}) holds {probes_env}"}]
        seen = activity(store, "a1")
        assert (seen.status, [r.kind for r in seen.reasons]) == ("busy", ["device"])
    finally:
        holder.kill()
        holder.wait()
    again = wait_for(lambda: (b := beat(store, "a1"))["busy"] == [] and b, what="a1 to report idle again")
    assert again["idle_since"] > idle_since


def _utmp_record(kind: int, pid: int, user: str, host: str) -> bytes:
    fmt = struct.Struct("<hxxi32s4s32s256shhiii4i20x")
    return fmt.pack(kind, pid, b"pts/0", b"ts/0", user.encode(), host.encode(), 0, 0, 0, 0, 0, 0, 0, 0, 0)


@pytest.mark.slow
def test_ssh_logins_touches_and_failed_probes_keep_the_node_busy(cli, probes_env, store, tmp_path):
    assert cli("create", "a1", "--type", "v4-8").code == 0
    wait_for(lambda: list(store.list(f"agents/{ZONE}/a1/beat/")) and beat(store, "a1")["state"] == "idle")
    utmp = tmp_path / "utmp"
    utmp.write_bytes(_utmp_record(7, 1, "bob", "10.0.0.2") + _utmp_record(8, 1, "gone", "10.0.0.3"))
    ssh = wait_for(lambda: (b := beat(store, "a1"))["busy"] and b, what="an SSH login to show")
    assert ssh["busy"] == [{"kind": "ssh", "detail": "bob from 10.0.0.2 on pts/0"}]
    utmp.write_bytes(b"x" * 100)
    failed = wait_for(lambda: (b := beat(store, "a1"))["busy"][0]["kind"] == "probe" and b)
    assert failed["busy"] == [{"kind": "probe", "detail": f"the ssh probe failed: {utmp} is 100 bytes, "
                                                          "not whole login records"}]
    utmp.unlink()
    wait_for(lambda: beat(store, "a1")["busy"] == [], what="a1 to report idle")

    touched = cli("touch", "a1", "--minutes", "30")
    assert touched.code == 0, touched.err
    assert touched.out.startswith("Touched a1: its agent reports it busy until ")
    busy = wait_for(lambda: (b := beat(store, "a1"))["busy"] and b, what="the touch to show")
    assert [r["kind"] for r in busy["busy"]] == ["touch"] and busy["busy"][0]["detail"].startswith("touched by alice until ")


def test_no_agent_opts_out_and_jobs_cannot_use_that_tpu(cli, jobs_env, write_job, store):
    assert cli("create", "bare", "--type", "v4-8", "--no-agent").code == 0
    path = write_job("name: nope\nnode: bare\nrun: echo hi\n")
    refused = cli("run", str(path))
    assert refused.code == ExitCode.USAGE
    assert refused.err.startswith("Error: TPU 'bare' runs no tpuctl agent: it was created with --no-agent or outside tpuctl.\n")
    assert list(store.list(f"agents/{ZONE}/bare/")) == []


@pytest.mark.slow
def test_queued_tpus_each_get_their_own_agent(cli, jobs_env, store):
    assert cli("queue", "create", "q", "--type", "v4-8", "--count", "2").code == 0
    wait_for(lambda: len(list(store.list(f"agents/{ZONE}/q-0/beat/")) + list(store.list(f"agents/{ZONE}/q-1/beat/"))) == 2,
             what="both queued TPUs' agents to report")
    assert beat(store, "q-1")["node"] == "q-1"
