"""Observing queued resources: what `tpuctl sync` writes so the ledger's requests (and the
spend they commit) follow what Cloud TPU lists, whoever made or changed them."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from tpuctl.domain.events import (
    QUEUED_CREATED, QUEUED_DELETED, QUEUED_FAILED, QUEUED_PROVISIONED, new_event, queued_payload,
)
from tpuctl.domain.intervals import queued_requests
from tpuctl.domain.metering import PriceKey, committed_usage, observe_queued, queued_info_subject
from tpuctl.domain.nodes import LEASE_MINUTES_LABEL, OWNER_LABEL, REQUEST_LABEL
from tpuctl.domain.queued import QueuedInfo

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=timezone.utc)
NOW = T0 + timedelta(hours=3)
ZONE = "us-central2-b"
V4 = PriceKey(ZONE, "v4", "v4-8", False)
BOBS = {OWNER_LABEL: "bob", REQUEST_LABEL: "rq", LEASE_MINUTES_LABEL: "120"}


def listing(name="q1", state="WAITING_FOR_RESOURCES", labels=None, accelerator_type="v4-8", node_ids=("q1",),
            tier="on-demand", create_time=T0) -> QueuedInfo:
    return QueuedInfo(name=name, zone=ZONE, state=state, accelerator_type=accelerator_type, node_ids=node_ids,
                      tier=tier, labels=dict(BOBS) if labels is None else labels, create_time=create_time)


def recorded(*steps, owner="bob", request_id="rq") -> list:
    """What tpuctl wrote itself for bob's request q1 (one v4-8 for two hours)."""
    payload = queued_payload(zone=ZONE, name="q1", node="q1", accelerator_type="v4-8", chips=4, spot=False,
                             owner=owner, lease_hours="2", request_id=request_id)
    return [new_event(kind, owner, payload, when) for kind, when in steps]


def known(events) -> list:
    return list(queued_requests(events).values())


def kinds(events):
    return [(e.kind, e.payload["name"], e.time, e.payload["owner"]) for e in events]


def test_a_request_made_with_gcloud_is_recorded_from_its_create_time_unattributed_or_as_labelled():
    by_gcloud = listing(name="gc", labels={}, node_ids=("gc-0", "gc-1"), tier="spot", create_time=T0)
    labelled = listing(name="al", labels={OWNER_LABEL: "alice", LEASE_MINUTES_LABEL: "90"},
                       create_time=T0 + timedelta(hours=1))
    events = observe_queued([by_gcloud, labelled], [], NOW, "cron")
    assert kinds(events) == [(QUEUED_CREATED, "gc", T0, "unattributed"),
                             (QUEUED_CREATED, "al", T0 + timedelta(hours=1), "alice")]
    assert all(e.payload["source"] == "observed" and e.actor == "cron" for e in events)
    gc, al = (e.payload for e in events)
    assert (gc["node"], gc["chips"], gc["spot"], gc["lease_hours"], gc["request_id"]) == ("gc-0", 8, True, "0", None)
    assert (al["node"], al["chips"], al["spot"], al["lease_hours"]) == ("q1", 4, False, "1.5")
    assert queued_info_subject(by_gcloud) == "queued/us-central2-b/gc/-"
    assert committed_usage([], known(events), NOW) == {"alice": Counter({V4: 4 * 5400})}


@pytest.mark.parametrize("api_state, kind", [
    ("ACTIVE", QUEUED_PROVISIONED), ("FAILED", QUEUED_FAILED), ("SUSPENDED", QUEUED_FAILED),
    ("SUSPENDING", QUEUED_FAILED), ("DELETING", QUEUED_DELETED)])
def test_a_request_tpuctl_never_saw_that_already_ended_is_recorded_and_ended_now(api_state, kind):
    events = observe_queued([listing(labels={}, state=api_state)], [], NOW, "cron")
    assert kinds(events) == [(QUEUED_CREATED, "q1", T0, "unattributed"), (kind, "q1", NOW, "unattributed")]
    assert committed_usage([], known(events), NOW) == {}


@pytest.mark.parametrize("api_state, kind", [
    ("ACTIVE", QUEUED_PROVISIONED), ("FAILED", QUEUED_FAILED), ("SUSPENDED", QUEUED_FAILED),
    ("SUSPENDING", QUEUED_FAILED), ("DELETING", QUEUED_DELETED)])
def test_a_wait_that_ended_without_tpuctl_ends_now_and_stops_committing_spend(api_state, kind):
    ledger = recorded((QUEUED_CREATED, T0))
    assert committed_usage([], known(ledger), NOW) == {"bob": Counter({V4: 4 * 7200})}
    events = observe_queued([listing(state=api_state)], known(ledger), NOW, "cron")
    assert kinds(events) == [(kind, "q1", NOW, "bob")]
    assert committed_usage([], known(ledger + events), NOW) == {}


@pytest.mark.parametrize("api_state", ["CREATING", "ACCEPTED", "WAITING_FOR_RESOURCES", "PROVISIONING"])
def test_a_request_still_waiting_needs_no_event(api_state):
    assert observe_queued([listing(state=api_state)], known(recorded((QUEUED_CREATED, T0))), NOW, "cron") == []


def test_a_request_that_already_ended_is_not_ended_again():
    provisioned = known(recorded((QUEUED_CREATED, T0), (QUEUED_PROVISIONED, T0 + timedelta(hours=1))))
    assert observe_queued([listing(state="DELETING")], provisioned, NOW, "cron") == []
    assert observe_queued([listing(state="ACTIVE")], provisioned, NOW, "cron") == []


def test_an_unlabelled_listing_keeps_what_the_ledger_knows_of_owner_size_and_lease():
    ledger = known(recorded((QUEUED_CREATED, T0), owner="carol", request_id=None))
    events = observe_queued([listing(labels={}, state="ACTIVE", accelerator_type="v9-8")], ledger, NOW, "cron")
    assert kinds(events) == [(QUEUED_PROVISIONED, "q1", NOW, "carol")]
    assert (events[0].payload["chips"], events[0].payload["lease_hours"]) == (4, "2")


def test_a_request_deleted_behind_tpuctls_back_is_closed_after_the_grace_period_only():
    just_asked = known(recorded((QUEUED_CREATED, NOW - timedelta(minutes=5))))     # the API call may be under way
    assert observe_queued([], just_asked, NOW, "cron") == []
    later = NOW + timedelta(minutes=11)
    events = observe_queued([], just_asked, later, "cron")
    assert kinds(events) == [(QUEUED_DELETED, "q1", later, "bob")]
    assert events[0].payload["source"] == "observed" and events[0].payload["request_id"] == "rq"
    assert committed_usage([], known(recorded((QUEUED_CREATED, NOW - timedelta(minutes=5))) + events), later) == {}


def test_requests_in_an_unreachable_zone_are_left_waiting():
    ledger = known(recorded((QUEUED_CREATED, T0)))
    assert observe_queued([], ledger, NOW, "cron", unreachable_zones={ZONE}) == []


def test_observing_the_same_listing_twice_writes_nothing_the_second_time():
    ledger = recorded((QUEUED_CREATED, T0)) + recorded((QUEUED_CREATED, T0), request_id="gone")
    listed = [listing(state="ACTIVE"), listing(name="gc", labels={}), listing(name="old", labels={}, state="FAILED")]
    first = observe_queued(listed, known(ledger), NOW, "cron")
    assert [(e.kind, e.payload["name"]) for e in first] == [
        (QUEUED_PROVISIONED, "q1"), (QUEUED_CREATED, "gc"), (QUEUED_CREATED, "old"), (QUEUED_FAILED, "old"),
        (QUEUED_DELETED, "q1")]                                # bob's other request, "gone", is not listed
    after = queued_requests(ledger + first)
    still_known = [r for r in after.values() if r.waiting or r.subject in {queued_info_subject(i) for i in listed}]
    assert observe_queued(listed, still_known, NOW + timedelta(hours=1), "cron") == []


def test_since_is_the_earliest_event_whatever_the_order():
    events = recorded((QUEUED_DELETED, T0 + timedelta(hours=2)), (QUEUED_CREATED, T0),
                      (QUEUED_PROVISIONED, T0 + timedelta(hours=1)))
    for order in (events, events[::-1], events + events):
        (request,) = known(order)
        assert (request.since, request.status) == (T0, "provisioned")
