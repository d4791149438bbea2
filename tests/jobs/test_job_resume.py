"""Preemption and resume: the spot-resume example, preempted by the emulator, continues on a new TPU."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from job_helpers import EXAMPLES, job_state, wait_for, wait_state
from tests.conftest import ZONE
from tpuctl.domain.jobs import INDEX_PREFIX, index_job


@pytest.fixture
def spot_job(tmp_path):
    """The spot-resume example with 14 short steps instead of 60 one-second ones."""
    folder = tmp_path / "spot-resume"
    shutil.copytree(EXAMPLES / "spot-resume", folder)
    path = folder / "job.yaml"
    path.write_text(path.read_text().replace("STEPS: 60", "STEPS: 14").replace("STEP_SECONDS: 1", "STEP_SECONDS: 0.15"))
    return path


def checkpointed_step(store, job: str) -> int:
    try:
        return json.loads(store.read(f"jobs/{job}/outputs/w0/state.json"))["step"]
    except Exception:
        return 0


@pytest.mark.slow
def test_a_preempted_job_is_interrupted_and_resumes_from_its_checkpoint(cli, jobs_env, store, spot_job):
    started = cli("run", str(spot_job))
    assert started.code == 0, started.err
    job = started.out.strip()
    wait_for(lambda: checkpointed_step(store, job) >= 3, what="a checkpoint of step 3")
    jobs_env.preempt(ZONE, job)

    stopped = wait_state(cli, job, "interrupted")
    assert stopped["resumable"] is True
    [worker] = stopped["attempts"][0]["workers"]
    assert (worker["state"], worker["reason"]) == ("interrupted", "its agent was stopped by SIGTERM")
    at = checkpointed_step(store, job)
    assert 3 <= at < 14

    resumed = cli("jobs", "resume")
    assert (resumed.code, resumed.out) == (0, f"Resumed {job}: attempt 2 on TPU {job}-2.\n")
    assert cli("jobs", "resume").out == "Nothing to resume.\n"
    assert cli("jobs", "resume", job).out == f"Job {job} does not need resuming.\n"
    followed = cli("logs", job, "-f")
    assert followed.code == 0, followed.err
    assert re.search(f"\nstopped at step {at}: checkpoint saved\n"
                     r"\[tpuctl\] worker 0: interrupted \(its agent was stopped by SIGTERM\)\.\n"
                     r"\[tpuctl\] worker 0: restored [12] output files? of the previous attempt\.\n"
                     r"\[tpuctl\] worker 0 run: \$ python steps\.py\n"
                     f"resumed from step {at} \\(run 2\\)\n", followed.out)
    assert "done: total 105 after 2 run(s)\n" in followed.out            # 1 + 2 + ... + 14, nothing lost or redone
    assert json.loads(store.read(f"jobs/{job}/outputs/w0/result.json")) == {"steps": 14, "total": 105, "runs": 2}
    final = job_state(cli, job)
    assert [(a["attempt"], a["node"], a["state"]) for a in final["attempts"]] == [
        (1, job, "interrupted"), (2, f"{job}-2", "succeeded")]
    # The preempted TPU was deleted by the resume, the second one by its agent once the job ended.
    wait_for(lambda: cli("list", "--json").json == [], what="both of the job's TPUs deleted")


@pytest.mark.slow
def test_run_follow_resumes_by_itself(jobs_env, store, spot_job, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "tpuctl", "run", str(spot_job), "--follow"], cwd=tmp_path,
                            env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        job = wait_for(lambda: [index_job(k) for k in store.list(INDEX_PREFIX)], what="the job")[0]
        wait_for(lambda: checkpointed_step(store, job) >= 3, what="a checkpoint of step 3")
        jobs_env.preempt(ZONE, job)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "resumed from step" in out and "done: total 105 after 2 run(s)\n" in out
    assert f"[tpuctl] {job}: interrupted.\n[tpuctl] {job}: resumed, attempt 2 on TPU {job}-2.\n" in err
    assert re.search(f"Deleting TPU {job}-2: its job has ended \\(--keep-node keeps it\\)\\.\n"
                     f"Job {job} succeeded on 1 worker in \\ds \\(2 attempts\\)\\.\n$", err)


@pytest.mark.slow
def test_a_resume_the_budget_refuses_fails_that_job_and_says_why_without_stopping_cron(cli, jobs_env, store, spot_job):
    job = cli("run", str(spot_job)).out.strip()
    wait_for(lambda: checkpointed_step(store, job) >= 1, what="a first checkpoint")
    jobs_env.preempt(ZONE, job)
    wait_state(cli, job, "interrupted")
    assert cli("group", "init", "--treasurer", "alice").code == 0
    assert cli("budget", "set", "--member", "alice", "0.01").code == 0

    refused = cli("jobs", "resume")
    assert refused.code == 9
    # The preempted TPU is deleted first, so its unused lease is not counted as committed.
    assert re.fullmatch(rf"Could not resume {job}: Refused: alice's budget for \d{{4}}-\d\d is \$0\.01: "
                        r"spent \$0\.0\d, committed \$0\.00, requested \$7\.36, left -?\$0\.0\d\.\n", refused.err)
    state = job_state(cli, job)
    assert state["state"] == "failed" and len(state["attempts"]) == 2
    assert cli("list", "--json").json == []            # no TPU was made for the refused attempt
