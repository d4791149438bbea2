"""Helpers for the jobs tests: waiting on processes and on job states."""

from __future__ import annotations

import json
import time
from pathlib import Path

FAST = "poll=0.1,heartbeat=0.5,flush=0.1,sync=0.3,grace=3,follow=0.1"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def alive(pid: int) -> bool:
    """Running and not a zombie (agents are children of the test process)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def job_state(cli, job: str) -> dict:
    result = cli("job", job, "--json")
    assert result.code == 0, result.err
    return result.json


def wait_state(cli, job: str, *states: str, timeout: float = 20.0) -> dict:
    return wait_for(lambda: (d := job_state(cli, job))["state"] in states and d, timeout, f"{job} to be {states}")


def read_json(store, key: str) -> dict:
    return json.loads(store.read(key))
