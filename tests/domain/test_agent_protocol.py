"""Every object of the agent protocol round-trips, reads what tpuctl wrote before objects
carried a version, and refuses with a reason what is malformed, absurd or from a newer tpuctl."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from tpuctl.domain.jobs import JobConfig, TpuSpec
from tpuctl.domain.jobs.protocol import (
    KINDS, Assignment, Attempt, BadObject, Beat, Busy, Cancel, Exit, IndexEntry, Problem, ReleaseDone, ReleaseIntent,
    Spec, Start, Touch, WorkerBeat, as_json, dump, load,
)

NOW = datetime(2026, 11, 30, 12, 0, 1, 250000, tzinfo=timezone.utc)
CONFIG = JobConfig(name="train", run=("python train.py",), tpu=TpuSpec("v4-8", "us-central2-b", "rt", spot=True),
                   setup=("pip install -r requirements.txt",), env={"EPOCHS": "3"}, hours=2.5, outputs="out",
                   resume=True, secrets=("HF_TOKEN",))
EXAMPLES = {
    Spec: Spec(id="train-k3x9q2", name="train", member="alice", created=NOW, config=CONFIG,
               workdir_bundle="bundles/workdir/ab12.tar.gz", source="job.yaml", version="0.9.0",
               agent_bundle="bundles/tpuctl/cd34.tar.gz", timing="poll=2,heartbeat=10",
               control={"project": "p", "api_endpoint": None}),
    IndexEntry: IndexEntry("train-k3x9q2", "alice"),
    Attempt: Attempt(2, "train-k3x9q2-2", "us-central2-b", 4, owned=True, queued=True, created=NOW),
    Assignment: Assignment("train-k3x9q2", 2),
    Start: Start(NOW, 10.0, "t1v-n-0", "0.9.0"),
    WorkerBeat: WorkerBeat(NOW, 10.0, "run"),
    Exit: Exit("failed", NOW, 3, "run", "exit code 3 in run"),
    Cancel: Cancel("bob", NOW, keep_node=True),
    Problem: Problem("node_lost", "TPU x was preempted before the job ran"),
    ReleaseIntent: ReleaseIntent("released: job x ended (succeeded)", "alice", NOW, "its agent"),
    ReleaseDone: ReleaseDone(NOW, "alice", "its agent", True, {"id": "20261130T120001Z-abc", "payload": {"node": "x"}}),
    Touch: Touch("alice", NOW, NOW.replace(hour=13)),
    Beat: Beat("a1", "us-central2-b", 0, NOW, (Busy("job", "train-k3x9q2"), Busy("ssh", "bob from 10.0.0.2")),
               None, 10.0, "busy", "train-k3x9q2", "0.9.0", 4242),
}


def test_every_object_of_the_protocol_has_an_example():
    assert set(EXAMPLES) == set(KINDS)


@pytest.mark.parametrize("cls", list(EXAMPLES), ids=lambda c: c.__name__)
def test_each_object_round_trips_and_carries_its_version(cls):
    obj = EXAMPLES[cls]
    assert load(cls, dump(obj)) == obj
    body = json.loads(dump(obj))
    assert body["format" if cls is Spec else "v"] == 1


# What tpuctl wrote before objects carried a version: read as version 1.
BEFORE = {
    Spec: {"format": 1, "name": "train", "member": "alice", "source": "job.yaml", "version": "0.8.0",
           "config": {"name": "train", "run": ["python train.py"], "tpu": {"type": "v4-8", "zone": "us-central2-b",
                      "runtime": "rt", "spot": False, "queue": False}, "node": None, "workdir": ".", "setup": [],
                      "env": {}, "hours": 4.0, "outputs": None, "resume": False},
           "workdir_bundle": "bundles/workdir/ab.tar.gz", "agent_bundle": None, "timing": "poll=2",
           "control": {"project": "p", "api_endpoint": "local"}, "id": "train-k3x9q2",
           "created": "2026-11-30T12:00:01.25Z"},
    Attempt: {"attempt": 1, "node": "train-k3x9q2", "zone": "us-central2-b", "workers": 1, "owned": True,
              "queued": False, "created": "2026-11-30T12:00:01Z"},
    Start: {"time": "2026-11-30T12:00:01Z", "interval": 10, "host": "vm", "version": "0.8.0"},
    Exit: {"status": "succeeded", "exit_code": 0, "phase": "run", "reason": "", "time": "2026-11-30T12:00:09Z"},
    Cancel: {"by": "bob", "time": "2026-11-30T12:00:03Z", "keep_node": False},
    Beat: {"node": "a1", "zone": "z", "worker": 0, "state": "running", "job": "j-abc123",
           "time": "2026-11-30T11:59:58Z", "idle_since": None, "interval": 10},
}


@pytest.mark.parametrize("cls", list(BEFORE), ids=lambda c: c.__name__)
def test_objects_written_before_versions_still_read(cls):
    obj = load(cls, json.dumps(BEFORE[cls]).encode())
    assert isinstance(obj, cls)
    assert load(cls, dump(obj)) == obj


def test_an_older_agents_beat_says_busy_with_its_job_and_the_spec_keeps_its_config():
    assert load(Beat, json.dumps(BEFORE[Beat]).encode()).busy == (Busy("job", "j-abc123"),)
    spec = load(Spec, json.dumps(BEFORE[Spec]).encode())
    assert (spec.config.tpu.type, spec.config.run, spec.created.microsecond) == ("v4-8", ("python train.py",), 250000)


def changed(cls, **fields) -> bytes:
    body = as_json(EXAMPLES[cls])
    body.update(fields)
    return json.dumps(body).encode()


@pytest.mark.parametrize("cls, data, reason", [
    (Exit, b"{not json", "is not JSON"),
    (Exit, b"[1, 2]", "is not a JSON object, so not a worker exit"),
    (Exit, changed(Exit, exit_code="abc"), "field 'exit_code' that is \"abc\", not a whole number"),
    (Exit, changed(Exit, status="exploded"), "field 'status' that is \"exploded\", not one of succeeded"),
    (Start, changed(Start, interval=1e9), "field 'interval' that is 1000000000.0, not a number of seconds"),
    (Start, changed(Start, time="0001-01-01T00:00:00Z"), "outside 2017-2100"),
    (Start, changed(Start, time="yesterday"), "field 'time' that is \"yesterday\", not an RFC 3339 time"),
    (Attempt, changed(Attempt, workers=10**9), "field 'workers' that is 1000000000, not a whole number from 1 to 4096"),
    (Attempt, changed(Attempt, owned="yes"), "field 'owned' that is \"yes\", not true or false"),
    (Assignment, json.dumps({"job": "../../etc", "attempt": 1}).encode(), "field 'job' that is \"../../etc\", not a job id"),
    (Cancel, json.dumps({"time": "2026-11-30T12:00:03Z"}).encode(), "lacks the field 'by'"),
    (Problem, changed(Problem, message="x" * 5000), "not a text of at most 2000 characters"),
    (Beat, changed(Beat, busy=[{"kind": "nap"}]), "not one of job, device, ssh, touch, probe"),
    (Spec, changed(Spec, config={"name": "train", "run": "rm -rf /"}), "field 'config' that is not a job config tpuctl reads (its run commands)"),
    (Spec, changed(Spec, config={**CONFIG.to_dict(), "env": {"A": 1}}), "not a job config tpuctl reads (its env)"),
    (Spec, changed(Spec, control=["x"]), "field 'control' that is [\"x\"], not project"),
    (ReleaseDone, changed(ReleaseDone, event={"id": "x"}), "not a ledger event's id and payload"),
    (Exit, changed(Exit, v="1"), "has version \"1\", not a whole number"),
    (Exit, changed(Exit, v=0), "has version 0, not a whole number"),
    (Spec, b"x" * (2 << 20), "more than a job spec can be"),
])
def test_malformed_or_absurd_objects_are_refused_with_a_reason(cls, data, reason):
    with pytest.raises(BadObject) as refused:
        load(cls, data, "jobs/train-k3x9q2/some.json")
    assert refused.value.message.startswith("jobs/train-k3x9q2/some.json is ignored: it ")
    assert reason in refused.value.message
    assert not refused.value.newer


@pytest.mark.parametrize("cls", list(EXAMPLES), ids=lambda c: c.__name__)
def test_a_newer_version_is_named_as_such(cls):
    data = changed(cls, **{"format" if cls is Spec else "v": 2})
    with pytest.raises(BadObject) as refused:
        load(cls, data, "the key")
    assert refused.value.newer
    assert refused.value.message == (f"the key is ignored: it was written by a newer tpuctl (version 2 of the "
                                     f"{cls.KIND}; this one reads up to 1): upgrade tpuctl.")


def test_unknown_fields_of_a_known_version_are_ignored():
    assert load(Exit, changed(Exit, signal="SIGTERM")) == EXAMPLES[Exit]
