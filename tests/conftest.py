"""Shared fixtures: an isolated environment for every test, the emulator, and a CLI runner.

No test sees the developer's real config, data dir or colours. The emulator is a real HTTP
server reached through the real google-cloud-tpu client; it is reset before each test that
uses it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

PROJECT = "test-project"
ZONE = "us-central2-b"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    for key in list(os.environ):
        if key.startswith(("TPUCTL_", "CLOUDSDK_")) or key in ("GOOGLE_APPLICATION_CREDENTIALS",):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TPUCTL_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("TPUCTL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    return tmp_path


@pytest.fixture(scope="session")
def tpu_server():
    from tpuctl.emulator.models import WorldSettings
    from tpuctl.emulator.server import EmulatorServer

    server = EmulatorServer(settings=WorldSettings(boot_seconds=0), manual_clock=True).start()
    yield server
    server.stop()


@pytest.fixture
def emulator(tpu_server):
    """The session's emulator, emptied, with its (manual) clock at the real time again."""
    from datetime import datetime, timezone

    from tpuctl.emulator.models import WorldSettings

    tpu_server.reset(WorldSettings(boot_seconds=0))
    tpu_server.clock.set(datetime.now(timezone.utc))
    return tpu_server


@pytest.fixture
def api(emulator):
    from tpuctl.adapters.tpu import RetryPolicy, TpuApi

    return TpuApi(PROJECT, emulator.url, retry=RetryPolicy(initial=0.01), poll_interval=0.01)


@pytest.fixture
def remote_env(emulator, monkeypatch, tmp_path):
    """Point the CLI at the test emulator as member 'alice'."""
    monkeypatch.setenv("TPUCTL_API_ENDPOINT", emulator.url)
    monkeypatch.setenv("TPUCTL_PROJECT", PROJECT)
    monkeypatch.setenv("TPUCTL_ZONE", ZONE)
    monkeypatch.setenv("TPUCTL_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("TPUCTL_MEMBER", "alice")
    return emulator


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self):
        import json

        return json.loads(self.out)


@pytest.fixture
def cli(capsys):
    """Run `tpuctl ARGS` in-process through the real entry point (error boundary included)."""
    from tpuctl.cli.app import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run
