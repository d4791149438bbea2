"""The same member's day with the group store in a Cloud Storage bucket (a real fake-gcs-server):
jobs, logs, outputs, the ledger and budgets need no change from the local-folder store."""

from __future__ import annotations

import pytest

from job_helpers import job_state
from tests.conftest import ZONE
from tpuctl.adapters.store import open_store
from tpuctl.domain.events import Event

WORK = ("import pathlib, time\nprint('hello from the bucket')\ntime.sleep(1.2)\n"
        "pathlib.Path('out').mkdir(exist_ok=True)\npathlib.Path('out/result.txt').write_text('7')\n")


@pytest.mark.slow
def test_a_job_and_its_bill_live_in_a_gcs_bucket(cli, jobs_env, write_job, gcs_bucket, monkeypatch, tmp_path):
    url = f"gs://{gcs_bucket}/group"
    monkeypatch.setenv("TPUCTL_STORE", url)
    assert cli("group", "init", "--treasurer", "alice").code == 0
    assert cli("budget", "set", "--member", "alice", "100").code == 0

    path = write_job("name: bucket\ntpu: {type: v4-8}\nrun: python3 work.py\noutputs: out\n", {"work.py": WORK})
    followed = cli("run", str(path), "--follow")
    assert followed.code == 0, followed.err
    assert "hello from the bucket" in followed.out
    job = [line for line in followed.err.splitlines() if line.startswith("Job ")][-1].split()[1]
    assert job_state(cli, job)["outputs"] == ["result.txt"]

    store = open_store(url)
    assert store.read(f"jobs/{job}/outputs/w0/result.txt") == b"7"
    kinds = [Event.from_json(store.read(key)).kind for key in store.list("ledger/events/")]
    assert sorted(kinds) == ["budget.set", "node.created", "node.deleted", "node.ready"]
    assert Event.from_json(store.read("ledger/genesis.json")).kind == "group.initialized"
    [row] = cli("spend", "--json").json["nodes"]
    assert (row["node"], row["zone"], row["status"]) == (job, ZONE, "deleted")
    assert cli("ledger", "verify").code == 0
