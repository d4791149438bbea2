"""The report's sums done by SQLite agree with the Python rules they stand for: a job's TPUs
by name (services/report.job_of), usage split at UTC midnight, deletions by someone else."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.report_db import day_usage, deletions_by_others, job_usage
from tpuctl.domain.events import NODE_CREATED, NODE_DELETED, NODE_READY, new_event, node_payload
from tpuctl.services.report import job_of

T0 = datetime(2026, 5, 3, 22, tzinfo=timezone.utc)
NAMES = ["train", "train-2", "train-x", "train-2b", "other-3", "a-b-12", "a-b", "b-12"]
JOBS = {"train", "a-b", "b"}


def ledger(tmp_path, deleted_by=lambda name: "alice") -> LedgerDB:
    db = LedgerDB(tmp_path / "view.db")
    events = []
    for n, name in enumerate(NAMES):
        node = node_payload(zone="us-central2-b", node=name, accelerator_type="v4-8", chips=4, spot=False,
                            owner="alice", lease_until=None, request_id=f"r{n}")
        events += [new_event(NODE_CREATED, "alice", node, T0), new_event(NODE_READY, "alice", node, T0),
                   new_event(NODE_DELETED, deleted_by(name), node, T0 + timedelta(hours=3 + n))]
    db.ingest(events)
    return db


def test_jobs_are_matched_by_name_as_job_of_does(tmp_path):
    db = ledger(tmp_path)
    found = {(job, chip_seconds) for *_, job, chip_seconds in job_usage(db, "2026-05", JOBS)}
    expected: dict = {}
    for n, name in enumerate(NAMES):
        expected[job_of(name, JOBS)] = expected.get(job_of(name, JOBS), 0) + 4 * (3 + n) * 3600
    assert found == set(expected.items())


def test_usage_is_split_at_midnight(tmp_path):
    days: dict = {}
    for *_, day, chip_seconds in day_usage(ledger(tmp_path), "2026-05"):
        days[day] = days.get(day, 0) + chip_seconds
    assert days == {"2026-05-03": 8 * 4 * 2 * 3600, "2026-05-04": sum(4 * (1 + n) * 3600 for n in range(8))}


def test_only_deletions_by_someone_other_than_the_owner_are_read(tmp_path):
    db = ledger(tmp_path, deleted_by=lambda name: "tess" if name == "b-12" else "alice")
    found = deletions_by_others(db, T0, T0 + timedelta(days=1))
    assert [(e.actor, e.payload["node"]) for e in found] == [("tess", "b-12")]
