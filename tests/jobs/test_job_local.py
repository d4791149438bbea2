"""The README's main job on the built-in local profile: the emulator boots the node by starting
its agent as a local process, and the digits classifier really trains on this machine."""

from __future__ import annotations

import json
import re

import pytest

from job_helpers import EXAMPLES, FAST, alive, wait_for


@pytest.mark.slow
def test_the_digits_example_trains_on_the_local_default(cli, isolated_env, agents, monkeypatch):
    from tpuctl.adapters.local_emulator import world_path
    from tpuctl.adapters.store import LocalStore
    from tpuctl.emulator.models import WorldSettings
    from tpuctl.emulator.server import EmulatorServer

    EmulatorServer(state_path=world_path(isolated_env / "data"), settings=WorldSettings(boot_seconds=0.3))
    monkeypatch.setenv("TPUCTL_JOB_TIMING", FAST)
    monkeypatch.chdir(isolated_env)

    result = cli("run", str(EXAMPLES / "digits" / "job.yaml"), "--follow")
    assert result.code == 0, result.err
    assert re.search(r"\nepoch  40  loss 0\.\d+  test accuracy 0\.9\d\d\ndone: test accuracy 0\.9\d\d\n", result.out)
    job = re.search(r"Job (digits-[a-z0-9]{6}) succeeded on 1 worker in \d+s\.\n$", result.err).group(1)
    store = LocalStore(isolated_env / "data" / "store")
    metrics = json.loads(store.read(f"jobs/{job}/outputs/w0/metrics.json"))
    assert metrics["epochs"] == 40 and metrics["test_accuracy"] > 0.9
    assert sorted(store.list(f"jobs/{job}/outputs/w0/")) == [f"jobs/{job}/outputs/w0/{name}"
                                                            for name in ("checkpoint.npz", "metrics.json")]
    # The job has ended, so `run --follow` deleted its TPU, which stopped the agent.
    assert cli("list", "--json").json == []
    pid = json.loads(store.read(f"agents/us-central2-b/{job}/beat/w0.json"))["pid"]
    wait_for(lambda: not alive(pid), what="the local agent to stop")
    assert list(agents.root.glob("*/*/*/w0/agent.pid")) == []
