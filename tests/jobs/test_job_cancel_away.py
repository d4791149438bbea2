"""`tpuctl cancel` with the group store away: the job's TPU is deleted at once (a job left
running is the surprise bill), the cancel and the deletion wait in the outbox, and once the
store is back the job reads as cancelled, is billed as the emulator ran it and is never resumed."""

from __future__ import annotations

import json
import time

import pytest

from job_helpers import job_state, wait_for
from tests.conftest import folder_outage
from tpuctl.adapters.store import open_store
from tpuctl.errors import ExitCode

NOTICE = "keeps its ledger events in the local outbox"
JOB = "name: away\ntpu: {type: v4-8}\nresume: true\noutputs: out\nrun: mkdir -p out; echo started; sleep 60\n"


@pytest.fixture(params=["folder", "bucket"])
def outage(request, tmp_path):
    """(go_away, come_back, store, what `cancel --keep-node` exits with while it is away)."""
    if request.param == "folder":
        store, go_away, come_back = folder_outage(tmp_path)
        return go_away, come_back, store, ExitCode.CONFIG
    start, stop = request.getfixturevalue("restartable_gcs")
    return stop, start, open_store("gs://group-bucket/tpuctl"), ExitCode.UNAVAILABLE


@pytest.mark.slow
def test_cancel_with_the_store_away_deletes_the_jobs_tpu_and_the_cancel_lands_once_it_is_back(
        cli, real_time, write_job, outage, tmp_path, api):
    go_away, come_back, store, kept_code = outage
    started = cli("run", str(write_job(JOB)))
    assert started.code == 0, started.err
    job = started.out.strip()
    wait_for(lambda: job_state(cli, job)["state"] == "running", what="the job to run")
    [node] = [n.name for n in api.list_nodes(None)]
    time.sleep(1.1)                                     # the TPU runs a billed second before it is deleted
    go_away()

    kept = cli("cancel", job, "--keep-node")              # only the agents, through the store, can keep the TPU
    assert (kept.code, api.list_nodes(None) != []) == (kept_code, True), kept.err
    cancelled = cli("cancel", job)
    assert cancelled.code == 0, cancelled.err
    assert cancelled.out == (f"Cancelled: deleting {node}; the cancel reaches the job's record once the group store "
                             "is back.\n")
    assert cancelled.err.count(NOTICE) == 1
    wait_for(lambda: api.list_nodes(None) == [], what="the TPU to go")

    come_back()
    assert cli("sync").code == 0
    assert list(tmp_path.rglob("*.outbox/*.json")) == []
    assert store.read(f"jobs/{job}/cancel.json")
    wait_for(lambda: job_state(cli, job)["state"] == "cancelled", what="the job to read as cancelled")  # (its agents' beats go stale)
    assert cli("jobs", "resume").code == 0 and api.list_nodes(None) == []           # never resumed
    kinds = [json.loads(store.read(key)) for key in store.list("ledger/events/")]
    assert [e["payload"]["node"] for e in kinds if e["kind"] == "node.deleted"] == [node]
    assert cli("ledger", "verify", "--json").json == []
    [ran] = [u for u in real_time.usage() if u["node"].endswith(f"/{node}")]
    ran_seconds = sum(float(i["chipSeconds"]) for i in ran["intervals"]) / ran["chips"]
    [billed] = [n for n in cli("spend", "--json").json["nodes"] if n["node"] == node]
    assert billed["status"] == "deleted" and abs(billed["seconds"] - ran_seconds) <= 1, (billed, ran_seconds)


def test_a_broken_price_file_does_not_stop_a_cancel(cli, jobs_env, write_job, store, monkeypatch, tmp_path):
    job = cli("run", str(write_job(JOB))).out.strip()
    wait_for(lambda: job_state(cli, job)["state"] == "running", what="the job to run")
    (tmp_path / "broken.toml").write_text("garbage = [")
    monkeypatch.setenv("TPUCTL_PRICES", str(tmp_path / "broken.toml"))
    cancelled = cli("cancel", job)
    assert store.read(f"jobs/{job}/cancel.json")            # the agents are told to stop, whatever the prices
    monkeypatch.delenv("TPUCTL_PRICES")
    assert wait_for(lambda: job_state(cli, job)["state"] == "cancelled", what="the job to stop"), cancelled.err


def test_with_the_store_away_a_job_whose_config_keeps_its_tpu_is_not_cancelled(cli, jobs_env, write_job, tmp_path,
                                                                               api):
    job = cli("run", str(write_job(JOB.replace("resume: true\n", "keep_node: true\n")))).out.strip()
    wait_for(lambda: job_state(cli, job)["state"] == "running", what="the job to run")
    [node] = api.list_nodes(None)
    assert node.labels["tpuctl-keep-node"] == "true"
    store, go_away, come_back = folder_outage(tmp_path)
    go_away()
    refused = cli("cancel", job)
    assert refused.code == ExitCode.UNAVAILABLE
    assert refused.err.startswith(f"Error: The group store cannot be reached, and job {job}'s config keeps its TPU")
    assert api.list_nodes(None) == [node] and list(tmp_path.rglob("*.outbox/*.json")) == []
    come_back()


FORGED = b'{"by": "bob", "keep_node": "yes please"}'          # what a member writes to block cancels


def test_a_cancel_json_written_by_hand_does_not_block_a_cancel(cli, jobs_env, write_job, store, api):
    job = cli("run", str(write_job(JOB))).out.strip()
    wait_for(lambda: job_state(cli, job)["state"] == "running", what="the job to run")
    store.create(f"jobs/{job}/cancel.json", FORGED)
    assert cli("cancel", job).code == 0
    ended = wait_for(lambda: (state := job_state(cli, job))["state"] == "cancelled" and state,
                     what="the job to stop")
    assert [reason for reason in ended["ignored"] if reason.startswith(f"jobs/{job}/cancel.json")]
    wait_for(lambda: api.list_nodes(None) == [], what="its TPU to go")


def test_a_cancel_kept_while_the_store_was_away_is_not_blocked_by_one_written_by_hand(cli, real_time, write_job,
                                                                                    tmp_path, api):
    job = cli("run", str(write_job(JOB))).out.strip()
    wait_for(lambda: job_state(cli, job)["state"] == "running", what="the job to run")
    store, go_away, come_back = folder_outage(tmp_path)
    go_away()
    assert cli("cancel", job).code == 0
    wait_for(lambda: api.list_nodes(None) == [], what="the TPU to go")
    come_back()
    store.create(f"jobs/{job}/cancel.json", FORGED)          # written by hand before the outbox reaches the store
    assert cli("sync").code == 0 and list(tmp_path.rglob("*.outbox/*.json")) == []
    wait_for(lambda: job_state(cli, job)["state"] == "cancelled", what="the job to read as cancelled")
    assert cli("jobs", "resume").code == 0 and api.list_nodes(None) == []           # never resumed
