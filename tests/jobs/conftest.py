"""Jobs end to end: the test emulator boots nodes by starting real agent processes.

`jobs_env` points the CLI at the session's emulator (member alice, a temp store) and installs
local mode's agent hooks on it, with short agent intervals; every agent still alive at the end
of a test is stopped, so no process outlives its test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from job_helpers import FAST, alive, wait_for


@pytest.fixture(scope="session")
def agent_sources(tmp_path_factory) -> Path:
    """One folder of unpacked tpuctl bundles for the run. It is keyed by each bundle's digest, so
    the tests share what each would unpack alike, and the modules Python compiles from it (the
    first agents of every test compiled tpuctl again)."""
    return tmp_path_factory.mktemp("agent-src")


@pytest.fixture
def agents(isolated_env, agent_sources):
    from tpuctl.adapters.local_agents import LocalAgents

    local = LocalAgents(isolated_env / "data")
    local.root.mkdir(parents=True)
    (local.root / "src").symlink_to(agent_sources, target_is_directory=True)
    yield local
    for pid in local.stop_all():
        wait_for(lambda: not alive(pid), what=f"agent {pid} to stop")


@pytest.fixture
def jobs_env(remote_env, agents, monkeypatch, tmp_path):
    monkeypatch.setenv("TPUCTL_JOB_TIMING", FAST)
    monkeypatch.chdir(tmp_path)
    agents.install(remote_env)
    yield remote_env
    remote_env.hooks.update(ready=None, gone=None)


@pytest.fixture
def write_job(tmp_path):
    """write_job(yaml_text, files={name: text}) -> path of job.yaml in a fresh workdir."""
    counter = iter(range(1000))

    def write(text: str, files: dict[str, str] | None = None) -> Path:
        folder = tmp_path / f"job{next(counter)}"
        folder.mkdir()
        for name, content in (files or {}).items():
            (folder / name).write_text(content)
        path = folder / "job.yaml"
        path.write_text(text)
        return path

    return write


@pytest.fixture
def real_time(jobs_env):
    """The emulator on the wall clock, as the ledger is, so their seconds can be compared."""
    from tpuctl.domain.clock import SystemClock

    manual, jobs_env.clock = jobs_env.clock, SystemClock()
    yield jobs_env
    jobs_env.clock = manual
