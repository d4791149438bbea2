"""Waits that say what they wait for, off a terminal: retries and a queued create's states."""

from __future__ import annotations

import threading

import pytest

from tests.conftest import PROJECT, ZONE
from tpuctl.errors import ExitCode


@pytest.fixture
def full_zone(cli, remote_env):
    """Room for exactly one v4-8 in the zone, and it is taken."""
    remote_env.set_capacity(ZONE, "v4", 4)
    assert cli("create", "blocker", "--type", "v4-8").code == 0
    return remote_env


@pytest.mark.slow
def test_list_says_it_is_retrying_while_the_api_is_down(cli, remote_env, monkeypatch, instant_waits):
    monkeypatch.setenv("TPUCTL_RETRIES", "3")
    remote_env.inject_faults(status=503, count=2, method="GET", path_contains="/nodes")
    result = cli("list")
    assert result.code == 0
    lines = result.err.splitlines()
    assert [line.split("; ")[-1] for line in lines] == ["retrying (2/3) in 0.5 s…", "retrying (3/3) in 1 s…"]
    assert lines[0].startswith("Could not list TPUs in us-central2-b: the Cloud TPU API is unavailable")


def test_retries_that_run_out_still_end_in_one_error(cli, remote_env, monkeypatch, instant_waits):
    monkeypatch.setenv("TPUCTL_RETRIES", "2")
    remote_env.inject_faults(status=503, count=5, method="GET", path_contains="/nodes")
    result = cli("list")
    assert result.code == ExitCode.UNAVAILABLE
    assert "retrying (2/2) in 0.5 s…" in result.err.splitlines()[0]
    assert result.err.splitlines()[1].startswith("Error: Could not list TPUs")


@pytest.mark.slow
def test_a_queued_create_prints_a_line_per_state_and_gives_up_at_its_limit(cli, full_zone, instant_waits):
    result = cli("create", "eager", "--type", "v4-8", "--queue", "--wait-limit", "1s")
    assert result.code == ExitCode.CAPACITY
    lines = result.err.splitlines()
    assert lines[0] == "No capacity for v4-8 in us-central2-b now: queueing eager."
    assert lines[1] == "Waiting for eager (v4-8 in us-central2-b): WAITING_FOR_RESOURCES"
    assert lines[2] == "Error: Queued resource 'eager' is still WAITING_FOR_RESOURCES after 1s."
    assert lines[3] == "Hint: It stays queued: `tpuctl queue list` shows it; --wait-limit waits longer."


def test_a_queued_create_says_when_it_becomes_active(cli, full_zone):
    from tpuctl.adapters.tpu import TpuApi

    polled = threading.Event()      # the CLI has been told the request's first state

    def seen(request: dict) -> None:
        if request["method"] == "GET" and request["path"].endswith("/queuedResources/eager"):
            polled.set()

    def free_the_zone_once_polled() -> None:
        polled.wait(timeout=60)
        TpuApi(PROJECT, full_zone.url).delete_node(ZONE, "blocker")
        full_zone.tick()

    full_zone.request_log = seen
    helper = threading.Thread(target=free_the_zone_once_polled)
    helper.start()
    try:
        result = cli("create", "eager", "--type", "v4-8", "--queue")
    finally:
        helper.join()
        full_zone.request_log = None
    assert result.code == 0, result.err
    states = [line.removeprefix("Waiting for eager (v4-8 in us-central2-b): ") for line in result.err.splitlines()[1:]]
    assert states[0] in ("ACCEPTED", "WAITING_FOR_RESOURCES") and states[-1] == "ACTIVE"
    assert len(states) == len(set(states))                   # a line per change, not per poll
    assert result.out.startswith("eager: ACTIVE in us-central2-b, v4-8 for eager; $12.88/hour")


def test_the_wait_limit_is_checked_before_anything_is_made(cli, remote_env):
    result = cli("create", "eager", "--type", "v4-8", "--queue", "--wait-limit", "soon")
    assert result.code == ExitCode.USAGE and "--wait-limit 'soon' is not a duration." in result.err
    assert cli("list", "--json").json == []
