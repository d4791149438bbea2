"""Releasing a job's TPU is safe to repeat and to race: several releasers, one cut short, a
TPU already deleted. A job made by `tpuctl run` on the test emulator with no agents, whose
worker then reports its end in the store as an agent would; real store, SQLite and emulator."""

from __future__ import annotations

import json
import threading

import pytest

from job_helpers import job_state
from tests.conftest import PROJECT
from tpuctl.domain import jobs as layout
from tpuctl.domain.events import NODE_DELETED, Event
from tpuctl.domain.releases import release_key


@pytest.fixture
def ended_job(cli, remote_env, write_job, store, monkeypatch, tmp_path):
    """A job whose TPU is READY and whose only worker has succeeded; returns its id."""
    monkeypatch.chdir(tmp_path)
    job = cli("run", str(write_job("name: done\ntpu: {type: v4-8}\nrun: echo\n"))).out.strip()
    for kind, record in (("start", {"time": "2026-11-30T10:00:00Z", "interval": 10}),
                         ("exit", {"status": "succeeded", "exit_code": 0, "phase": "run", "reason": "",
                                   "time": "2026-11-30T10:00:05Z"})):
        store.create(layout.worker_key(job, 1, kind, 0), json.dumps(record).encode())
    assert job_state(cli, job)["state"] == "succeeded"
    return job


def books(store, tmp_path, name: str, member: str = "alice"):
    from tpuctl.adapters.ledger_db import LedgerDB
    from tpuctl.domain.clock import SystemClock
    from tpuctl.adapters.user_files import load_price_table
    from tpuctl.services.ledger import Books

    return Books(store, LedgerDB(tmp_path / f"{name}.sqlite"), SystemClock(), load_price_table(), member)


def tpu_api(emulator):
    from tpuctl.adapters.tpu import RetryPolicy, TpuApi

    return TpuApi(PROJECT, emulator.url, retry=RetryPolicy(initial=0.01), poll_interval=0.01)


def deletions(store, node: str) -> list[Event]:
    events = [Event.from_json(store.read(key)) for key in store.list("ledger/events/")]
    return [e for e in events if e.kind == NODE_DELETED and e.payload["node"] == node]


def test_two_releasers_at_once_delete_the_tpu_once_in_the_ledger(ended_job, remote_env, store, tmp_path, cli):
    from tpuctl.services.jobs import read_status
    from tpuctl.services.release import release

    racers = [(books(store, tmp_path, "agent"), "its agent"), (books(store, tmp_path, "follower"), "run --follow")]
    status = read_status(store, ended_job, racers[0][0].clock)
    start, results = threading.Barrier(len(racers)), []

    def race(ledger, via):
        start.wait()
        results.append(release(ledger, tpu_api(remote_env), status, via))

    threads = [threading.Thread(target=race, args=racer) for racer in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results[0] == results[1] and results[0].deleted
    [event] = deletions(store, ended_job)
    assert (event.id, event.time, event.payload["reason"]) == (
        results[0].event_id, results[0].time, f"released: job {ended_job} ended (succeeded)")
    for ledger, _ in racers:                        # both local views hold that one event: the node is closed
        assert ledger.db.known_ids([event.id]) == {event.id}
        assert [s.spec.node for s in ledger.db.open_nodes()] == []
    assert cli("list", "--json").json == []


def test_a_release_cut_short_after_its_intent_is_finished_by_jobs_resume(ended_job, store, cli):
    reason = f"released: job {ended_job} ended (succeeded)"
    store.create(release_key(ended_job, 1, "intent"),        # a releaser killed right after writing its intent
                 json.dumps({"reason": reason, "by": "alice", "time": "2026-11-30T10:00:06Z", "via": "its agent"}).encode())
    assert job_state(cli, ended_job)["release"]["released"] is None
    assert [n["name"] for n in cli("list", "--json").json] == [ended_job]
    assert "tpu released: pending since 2026-11-30T10:00:06Z (asked by alice; " + reason + ")" \
        in cli("job", ended_job).out.splitlines()

    resumed = cli("jobs", "resume")
    assert (resumed.code, resumed.out) == (0, f"Finished releasing TPU {ended_job} of {ended_job}: deleted.\n")
    assert cli("list", "--json").json == []
    release = job_state(cli, ended_job)["release"]
    assert (release["released_by"], release["via"], release["deleted"]) == ("alice", "jobs resume", True)
    assert [e.payload["reason"] for e in deletions(store, ended_job)] == [reason]
    assert cli("jobs", "resume").out == "Nothing to resume.\n"
    followed = cli("logs", ended_job, "-f")                  # nothing left to do: no second record
    assert followed.code == 0 and "Deleting TPU" not in followed.err
    assert len(deletions(store, ended_job)) == 1


def test_a_tpu_deleted_before_its_release_is_noted_as_gone_and_recorded_once(ended_job, remote_env, store, cli,
                                                                            tmp_path):
    from tpuctl.services.jobs import read_status
    from tpuctl.services.release import release

    assert cli("delete", ended_job, "--yes").code == 0       # the member deleted it first
    ledger = books(store, tmp_path, "agent")
    done = release(ledger, tpu_api(remote_env), read_status(store, ended_job, ledger.clock), "its agent")
    assert (done.done, done.deleted, done.event_id) == (True, False, None)
    followed = cli("logs", ended_job, "-f")
    assert followed.code == 0 and "Deleting TPU" not in followed.err
    assert len(deletions(store, ended_job)) == 1             # the member's own delete, nothing more
    [line] = [line for line in cli("job", ended_job).out.splitlines() if line.startswith("tpu released:")]
    assert line.startswith("tpu released: found already gone at ") and line.endswith(" by alice (its agent); "
                                                                                     f"released: job {ended_job} ended (succeeded)")


def test_jobs_resume_of_one_job_finishes_its_cut_short_release(ended_job, store, cli):
    store.create(release_key(ended_job, 1, "intent"), json.dumps({
        "reason": f"released: job {ended_job} ended (succeeded)", "by": "alice", "time": "2026-11-30T10:00:06Z",
        "via": "run --follow"}).encode())
    resumed = cli("jobs", "resume", ended_job, "--json")
    assert resumed.code == 0, resumed.err
    [shown] = resumed.json
    assert (shown["id"], shown["release"]["via"], shown["release"]["deleted"]) == (ended_job, "jobs resume", True)
    assert cli("list", "--json").json == [] and len(deletions(store, ended_job)) == 1
    assert cli("jobs", "resume", ended_job).out == f"Job {ended_job} does not need resuming.\n"
