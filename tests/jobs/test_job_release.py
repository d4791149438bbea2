"""A job's TPU is released when the job ends, by the agent on its worker 0 when nobody follows
it: real agent processes, the test emulator (and the local profile), a real store folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from job_helpers import FAST, alive, job_state, wait_for, wait_state
from tests.conftest import ZONE
from tpuctl.domain.events import NODE_DELETED, NODE_READY, Event
from tpuctl.domain.jobs import INDEX_PREFIX, index_job, parse_iso


def node_events(store, node: str) -> list[Event]:
    events = [Event.from_json(store.read(key)) for key in store.list("ledger/events/")]
    return [e for e in events if e.kind.startswith("node.") and e.payload["node"] == node]


def deletions(store, node: str) -> list[Event]:
    """The node's node.deleted events, once there is one: worker 0's agent writes the job's
    release record first and the ledger event just after (a loaded machine shows the gap)."""
    return wait_for(lambda: [e for e in node_events(store, node) if e.kind == NODE_DELETED], what=f"{node}'s deletion")


def nodes(cli) -> list[str]:
    return [n["name"] for n in cli("list", "--json").json]


def released(cli, job: str) -> dict:
    """The job's release once Cloud TPU has accepted the delete."""
    return wait_for(lambda: (r := job_state(cli, job)["release"]) and r["released"] and r, what=f"{job}'s release")


def idle_after(store, node: str, when: str) -> bool:
    """Worker 0's agent is idle again after `when`: it has decided about the job's TPU."""
    try:
        beat = json.loads(store.read(f"agents/{ZONE}/{node}/beat/w0.json"))
    except Exception:
        return False
    return beat["state"] == "idle" and parse_iso(beat["time"]) > parse_iso(when)


@pytest.mark.slow
def test_run_without_follow_has_its_tpu_deleted_by_its_agent_and_recorded_once(cli, jobs_env, write_job, store):
    job = cli("run", str(write_job("name: alone\ntpu: {type: v4-8}\nrun: sleep 1.2; echo nobody watches\n"))).out.strip()
    wait_state(cli, job, "succeeded")
    release = released(cli, job)
    assert nodes(cli) == []
    assert {k: release[k] for k in ("released_by", "via", "deleted", "reason")} == {
        "released_by": "alice", "via": "its agent", "deleted": True, "reason": f"released: job {job} ended (succeeded)"}
    [deleted] = deletions(store, job)
    assert (deleted.actor, deleted.payload["reason"], deleted.id) == ("alice", release["reason"], release["event_id"])
    assert deleted.time == parse_iso(release["released"])          # when Cloud TPU accepted the delete
    [ready] = [e for e in node_events(store, job) if e.kind == NODE_READY]
    [row] = [n for n in cli("spend", "--json").json["nodes"] if n["node"] == job]
    assert row["status"] == "deleted"
    assert abs(row["seconds"] - (deleted.time - ready.time).total_seconds()) <= 1
    shown = [line for line in cli("job", job).out.splitlines() if line.startswith("tpu released:")]
    assert shown == [f"tpu released: deleted at {release['released']} by alice (its agent); "
                     f"released: job {job} ended (succeeded)"]


@pytest.mark.slow
def test_a_release_cut_off_before_its_deletion_was_recorded_is_recorded_by_jobs_resume(cli, real_time, write_job,
                                                                                         store):
    job = cli("run", str(write_job("name: cutoff\ntpu: {type: v4-8}\nrun: sleep 1.2; echo quick\n"))).out.strip()
    wait_state(cli, job, "succeeded")
    release = released(cli, job)
    [deleted] = deletions(store, job)
    store.delete(deleted.key)          # what a releaser killed between `done` and the event leaves
    assert cli("ledger", "rebuild").code == 0
    [row] = [n for n in cli("spend", "--json").json["nodes"] if n["node"] == job]
    assert row["status"] == "ready"                                  # billed on, though the TPU is gone

    assert cli("jobs", "resume", job).code == 0
    [again] = [e for e in node_events(store, job) if e.kind == NODE_DELETED]
    assert (again.id, again.time, again.actor) == (release["event_id"], parse_iso(release["released"]), "alice")
    [ready] = [e for e in node_events(store, job) if e.kind == NODE_READY]
    [row] = [n for n in cli("spend", "--json").json["nodes"] if n["node"] == job]
    assert row["status"] == "deleted"
    assert abs(row["seconds"] - (again.time - ready.time).total_seconds()) <= 1
    [ran] = [u for u in real_time.usage() if u["node"].endswith(f"/{job}")]
    assert abs(row["seconds"] - sum(float(i["chipSeconds"]) for i in ran["intervals"]) / ran["chips"]) <= 2
    assert cli("jobs", "resume", job).code == 0                     # a second pass writes nothing more
    assert [e.id for e in node_events(store, job) if e.kind == NODE_DELETED] == [again.id]


@pytest.mark.slow
def test_a_followers_kill_does_not_keep_the_tpu(jobs_env, write_job, store, tmp_path, cli):
    path = write_job("name: orphaned\ntpu: {type: v4-16}\nrun: echo started; sleep 1.5; echo done\n")
    proc = subprocess.Popen([sys.executable, "-m", "tpuctl", "run", str(path), "--follow"], cwd=tmp_path,
                            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        job = wait_for(lambda: [index_job(k) for k in store.list(INDEX_PREFIX)], what="the job")[0]
        wait_for(lambda: job_state(cli, job)["state"] == "running", what="the job to run")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    assert job_state(cli, job)["state"] == "running"          # the follower died mid-job
    wait_state(cli, job, "succeeded")
    assert released(cli, job)["via"] == "its agent"
    assert nodes(cli) == []
    assert [(e.actor, e.payload["reason"]) for e in deletions(store, job)] == [
        ("alice", f"released: job {job} ended (succeeded)")]


@pytest.mark.slow
def test_keep_node_keeps_the_tpu_after_the_job(cli, jobs_env, write_job, store):
    started = cli("run", str(write_job("name: keeper\ntpu: {type: v4-8}\nrun: echo kept\n")), "--keep-node", "--json")
    job = started.json["id"]
    assert started.json["keep_node"] is True
    ended = wait_state(cli, job, "succeeded")
    wait_for(lambda: idle_after(store, job, ended["attempts"][0]["finished"]), what="the agent to be idle again")
    assert nodes(cli) == [job]
    assert job_state(cli, job)["release"] is None
    assert [e.kind for e in node_events(store, job)] == ["node.created", "node.ready"]
    assert "tpu released: no: the job keeps its TPU (--keep-node)" in cli("job", job).out.splitlines()


@pytest.mark.slow
def test_a_job_on_an_existing_node_never_has_it_torn_down(cli, jobs_env, write_job, store):
    first = cli("run", str(write_job("name: host\ntpu: {type: v4-8}\nrun: echo first\n")), "--keep-node", "--follow",
                "--json").json
    node = first["node"]
    guest = cli("run", str(write_job("name: guest\nnode: host\nrun: echo on a borrowed TPU\n")), "--node", node)
    job = guest.out.strip()
    ended = wait_state(cli, job, "succeeded")
    wait_for(lambda: idle_after(store, node, ended["attempts"][0]["finished"]), what="the agent to be idle again")
    assert nodes(cli) == [node]
    assert job_state(cli, job)["release"] is None
    assert f"tpu released: no: TPU {node} is not the job's own" in cli("job", job).out.splitlines()


@pytest.mark.slow
def test_a_follower_and_the_agent_releasing_together_record_one_deletion(cli, jobs_env, write_job, store):
    result = cli("run", str(write_job("name: both\ntpu: {type: v4-32}\nrun: echo hi\n")), "--follow", "--json")
    assert result.code == 0, result.err
    job = result.json["id"]
    assert f"Deleting TPU {job}: its job has ended (--keep-node keeps it).\n" in result.err
    release = released(cli, job)
    assert nodes(cli) == []
    assert release["via"] in ("its agent", "run --follow") and release["deleted"] is True
    assert [e.id for e in deletions(store, job)] == [release["event_id"]]
    assert list(store.list(f"jobs/{job}/a1/release/")) == [f"jobs/{job}/a1/release/done.json",
                                                           f"jobs/{job}/a1/release/intent.json"]


@pytest.mark.slow
def test_on_the_local_profile_the_agent_deletes_its_tpu_through_this_machines_emulator(cli, isolated_env, agents,
                                                                                        monkeypatch):
    from tpuctl.adapters.local_emulator import world_path
    from tpuctl.adapters.store import LocalStore
    from tpuctl.emulator.models import WorldSettings
    from tpuctl.emulator.server import EmulatorServer

    EmulatorServer(state_path=world_path(isolated_env / "data"), settings=WorldSettings(boot_seconds=0.2))
    monkeypatch.setenv("TPUCTL_JOB_TIMING", FAST)
    monkeypatch.chdir(isolated_env)
    (isolated_env / "job.yaml").write_text("name: local\ntpu: {type: v4-8}\nrun: echo on this machine\n")
    job = cli("run", "job.yaml").out.strip()
    store = LocalStore(isolated_env / "data" / "store")
    wait_state(cli, job, "succeeded")
    release = released(cli, job)
    member = job_state(cli, job)["member"]
    assert (release["released_by"], release["via"], release["deleted"]) == (member, "its agent", True)
    wait_for(lambda: cli("list", "--json").json == [], what="the TPU to be gone")
    pid = json.loads(store.read(f"agents/{ZONE}/{job}/beat/w0.json"))["pid"]
    wait_for(lambda: not alive(pid), what="the agent to stop with its TPU")
    [deleted] = deletions(store, job)
    assert (deleted.actor, deleted.time) == (member, parse_iso(release["released"]))


@pytest.mark.slow
def test_cancel_keep_node_keeps_the_tpu_from_its_agent_too(cli, jobs_env, write_job, store):
    job = cli("run", str(write_job("name: halted\ntpu: {type: v4-8}\nrun: echo started; sleep 60\n"))).out.strip()
    wait_for(lambda: job_state(cli, job)["state"] == "running", what="the job to run")
    result = cli("cancel", job, "--keep-node")
    assert (result.code, result.out) == (0, f"Job {job} was cancelled by alice.\n")
    ended = job_state(cli, job)
    assert (ended["state"], ended["keep_node"]) == ("cancelled", True)
    wait_for(lambda: idle_after(store, job, ended["attempts"][0]["finished"]), what="the agent to be idle again")
    assert nodes(cli) == [job] and job_state(cli, job)["release"] is None


@pytest.mark.slow
def test_a_queued_jobs_agent_deletes_its_tpu_and_the_request_that_made_it(cli, jobs_env, write_job, store):
    started = cli("run", str(write_job("name: queued\ntpu: {type: v4-8, queue: true}\nrun: echo from the queue\n")))
    job = started.out.strip()
    cli("queue", "list")                           # looking lets the emulator provision the request
    wait_state(cli, job, "succeeded")
    assert released(cli, job)["via"] == "its agent"
    wait_for(lambda: cli("queue", "list", "--json").json == [], what="the request to go")
    wait_for(lambda: any(Event.from_json(store.read(k)).kind == "queued.deleted" for k in store.list("ledger/events/")),
             what="the agent to record the request's deletion (it deletes, then records)")
    assert nodes(cli) == []
    kinds = [Event.from_json(store.read(k)).kind for k in store.list("ledger/events/")]
    assert kinds.count("node.deleted") == 1 and kinds.count("queued.deleted") == 1
