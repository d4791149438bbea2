from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tpuctl.domain.activity import BadBeat, Busy, node_activity, parse_beat

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def beat(worker=0, ago=5, busy=(), idle_since=None, **extra) -> bytes:
    body = {"v": 1, "node": "a1", "zone": "us-central2-b", "worker": worker,
            "time": (NOW - timedelta(seconds=ago)).isoformat().replace("+00:00", "Z"),
            "busy": [{"kind": k, "detail": d} for k, d in busy],
            "idle_since": idle_since.isoformat().replace("+00:00", "Z") if idle_since else None, "interval": 10}
    body.update(extra)
    return json.dumps(body).encode()


def test_a_node_is_busy_if_any_worker_is_and_says_why():
    beats = [parse_beat(beat(0)), parse_beat(beat(1, busy=[("device", "pid 42 holds /dev/accel0")]))]
    activity = node_activity(beats, workers=2, now=NOW)
    assert activity.status == "busy" and activity.reasons == (Busy("device", "pid 42 holds /dev/accel0"),)


def test_idle_only_when_every_worker_reports_idle_freshly():
    early, late = NOW - timedelta(minutes=50), NOW - timedelta(minutes=20)
    beats = [parse_beat(beat(0, idle_since=early)), parse_beat(beat(1, idle_since=late))]
    assert node_activity(beats, workers=2, now=NOW).idle_since == late
    assert node_activity(beats[:1], workers=2, now=NOW).status == "silent"
    stale = [parse_beat(beat(0, ago=600, idle_since=early)), beats[1]]
    assert node_activity(stale, workers=2, now=NOW).status == "silent"


def test_an_old_agents_state_reads_as_busy_with_its_job():
    old = json.dumps({"node": "a1", "zone": "z", "worker": 0, "state": "running", "job": "j-abc123",
                      "time": "2026-11-30T11:59:58Z", "idle_since": None, "interval": 10}).encode()
    assert parse_beat(old).busy == (Busy("job", "j-abc123"),)


@pytest.mark.parametrize("data", [b"nope", b"[]", beat(v="1"), beat(worker=-1), beat(interval=1e9),
                                  beat(busy=[("nap", "")]), beat(time="yesterday")])
def test_a_malformed_heartbeat_says_nothing(data):
    with pytest.raises(BadBeat):
        parse_beat(data)
