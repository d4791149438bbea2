"""A member can write the group store by hand: a job object that is malformed or from a newer
tpuctl is ignored and named, never a crash, by `tpuctl job`, `tpuctl jobs` and the agent.
Jobs made by `tpuctl run` on the test emulator with no agents; real store and emulator."""

from __future__ import annotations

import json

import pytest

from job_helpers import job_state
from tpuctl.domain import jobs as layout
from tpuctl.errors import ExitCode


@pytest.fixture
def job(cli, remote_env, write_job, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    made = cli("run", str(write_job("name: hand\ntpu: {type: v4-8}\nrun: echo\n")))
    assert made.code == 0, made.err
    return made.out.strip()


def test_malformed_worker_objects_are_ignored_and_named(job, cli, store):
    store.create(layout.worker_key(job, 1, "start", 0), json.dumps({"time": "2026-11-30T10:00:00Z",
                                                                      "interval": 10}).encode())
    exit_key = layout.worker_key(job, 1, "exit", 0)
    store.create(exit_key, json.dumps({"status": "succeeded", "exit_code": "zero", "time": "2026-11-30T10:00:05Z"}).encode())
    store.create(layout.cancel_key(job), b"[not an object]")
    store.create(f"jobs/{job}/a1/exit/notes.txt", b"hello")           # no worker's key: not read

    shown = job_state(cli, job)
    assert (shown["state"], shown["cancelled_by"]) == ("interrupted", None)    # its heartbeat stopped; no exit, no cancel
    from tpuctl.domain.clock import SystemClock
    from tpuctl.services.jobs import read_status

    ignored = read_status(store, job, SystemClock()).ignored
    assert len(ignored) == 2
    assert ignored[0].startswith(f"{exit_key} is ignored: it has a field 'exit_code' that is \"zero\", not a whole number")
    assert ignored[1].startswith(f"{layout.cancel_key(job)} is ignored: it is not JSON")
    shown = cli("job", job)
    assert shown.code == 0 and shown.err.splitlines() == list(ignored)
    assert cli("job", job, "--json").json["ignored"] == list(ignored)       # scripts see them too
    assert [j["id"] for j in cli("jobs", "--json").json] == [job]


def test_a_spec_from_a_newer_tpuctl_is_named_and_the_other_jobs_still_list(job, cli, store, write_job):
    other = cli("run", str(write_job("name: other\ntpu: {type: v4-8}\nrun: echo\n"))).out.strip()
    key = layout.spec_key(job)
    body = json.loads(store.read(key))
    store.delete(key)
    store.create(key, json.dumps({**body, "format": 2}).encode())

    shown = cli("job", job)
    assert shown.code == ExitCode.CONFIG
    assert shown.err.startswith(f"Error: Job {job} cannot be shown: {key} is ignored: it was written by a newer "
                                "tpuctl (version 2 of the job spec; this one reads up to 1): upgrade tpuctl.")
    listed = cli("jobs", "--json")
    assert [j["id"] for j in listed.json] == [other]
    assert listed.err.startswith(f"Left out: Job {job} cannot be shown: {key} is ignored: it was written by a newer")


def test_the_agent_fails_a_job_it_cannot_read_and_skips_a_hand_written_queue_entry(tmp_path, store):
    from tpuctl.agent.runner import Agent
    from tpuctl.domain.clock import SystemClock
    from tpuctl.domain.jobs.protocol import Assignment, Exit, dump, load

    agent = Agent(store, "us-central2-b", "vm-1", 0, tmp_path / "jobs", clock=SystemClock())
    queue = layout.node_prefix("us-central2-b", "vm-1") + "jobs/"
    for job, spec in (("newer-abc123", {"format": 2, "id": "newer-abc123"}), ("junk-abc123", {"id": 5})):
        store.create(layout.spec_key(job), json.dumps(spec).encode())
        store.create(f"{queue}{job}.1.json", dump(Assignment(job, 1)))
        agent.take(f"{queue}{job}.1.json")
    store.create(f"{queue}bad.json", b'{"job": "../../x", "attempt": -1}')
    agent.take(f"{queue}bad.json")

    newer = load(Exit, store.read(layout.worker_key("newer-abc123", 1, "exit", 0)))
    assert (newer.status, newer.reason) == ("failed", "the agent on this TPU (tpuctl "
                                            f"{__import__('tpuctl').__version__}) is too old for this job")
    junk = load(Exit, store.read(layout.worker_key("junk-abc123", 1, "exit", 0)))
    assert junk.status == "failed" and junk.reason.startswith(
        f"its spec cannot be read ({layout.spec_key('junk-abc123')} is ignored: it has a field 'id' that is 5, not a job id.)")
    assert list(store.list("jobs/")) == sorted([layout.spec_key("newer-abc123"), layout.spec_key("junk-abc123"),
                                                layout.worker_key("newer-abc123", 1, "exit", 0),
                                                layout.worker_key("junk-abc123", 1, "exit", 0)])
