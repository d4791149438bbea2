"""A claim cuts a TPU's READY time: before it, its old owner's; after, the claimant's member's."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

from tpuctl.domain.events import NODE_CLAIMED, NODE_CREATED, NODE_DELETED, NODE_READY, new_event, node_payload
from tpuctl.domain.intervals import replay

T0 = datetime(2026, 5, 4, 10, tzinfo=timezone.utc)


def event(kind: str, owner: str, at: timedelta):
    payload = node_payload(zone="us-central2-b", node="stray", accelerator_type="v4-8", chips=4, spot=False,
                           owner=owner, lease_until=None, request_id=None, create_time=T0, source="observed")
    return new_event(kind, "tess", payload, T0 + at, time=T0 + at)


def test_the_time_before_a_claim_stays_unattributed_in_any_order():
    events = [event(NODE_CREATED, "unattributed", timedelta()), event(NODE_READY, "unattributed", timedelta()),
              event(NODE_CLAIMED, "alice", timedelta(minutes=30)),
              event(NODE_DELETED, "unattributed", timedelta(minutes=90))]       # an unlabelled sighting
    for order in itertools.permutations(events):
        state, intervals = replay(order)
        assert [(i.member, i.seconds) for i in intervals] == [("unattributed", 1800), ("alice", 3600)]
        assert state.spec.owner == "alice" and state.status == "deleted"


def test_a_claim_of_a_stopped_tpu_bills_the_member_from_its_next_start():
    events = [event(NODE_CREATED, "unattributed", timedelta()), event(NODE_CLAIMED, "alice", timedelta(minutes=5)),
              event(NODE_READY, "unattributed", timedelta(minutes=10)),
              event(NODE_DELETED, "unattributed", timedelta(minutes=70))]
    _, intervals = replay(events)
    assert [(i.member, i.seconds) for i in intervals] == [("alice", 3600)]
