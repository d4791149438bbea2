"""What the reaper's tests share: the emulator's manual clock as tpuctl's clock, and heartbeats."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

ZONE = "us-central2-b"


@pytest.fixture
def group(cli, shared_clock, monkeypatch, join):
    """Treasurer tess; alice may spend $30 a month."""
    from tests.cli.conftest import start_group

    start_group(cli, monkeypatch, join, "30")
    return monkeypatch


def beat(store, node: str, *, busy=(), at: datetime, idle_since: datetime | None = None, worker: int = 0,
         zone: str = ZONE, interval: float = 10.0) -> None:
    """Write a worker's heartbeat as the agent does (the schema of tpuctl/domain/activity.py)."""
    from tpuctl.domain.jobs import agent_beat_key
    from tpuctl.domain.times import format_time

    body = {"v": 1, "node": node, "zone": zone, "worker": worker, "time": format_time(at),
            "state": "busy" if busy else "idle", "busy": [{"kind": k, "detail": d} for k, d in busy],
            "idle_since": format_time(idle_since) if idle_since else None, "interval": interval}
    store.write(agent_beat_key(zone, node, worker), json.dumps(body).encode())


def ledger_payloads(store, kind: str) -> list[dict]:
    """The payloads of every ledger event of `kind` in the store, in key order."""
    found = []
    for key in store.list("ledger/events/"):
        body = json.loads(store.read(key))
        if body["kind"] == kind:
            found.append(body["payload"])
    return found
