"""Tab completes values, not just command names: TPU names, types, zones, queued requests, job ids."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def completions(line: str) -> list[str]:
    """What bash would offer for the last word of `line`, through tpuctl's own completion."""
    words = line.split(" ")
    env = {**os.environ, "_TPUCTL_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}
    done = subprocess.run([sys.executable, "-m", "tpuctl"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.slow
def test_values_complete_from_the_project_and_the_store(cli, remote_env, monkeypatch, tmp_path):
    assert cli("create", "alpha", "--type", "v4-8", "--hours", "1").code == 0
    assert cli("create", "beta", "--type", "v4-8", "--hours", "1").code == 0
    assert cli("queue", "create", "later", "--type", "v4-8", "--hours", "1").code == 0
    assert completions("tpuctl describe a") == ["alpha"]
    assert completions("tpuctl delete alpha ") == ["alpha", "beta", "later"]      # later: the queue made it
    assert completions("tpuctl queue describe l") == ["later"]
    assert "v4-8" in completions("tpuctl create x --type v4-") and "v5p-8" not in completions("tpuctl create x --type v4-")
    assert "us-central2-b" in completions("tpuctl list --zone us-central2")
    (tmp_path / "job.yaml").write_text("name: digits\ntpu: {type: v4-8}\nhours: 1\nrun: echo hi\n")
    monkeypatch.chdir(tmp_path)
    job = cli("run", "job.yaml").out.strip()
    assert completions("tpuctl job dig") == [job]


@pytest.mark.slow
def test_a_completion_that_cannot_look_offers_nothing(monkeypatch):
    monkeypatch.setenv("TPUCTL_API_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("TPUCTL_RETRIES", "1")
    assert completions("tpuctl describe a") == []
