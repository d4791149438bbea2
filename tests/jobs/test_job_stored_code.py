"""A stored config runs the code pushed with it: from an empty folder, for another member on
another machine (their own data dir, the group's one store)."""

from __future__ import annotations

import re

import pytest

from job_helpers import job_state


@pytest.mark.slow
def test_a_config_pushed_by_one_member_runs_for_another_from_an_empty_folder(cli, jobs_env, isolated_env, monkeypatch):
    alice = isolated_env / "alice-work"
    alice.mkdir()
    (alice / "hello.py").write_text("import os\nprint('stored code says', os.environ['WORD'])\n")
    (alice / "job.yaml").write_text("name: stored\ntpu: {type: v4-8}\nrun: python3 hello.py\nenv: {WORD: hi}\n")
    monkeypatch.setenv("TPUCTL_DATA_DIR", str(isolated_env / "alice-data"))
    monkeypatch.chdir(alice)
    assert cli("configs", "push", "job.yaml").out == "Pushed stored@v1.\n"

    empty = isolated_env / "bob-empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    monkeypatch.setenv("TPUCTL_MEMBER", "bob")
    monkeypatch.setenv("TPUCTL_DATA_DIR", str(isolated_env / "bob-data"))
    result = cli("run", "stored", "--follow")
    assert result.code == 0, result.err
    assert "stored code says hi\n" in result.out
    job = re.search(r"Job (stored-[a-z0-9]{6}) succeeded", result.err).group(1)
    data = job_state(cli, job)
    assert (data["member"], data["source"]) == ("bob", "stored@v1")
    assert list(empty.iterdir()) == []


@pytest.mark.slow
def test_named_secrets_are_masked_everywhere_and_may_come_from_the_shell(cli, jobs_env, write_job, monkeypatch):
    monkeypatch.setenv("WANDB_KEY", "wandb-from-shell-123")
    path = write_job("name: secret\ntpu: {type: v4-8}\nsecrets: [WANDB_KEY, PLAIN]\nenv: {PLAIN: not-so-plain}\n"
                     "run: echo key=$WANDB_KEY plain=$PLAIN\n")
    result = cli("run", str(path), "--follow", "--json")
    assert result.code == 0, result.err
    assert "key=*** plain=***\n" in result.err
    job = result.json["id"]
    assert "wandb-from-shell" not in cli("logs", job).out and "key=*** plain=***" in cli("logs", job).out
    config = job_state(cli, job)["config"]
    assert config["env"] == {"PLAIN": "***", "WANDB_KEY": "***"} and config["secrets"] == ["WANDB_KEY", "PLAIN"]
    monkeypatch.delenv("WANDB_KEY")
    missing = cli("run", str(path))
    assert missing.err == (f"Error: {path}, line 3: 'secrets' names WANDB_KEY, which is neither in 'env' nor set "
                           "in your environment.\n")
    assert [n["name"] for n in cli("list", "--json").json] == []
