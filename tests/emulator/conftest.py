"""The real TPU client on the session emulator (`emulator` in tests/conftest.py), and raw HTTP calls."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request

import pytest

from tpuctl.domain.clock import ManualClock


@pytest.fixture
def emulator_clock(emulator) -> ManualClock:
    """The session emulator's clock (tests/conftest.py sets it to the real time before each test)."""
    return emulator.clock


def make_client(url: str):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import tpu_v2

    return tpu_v2.TpuClient(transport="rest", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": url})


@pytest.fixture(scope="session")
def _emulator_session_client(tpu_server):
    return make_client(tpu_server.url)


@pytest.fixture
def tpu_client(emulator, _emulator_session_client):
    """A google.cloud.tpu_v2.TpuClient (REST) talking to the freshly reset emulator."""
    return _emulator_session_client


def http_json(method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    """A raw request, to check the exact JSON on the wire (and the control surface)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="session")
def tpu_client_for():
    """tpu_client_for(url) -> a TpuClient on another emulator (e.g. one on a state file)."""
    return make_client


@pytest.fixture(scope="session")
def http_call():
    """http_call(method, url, body=None) -> (status, JSON)."""
    return http_json


@pytest.fixture
def emulator_raw(emulator):
    """emulator_raw(method, path, body=None) -> (status, JSON) against the emulator."""
    return lambda method, path, body=None: http_json(method, emulator.url + path, body)


@pytest.fixture(scope="session")
def gcloud_forks(tmp_path_factory):
    """gcloud loaded once for this worker and forked for each call (tests/emulator/gcloud_forks.py)."""
    from tests.emulator.gcloud_forks import GcloudForks

    forks = GcloudForks(tmp_path_factory.mktemp("gcloud-forks"))
    yield forks
    forks.close()


def gcloud_runner(forks, emulator, config_dir, *command: str, zone: str | None = None):
    """run(*args) -> parsed JSON of `gcloud COMMAND ARGS` against the emulator, with no account;
    run(*args, ok=False) -> the CompletedProcess."""
    env = {**os.environ,
           "CLOUDSDK_CONFIG": str(config_dir),
           "CLOUDSDK_API_ENDPOINT_OVERRIDES_TPU": emulator.url + "/",
           "CLOUDSDK_AUTH_DISABLE_CREDENTIALS": "true",
           "CLOUDSDK_CORE_PROJECT": "p",
           "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
    where = [f"--zone={zone}"] if zone else []

    def run(*args, ok=True):
        proc = forks.run([*command, *args, *where, "--format=json"], env)
        if not ok:
            return proc
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout or "null")

    return run
