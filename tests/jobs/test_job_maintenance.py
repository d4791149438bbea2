"""A host maintenance event during a job: the agents get SIGTERM as the TPU goes REPAIRING; a
`resume: true` job resumes on a new TPU by itself, one without resume ends interrupted, and
the ledger bills the maintained TPU what the emulator says it ran."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from job_helpers import wait_for, wait_state
from test_job_resume import checkpointed_step, spot_job  # noqa: F401  (a fixture)
from tests.conftest import ZONE
from tpuctl.domain.jobs import INDEX_PREFIX, index_job


@pytest.mark.slow
def test_a_followed_job_resumes_after_maintenance_and_the_ledger_bills_what_ran(cli, real_time, store, spot_job,
                                                                               tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "tpuctl", "run", str(spot_job), "--follow"], cwd=tmp_path,
                            env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        job = wait_for(lambda: [index_job(k) for k in store.list(INDEX_PREFIX)], what="the job")[0]
        wait_for(lambda: checkpointed_step(store, job) >= 3, what="a checkpoint of step 3")
        [maintained] = real_time.maintain(ZONE, job)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert maintained["state"] == "READY"                # REPAIRING and back (no maintenance delay here)
    assert proc.returncode == 0, err
    assert f"[tpuctl] {job}: interrupted.\n[tpuctl] {job}: resumed, attempt 2 on TPU {job}-2.\n" in err
    assert "resumed from step" in out and "done: total 105 after 2 run(s)\n" in out

    def events_of(node: str) -> list[tuple]:
        return [(e["kind"], e["time"][11:23], e["payload"].get("source"), e["actor"], e["payload"].get("reason"))
                for e in (json.loads(store.read(k)) for k in store.list("ledger/events/"))
                if e["payload"].get("node") == node]

    seen: dict = {}

    def billed_nodes() -> dict:
        """What `spend` bills once the releases the agents make in the background have landed. A
        TPU that ran under a second inside one wall-clock second is billed 0 s (billing counts
        whole seconds), so `spend` lists it only if it crossed a second: closed is enough then."""
        assert cli("sync").code == 0
        seen.update(nodes={n["node"]: n for n in cli("spend", "--json").json["nodes"]})
        closed = {name: seen["nodes"][name]["status"] == "deleted" if name in seen["nodes"] else
                  any(kind == "node.deleted" for kind, *_ in events_of(name)) for name in (job, f"{job}-2")}
        return {"billed": seen["nodes"]} if all(closed.values()) else {}

    try:
        billed = wait_for(billed_nodes, what="both TPUs billed as deleted")["billed"]
    except AssertionError as late:     # say what was billed, what the API still lists, and the ledger
        listed = [(u["node"].rsplit("/", 1)[1], u["states"][-1]["state"]) for u in real_time.usage()]
        raise AssertionError(f"{late}: billed {[(k, v['status']) for k, v in seen['nodes'].items()]}, "
                             f"emulator {listed}, ledger events of {job}: {events_of(job)}") from None
    truth = {u["node"].rsplit("/", 1)[1]: u for u in real_time.usage()}
    assert [s["state"] for s in truth[job]["states"]] == ["CREATING", "READY", "REPAIRING", "READY", "DELETING",
                                                          "DELETED"]
    ran = sum(float(i["chipSeconds"]) for i in truth[job]["intervals"]) / truth[job]["chips"]
    assert abs(billed.get(job, {"seconds": 0})["seconds"] - ran) <= 2     # whole seconds; one edge each end


@pytest.mark.slow
def test_a_job_without_resume_ends_interrupted_by_maintenance(cli, jobs_env, store, write_job):
    path = write_job("name: steady\ntpu: {type: v4-8}\nrun: python -c 'import time; time.sleep(60)'\nhours: 1\n")
    job = cli("run", str(path)).out.strip()
    wait_state(cli, job, "running")
    jobs_env.maintain(ZONE, job)
    stopped = wait_state(cli, job, "interrupted")
    assert stopped["resumable"] is False
    [worker] = stopped["attempts"][0]["workers"]
    assert (worker["state"], worker["reason"]) == ("interrupted", "its agent was stopped by SIGTERM")


@pytest.mark.slow
def test_a_job_slow_to_stop_is_still_recorded_as_stopped_by_its_agent_when_the_node_comes_back(
        cli, jobs_env, store, write_job):
    """The job takes two seconds to end after SIGTERM, longer than the node takes to come back
    from maintenance: the worker's new agent starts once the old one has recorded why it stopped."""
    path = write_job("name: slow\ntpu: {type: v4-8}\nhours: 1\n"
                     "run: trap 'sleep 2; exit 1' TERM; sleep 60 & wait\n")
    job = cli("run", str(path)).out.strip()
    wait_state(cli, job, "running")
    jobs_env.maintain(ZONE, job)
    stopped = wait_state(cli, job, "interrupted")
    [worker] = stopped["attempts"][0]["workers"]
    assert (worker["state"], worker["reason"]) == ("interrupted", "its agent was stopped by SIGTERM")
