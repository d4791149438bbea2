"""The reaper and real agents: a preempted `resume: true` job is resumed, not just deleted."""

from __future__ import annotations

import json

from job_helpers import wait_for, wait_state
import pytest
from test_job_resume import checkpointed_step, spot_job  # noqa: F401  (the fixture)
from tests.conftest import ZONE


@pytest.mark.slow
def test_the_reaper_resumes_a_preempted_job_that_asked_to_and_a_busy_agent_keeps_its_tpu(cli, jobs_env, store,
                                                                                         spot_job):  # noqa: F811
    started = cli("run", str(spot_job))
    assert started.code == 0, started.err
    job = started.out.strip()
    wait_for(lambda: checkpointed_step(store, job) >= 3, what="a checkpoint of step 3")
    beats = [json.loads(store.read(key)) for key in store.list(f"agents/{ZONE}/{job}/beat/")]
    assert beats and all(b["state"] != "idle" for b in beats)          # the real agent says it is busy
    assert "nothing to reap" in cli("reap", "--idle", "1m").out
    jobs_env.preempt(ZONE, job)
    wait_state(cli, job, "interrupted")

    reaped = cli("reap")
    assert reaped.code == 0, reaped.err
    assert f" done resume {ZONE}/{job} (owner alice): preempted; its job {job} resumes on a new TPU " \
           f"(attempt 2 on TPU {job}-2)" in reaped.out
    assert "nothing to reap" in cli("reap").out                         # resumed once, not twice
    assert {n["name"] for n in cli("list", "--json").json} == {f"{job}-2"}
    wait_state(cli, job, "succeeded")
