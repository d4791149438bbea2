"""The admission log at the terminal: every spending command writes its admitted request
down under the id its TPU then carries, so the log and the ledger count it once."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest


from tests.cli.conftest import TWO_HOUR_JOB
from tpuctl.domain.nodes import REQUEST_LABEL


def entries(tmp_path: Path) -> list[dict]:
    month = f"{datetime.now(timezone.utc):%Y-%m}"
    return [json.loads(p.read_bytes()) for p in sorted((tmp_path / "store/ledger/admissions" / month).glob("*.json"))]


def test_two_runs_that_fit_both_run_and_each_is_counted_once(cli, group, tmp_path, monkeypatch, api):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.yaml").write_text(TWO_HOUR_JOB)            # $25.76 each: two fit in $60, counted twice they would not
    assert cli("run", "job.yaml").code == 0
    second = cli("run", "job.yaml")
    assert second.code == 0, second.err
    logged = entries(tmp_path)
    assert [(e["seq"], e["member"], e["requested"]["money"]) for e in logged] == [
        (1, "alice", "25.760000"), (2, "alice", "25.760000")]
    labels = {node.labels[REQUEST_LABEL] for node in api.list_nodes(None)}
    assert labels == {e["request_id"] for e in logged}


@pytest.mark.slow
def test_create_and_queue_create_write_their_request_down(cli, group, tmp_path, api):
    assert cli("create", "a1", "--type", "v4-8", "--hours", "1").code == 0
    assert cli("queue", "create", "q1", "--type", "v4-8", "--hours", "1").code == 0
    logged = entries(tmp_path)
    assert [(e["seq"], e["actor"], e["requested"]["chip_seconds"]) for e in logged] == [
        (1, "alice", 4 * 3600), (2, "alice", 4 * 3600)]
    assert api.get_node("us-central2-b", "a1").labels[REQUEST_LABEL] == logged[0]["request_id"]
    assert api.get_queued_resource("us-central2-b", "q1").labels[REQUEST_LABEL] == logged[1]["request_id"]
