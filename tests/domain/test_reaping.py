"""The reaper's plan as a table: for each situation, what it does and why (pure: no servers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tpuctl.domain.activity import Busy, NodeActivity
from tpuctl.domain.nodes import JOB_LABEL, LEASE_LABEL, MANAGED_LABEL, OWNER_LABEL, NodeInfo
from tpuctl.domain.queued import QueuedInfo
from tpuctl.domain.reaping import (
    KEEP_LABEL, REAP_AT_LABEL, REAP_WHY_LABEL, ReapPolicy, Warning, capped, plan, warning_for, warning_labels,
    warning_of,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
ZONE = "us-central2-b"
H = timedelta(hours=1)
M = timedelta(minutes=1)


def epoch(when: datetime) -> str:
    return str(int(when.timestamp()))


def node(name="a1", *, state="READY", spot=False, lease=NOW + H, created=NOW - 2 * H, owner="alice",
         managed=True, zone=ZONE, type_="v4-8", **labels) -> NodeInfo:
    tags = {OWNER_LABEL: owner, **({MANAGED_LABEL: "true"} if managed else {}),
            **({LEASE_LABEL: epoch(lease)} if lease else {}), **labels}
    return NodeInfo(name=name, zone=zone, accelerator_type=type_, state=state, spot=spot, labels=tags,
                    create_time=created, workers=4 if type_ == "v4-32" else 1)


@dataclass(frozen=True)
class Month:
    left: Decimal | None


BUSY = NodeActivity("busy", (Busy("job", "j1"),), None, NOW)
BUSY_SSH = NodeActivity("busy", (Busy("ssh", "alice from 10.0.0.2"),), None, NOW)
IDLE_LONG = NodeActivity("idle", (), NOW - H, NOW)
IDLE_SHORT = NodeActivity("idle", (), NOW - 10 * M, NOW)
SILENT = NodeActivity("silent")


def one(nodes, activity=None, standings=None, policy=ReapPolicy(), queued=(), now=NOW, **kw):
    acts = {(n.zone, n.name): activity for n in nodes} if activity else {}
    return [(a.verb, a.rule, a.name) for a in plan(nodes, queued, acts, standings or {}, policy, now, **kw)]


TABLE = [
    # (situation, nodes, activity, standings, policy, expected)
    ("busy TPU created long ago survives", [node(created=NOW - 72 * H)], BUSY, {}, ReapPolicy(), []),
    ("owner logged in over SSH survives", [node()], BUSY_SSH, {}, ReapPolicy(), []),
    ("idle on-demand TPU is stopped", [node()], IDLE_LONG, {}, ReapPolicy(), [("stop", "idle", "a1")]),
    ("idle spot TPU is deleted", [node(spot=True)], IDLE_LONG, {}, ReapPolicy(), [("delete", "idle", "a1")]),
    ("idle multi-host slice cannot stop: deleted", [node(type_="v4-32")], IDLE_LONG, {}, ReapPolicy(),
     [("delete", "idle", "a1")]),
    ("idle by policy delete", [node()], IDLE_LONG, {}, ReapPolicy(idle_action="delete"), [("delete", "idle", "a1")]),
    ("idle only 10 minutes survives", [node()], IDLE_SHORT, {}, ReapPolicy(), []),
    ("idle since creation, inside the grace, survives", [node(created=NOW - 40 * M)],
     NodeActivity("idle", (), NOW - 40 * M, NOW), {}, ReapPolicy(), []),
    ("silent node past grace and idle window is stopped", [node(created=NOW - 50 * M)], SILENT, {}, ReapPolicy(),
     [("stop", "idle", "a1")]),
    ("silent young node survives its grace", [node(created=NOW - 20 * M)], SILENT, {}, ReapPolicy(), []),
    ("agent that stopped reporting counts from its last report", [node()],
     NodeActivity("silent", (), None, NOW - 20 * M), {}, ReapPolicy(), []),
    ("unmanaged TPU survives", [node(managed=False, lease=NOW - H)], IDLE_LONG, {}, ReapPolicy(), []),
    ("unmanaged TPU is reaped when asked", [node(managed=False, spot=True, lease=None)], IDLE_LONG, {},
     ReapPolicy(include_unmanaged=True), [("delete", "idle", "a1")]),
    ("kept TPU survives idleness until its date", [node(**{KEEP_LABEL: epoch(NOW + H)})], IDLE_LONG, {},
     ReapPolicy(), []),
    ("keep date passed: idle rule applies again", [node(**{KEEP_LABEL: epoch(NOW - M)})], IDLE_LONG, {},
     ReapPolicy(), [("stop", "idle", "a1")]),
    ("expired lease is warned first", [node(lease=NOW - M)], BUSY, {}, ReapPolicy(), [("warn", "lease", "a1")]),
    ("keep never protects from the lease", [node(lease=NOW - M, **{KEEP_LABEL: epoch(NOW + 24 * H)})], BUSY, {},
     ReapPolicy(), [("warn", "lease", "a1")]),
    ("--warn 0 deletes an expired lease at once", [node(lease=NOW - M)], BUSY, {}, ReapPolicy(warn=timedelta(0)),
     [("delete", "lease", "a1")]),
    ("warned lease inside its window waits", [node(lease=NOW - M, **{REAP_AT_LABEL: epoch(NOW + 5 * M),
                                                                      REAP_WHY_LABEL: "lease"})],
     BUSY, {}, ReapPolicy(), []),
    ("warned lease past its window is deleted", [node(lease=NOW - H, **{REAP_AT_LABEL: epoch(NOW - M),
                                                                         REAP_WHY_LABEL: "lease"})],
     BUSY, {}, ReapPolicy(), [("delete", "lease", "a1")]),
    ("an extended lease makes a stale warning moot", [node(lease=NOW + H, **{REAP_AT_LABEL: epoch(NOW - M),
                                                                              REAP_WHY_LABEL: "lease"})],
     BUSY, {}, ReapPolicy(), []),
    ("a stopped TPU past its lease is warned too", [node(state="STOPPED", lease=NOW - M)], None, {}, ReapPolicy(),
     [("warn", "lease", "a1")]),
    ("preempted TPU is deleted", [node(state="PREEMPTED", spot=True)], None, {}, ReapPolicy(),
     [("delete", "preempted", "a1")]),
    ("terminated TPU is deleted", [node(state="TERMINATED")], None, {}, ReapPolicy(), [("delete", "preempted", "a1")]),
    ("creating or deleting TPUs are left alone", [node(state="CREATING", lease=NOW - H), node("a2", state="DELETING")],
     SILENT, {}, ReapPolicy(), []),
    ("spent member is warned (policy warn)", [node()], BUSY, {"alice": Month(Decimal(0))}, ReapPolicy(),
     [("warn", "budget", "a1")]),
    ("warned spent member under policy warn: nothing more",
     [node(**{REAP_AT_LABEL: epoch(NOW - M), REAP_WHY_LABEL: "budget"})], BUSY, {"alice": Month(Decimal(-1))},
     ReapPolicy(), []),
    ("spent member under policy stop, after the window", [node(**{REAP_AT_LABEL: epoch(NOW - M),
                                                                   REAP_WHY_LABEL: "budget-stop"})],
     BUSY, {"alice": Month(Decimal(0))}, ReapPolicy(over_budget="stop"), [("stop", "budget", "a1")]),
    ("spent member under policy delete is warned first", [node()], BUSY, {"alice": Month(Decimal(0))},
     ReapPolicy(over_budget="delete"), [("warn", "budget", "a1")]),
    ("member with money left keeps running", [node()], BUSY, {"alice": Month(Decimal("0.01"))},
     ReapPolicy(over_budget="delete"), []),
    ("member without a budget keeps running", [node()], BUSY, {"alice": Month(None)}, ReapPolicy(over_budget="delete"),
     []),
    ("keep spares a spent member's TPU", [node(**{KEEP_LABEL: epoch(NOW + H)})], BUSY, {"alice": Month(Decimal(0))},
     ReapPolicy(over_budget="delete", warn=timedelta(0)), []),
]


@pytest.mark.parametrize("nodes, activity, standings, policy, expected",
                         [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_plan_table(nodes, activity, standings, policy, expected):
    assert one(nodes, activity, standings, policy) == expected


def test_a_zone_that_could_not_be_listed_gets_no_action():
    nodes = [node("a1", state="PREEMPTED"), node("b1", state="PREEMPTED", zone="us-east1-d")]
    assert one(nodes, unreachable={"us-east1-d"}) == [("delete", "preempted", "a1")]


def test_a_preempted_tpu_whose_job_resumes_is_left_to_jobs_resume_once():
    nodes = [node("a1", state="PREEMPTED", **{JOB_LABEL: "j1"}), node("a2", state="PREEMPTED", **{JOB_LABEL: "j1"}),
             node("a3", state="PREEMPTED", **{JOB_LABEL: "j2"})]
    assert one(nodes, resumable={"j1"}) == [("resume", "preempted", "a1"), ("delete", "preempted", "a3")]


def test_a_queued_tpu_is_ended_with_its_request():
    made_by_queue = NodeInfo("a1", ZONE, "v4-8", "PREEMPTED", True, {MANAGED_LABEL: "true"}, queued_resource="q1")
    assert one([made_by_queue]) == []


def queued(name="q1", state="WAITING_FOR_RESOURCES", valid_until=None, managed=True, **labels) -> QueuedInfo:
    return QueuedInfo(name, ZONE, state, "v4-8", (name,), "spot",
                      {OWNER_LABEL: "alice", **({MANAGED_LABEL: "true"} if managed else {}), **labels},
                      NOW - H, valid_until)


@pytest.mark.parametrize("request_, expected", [
    (queued(state="FAILED"), [("delete_queued", "queued", "q1")]),
    (queued(state="SUSPENDED"), [("delete_queued", "queued", "q1")]),
    (queued(valid_until=NOW - M), [("delete_queued", "queued", "q1")]),
    (queued(valid_until=NOW + M), []),
    (queued(state="ACTIVE"), []),
    (queued(state="FAILED", managed=False), []),
    (queued(state="SUSPENDED", **{JOB_LABEL: "j1"}), [("resume", "queued", "q1")]),
], ids=["failed", "suspended", "past validity", "still valid", "active", "unmanaged", "job resumes"])
def test_queued_requests(request_, expected):
    assert one([], queued=[request_], resumable={"j1"}) == expected


def test_every_action_says_why_and_warnings_say_when():
    actions = plan([node(lease=NOW - M)], [], {}, {}, ReapPolicy(), NOW)
    assert actions[0].reason == ("lease ended at 2026-11-30 11:59 UTC; deleted at 2026-11-30 13:00 UTC "
                                 "unless extended")
    warning = warning_for(actions[0])
    assert warning == Warning(NOW + H, "lease")
    assert warning.sentence() == "deleted at 2026-11-30 13:00 UTC: lease ended"
    labelled = node(**warning_labels({}, warning))
    assert warning_of(labelled) == warning
    assert warning_of(node(**{REAP_AT_LABEL: "x", REAP_WHY_LABEL: "lease"})) is None
    assert REAP_AT_LABEL not in warning_labels(labelled.labels, None)


def test_the_cap():
    nodes = [node(f"n{i}", state="PREEMPTED") for i in range(21)]
    actions = plan(nodes, [], {}, {}, ReapPolicy(), NOW)
    assert capped(actions, 20) and not capped(actions[:20], 20)
