"""The startup script a TPU VM runs at boot, run for real against a local-folder store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from job_helpers import FAST, alive, wait_for
from tpuctl import __version__
from tpuctl.domain.agent_boot import AgentBoot, node_metadata, startup_script
from tpuctl.adapters.bundles import tpuctl_bundle, upload


def boot_env(tmp_path: Path) -> dict[str, str]:
    """A stand-in TPU VM: this Python as `python3`, no package index, a temporary home."""
    return {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path),
            "TPUCTL_AGENT_HOME": str(tmp_path / "vm"), "TPU_WORKER_ID": "3", "PIP_NO_INDEX": "1"}


@pytest.mark.slow
def test_values_in_the_startup_script_are_quoted(store, tmp_path):
    marker = tmp_path / "pwned"
    boot = AgentBoot(store=store.url, bundle=upload(store, "tpuctl", tpuctl_bundle()), zone="us-central2-b",
                     node=f"vm-1; touch {marker}", timing=f"$(touch {marker})", version=__version__)
    subprocess.run(["bash", "-c", startup_script(boot)], env=boot_env(tmp_path), check=True, timeout=120,
                   capture_output=True)
    log = tmp_path / "vm" / "agent-3.log"
    wait_for(lambda: log.exists() and "Error:" in log.read_text(), what="the agent to refuse its arguments")
    assert f"--timing has '$(touch {marker})'" in log.read_text()     # one argument, never run
    assert not marker.exists()


@pytest.mark.slow
def test_the_agent_started_by_the_script_runs_from_the_bundle(store, tmp_path):
    boot = AgentBoot(store=store.url, bundle=upload(store, "tpuctl", tpuctl_bundle()), zone="us-central2-b",
                     node="vm-1", timing=FAST, version=__version__)
    assert sorted(node_metadata(boot)) == ["startup-script", "tpuctl-agent"]
    home = tmp_path / "vm"
    subprocess.run(["bash", "-c", startup_script(boot)], env=boot_env(tmp_path), check=True, timeout=120,
                   capture_output=True)
    beat = wait_for(lambda: list(store.list("agents/us-central2-b/vm-1/beat/")), what="the agent's heartbeat")
    assert beat == ["agents/us-central2-b/vm-1/beat/w3.json"]
    data = json.loads(store.read(beat[0]))
    assert (data["state"], data["worker"], data["version"]) == ("idle", 3, __version__)
    assert Path(f"/proc/{data['pid']}/cwd").resolve() == home.resolve()
    assert f"PYTHONPATH={home}/src".encode() in Path(f"/proc/{data['pid']}/environ").read_bytes().split(b"\0")
    os.kill(data["pid"], signal.SIGTERM)
    wait_for(lambda: not alive(data["pid"]), what="the agent to stop")
    assert json.loads(store.read(beat[0]))["state"] == "stopped"
