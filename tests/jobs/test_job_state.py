"""A job's state is a pure function of its store objects (no servers here)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tpuctl.domain.jobs import AttemptRecords, JobConfig, JobTiming, TpuSpec, job_status, outcome, redact, secret_values, shown_env
from tpuctl.domain.jobs.protocol import Attempt, Cancel, Exit, Problem, Spec, Start, WorkerBeat
from tpuctl.errors import ConfigError

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
SPEC = Spec(id="demo-abc123", name="demo", member="alice", created=NOW, source="job.yaml",
            config=JobConfig(name="demo", run=("train",), tpu=TpuSpec("v4-8", "z", "rt"), resume=True),
            workdir_bundle="bundles/workdir/0.tar.gz")


def at(seconds_ago: float) -> datetime:
    return NOW - timedelta(seconds=seconds_ago)


def attempt(workers: int, start=(), beat=None, exits=None, problem=None, n: int = 1) -> AttemptRecords:
    return AttemptRecords(Attempt(n, f"demo-abc123{'' if n == 1 else f'-{n}'}", "z", workers, owned=True),
                          start={w: Start(at(20), 1) for w in start},
                          beat={w: WorkerBeat(at(age), 1) for w, age in (beat or {}).items()},
                          exit={w: Exit(s, at(1), c, "run") for w, (s, c) in (exits or {}).items()},
                          problem=Problem(**problem) if problem else None)


@pytest.mark.parametrize("records, cancel, state", [
    (attempt(2), None, "pending"),
    (attempt(2, start=[0, 1], beat={0: 1, 1: 2}), None, "running"),
    (attempt(2, start=[0, 1], beat={0: 1, 1: 60}), None, "running"),      # one lost, one alive: not yet
    (attempt(2, start=[0, 1], beat={0: 60, 1: 60}), None, "interrupted"),  # both lost
    (attempt(2, start=[0, 1], exits={0: ("succeeded", 0), 1: ("succeeded", 0)}), None, "succeeded"),
    (attempt(2, start=[0, 1], beat={0: 1}, exits={1: ("failed", 3)}), None, "failed"),  # one fails: failed
    (attempt(2, start=[0, 1], beat={0: 1, 1: 1}), Cancel("bob"), "cancelling"),
    (attempt(2, start=[0], exits={0: ("cancelled", 143)}), Cancel("bob"), "cancelled"),
    (attempt(1, start=[0], exits={0: ("interrupted", 143)}), None, "interrupted"),
    (attempt(1, problem={"kind": "launch_failed", "message": "could not create TPU x: no capacity"}), None, "failed"),
    (attempt(1, problem={"kind": "node_lost", "message": "TPU x was preempted before the job ran"}), None, "interrupted"),
    (attempt(2, start=[0, 1], beat={1: 1}, exits={0: ("succeeded", 0)}), None, "running"),
])
def test_state_from_store_objects(records, cancel, state):
    assert job_status(SPEC, [records], cancel, NOW).state == state


def test_only_the_latest_attempt_counts_and_interrupted_jobs_resume_if_asked():
    first = attempt(1, start=[0], exits={0: ("interrupted", 143)})
    status = job_status(SPEC, [first], None, NOW)
    assert status.resumable and not status.final
    assert outcome(status) == "Job demo-abc123 was interrupted (its TPU went away); `tpuctl jobs resume` runs it again from its checkpoint."
    assert not job_status(replace(SPEC, config=replace(SPEC.config, resume=False)), [first], None, NOW).resumable
    done = job_status(SPEC, [first, attempt(1, start=[0], exits={0: ("succeeded", 0)}, n=2)], None, NOW)
    assert (done.state, done.latest.node, done.final) == ("succeeded", "demo-abc123-2", True)


def test_outcome_names_the_failing_worker():
    status = job_status(SPEC, [attempt(4, start=range(4), beat={0: 1, 1: 1, 3: 1}, exits={2: ("failed", 3)})], None, NOW)
    assert outcome(status) == "Job demo-abc123 failed: worker 2 exited with code 3 in run."


@given(st.lists(st.sampled_from(["succeeded", "failed", "interrupted", "cancelled", None]), min_size=1, max_size=8))
def test_done_when_all_are_done_failed_when_one_fails(ends):
    records = attempt(len(ends), start=range(len(ends)), beat={w: 1 for w in range(len(ends))},
                      exits={w: (s, 0) for w, s in enumerate(ends) if s})
    state = job_status(SPEC, [records], None, NOW).state
    assert (state == "succeeded") == all(s == "succeeded" for s in ends)
    assert (state == "failed") == ("failed" in ends)


def test_timing_parses_and_refuses_nonsense():
    assert JobTiming.parse("poll=0.2, heartbeat=1") == JobTiming(poll=0.2, heartbeat=1.0)
    assert JobTiming.parse(JobTiming().format()) == JobTiming()
    with pytest.raises(ConfigError, match="TPUCTL_JOB_TIMING has 'beat=1'; write NAME=SECONDS"):
        JobTiming.parse("beat=1")
    with pytest.raises(ConfigError):
        JobTiming.parse("poll=-1")


def test_secret_looking_env_values_are_masked():
    env = {"WANDB_API_KEY": "abcd1234", "HF_TOKEN": "hf_zzzz", "EPOCHS": "3"}
    assert secret_values(env) == ["abcd1234", "hf_zzzz"]
    assert redact("key=abcd1234 token=hf_zzzz epochs=3", secret_values(env)) == "key=*** token=*** epochs=3"
    assert shown_env(env) == {"WANDB_API_KEY": "***", "HF_TOKEN": "***", "EPOCHS": "3"}
