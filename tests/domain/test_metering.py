from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tpuctl.domain.events import (
    NODE_CREATED, NODE_DELETED, NODE_PREEMPTED, NODE_READY, NODE_STARTED, NODE_STOPPED, QUEUED_CREATED,
    new_event, node_payload, queued_payload,
)
from tpuctl.domain.intervals import queued_requests, replay
from tpuctl.domain.metering import (
    PriceKey, committed_usage, month_bounds, month_usage, observe, price_usage, split_by_month,
)
from tpuctl.domain.nodes import LEASE_LABEL, OWNER_LABEL, REQUEST_LABEL, NodeInfo
from tpuctl.domain.prices import PriceTable, Pricing, Rates
from tpuctl.errors import UsageError

T0 = datetime(2026, 5, 31, 23, 0, tzinfo=timezone.utc)
V4 = PriceKey("us-central2-b", "v4", "v4-8", False)
TABLE = PriceTable("test", T0.date(), "test", "USD", {"v4": Rates(Decimal("3.22"), Decimal("0.92"))}, {}, {})


def at(**delta) -> datetime:
    return T0 + timedelta(**delta)


def events_of(*steps, node="alice-v4", request_id="req-1", lease_until=None, owner="alice"):
    return [new_event(kind, owner, node_payload(zone="us-central2-b", node=node, accelerator_type="v4-8", chips=4,
                                                spot=False, owner=owner, lease_until=lease_until,
                                                request_id=request_id), when)
            for kind, when in steps]


def state_of(*steps, **spec):
    return replay(events_of(*steps, **spec))


def test_an_interval_over_midnight_of_a_month_end_splits_in_two():
    _, (interval,) = state_of((NODE_READY, T0), (NODE_STOPPED, at(hours=2)))
    parts = split_by_month(interval)
    assert [(month, part.seconds) for month, part in parts] == [("2026-05", 3600), ("2026-06", 3600)]
    assert month_usage([interval], "2026-05") == {"alice": Counter({V4: 4 * 3600})}
    assert month_usage([interval], "2026-04") == {}


def test_month_bounds_and_bad_months():
    assert month_bounds("2026-12") == (datetime(2026, 12, 1, tzinfo=timezone.utc),
                                       datetime(2027, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(UsageError, match="'2026-13' is not a month like 2026-05."):
        month_bounds("2026-13")


def test_usage_is_priced_once_per_key_to_the_millionth():
    usage = Counter({V4: 7, PriceKey("us-central2-b", "v4", "v4-8", True): 3600})
    amount = price_usage(usage, Pricing(TABLE))
    assert amount.money == Decimal("0.926261")        # 7 chip-s x 3.22/3600 + 1 chip-h x 0.92
    assert amount.chip_seconds == 3607 and amount.chip_hours == Decimal("1.001944")


def test_committed_counts_running_leases_and_waiting_queues_once():
    running, _ = state_of((NODE_CREATED, T0), (NODE_READY, at(minutes=5)), lease_until=at(hours=4))
    stopped, _ = state_of((NODE_READY, T0), (NODE_STOPPED, at(hours=1)), node="alice-old", request_id="r0",
                          lease_until=at(hours=9))
    creating, _ = state_of((NODE_CREATED, T0), node="alice-new", request_id="r2", lease_until=at(hours=2))
    queue = [new_event(QUEUED_CREATED, "bob", queued_payload(
        zone="us-central2-b", name=name, node=node, accelerator_type="v4-8", chips=4, spot=False, owner="bob",
        lease_hours="1.5", request_id=name), T0) for name, node in (("q1", "bob-a"), ("q2", "alice-v4"))]
    committed = committed_usage([running, stopped, creating], queued_requests(queue).values(), at(hours=1))
    assert committed == {"alice": Counter({V4: 4 * 3 * 3600 + 4 * 3600}),
                         "bob": Counter({V4: 4 * 5400})}        # q2's node already runs: not twice


def node(name="alice-v4", state="READY", labels=None, create_time=None, zone="us-central2-b", spot=False):
    return NodeInfo(name=name, zone=zone, accelerator_type="v4-8", state=state, spot=spot,
                    labels=labels if labels is not None else {OWNER_LABEL: "alice", REQUEST_LABEL: "req-1"},
                    create_time=create_time)


def kinds(events):
    return [(e.kind, e.payload["node"], e.time, e.payload["owner"]) for e in events]


NOW = at(hours=3)


def test_a_node_deleted_behind_tpuctls_back_closes_at_this_sync():
    running, _ = state_of((NODE_CREATED, T0), (NODE_READY, at(minutes=1)))
    events = observe([], [running], NOW, "cron")
    assert kinds(events) == [(NODE_DELETED, "alice-v4", NOW, "alice")]
    assert events[0].payload["source"] == "observed" and events[0].actor == "cron"


@pytest.mark.parametrize("api_state, kind", [("PREEMPTED", NODE_PREEMPTED), ("STOPPED", NODE_STOPPED),
                                             ("DELETING", NODE_DELETED), ("TERMINATED", NODE_DELETED)])
def test_a_running_node_that_stopped_accruing_is_closed_now(api_state, kind):
    running, _ = state_of((NODE_READY, T0))
    assert kinds(observe([node(state=api_state)], [running], NOW, "cron")) == [(kind, "alice-v4", NOW, "alice")]


def test_a_node_in_line_with_the_ledger_needs_no_event():
    running, _ = state_of((NODE_READY, T0))
    stopped, _ = state_of((NODE_READY, T0), (NODE_STOPPED, at(hours=1)), node="b", request_id="r9")
    listed = [node(), node(name="b", state="STOPPED", labels={REQUEST_LABEL: "r9"})]
    assert observe(listed, [running, stopped], NOW, "cron") == []


def test_a_node_tpuctl_never_saw_is_billed_from_its_create_time_to_its_label_or_unattributed():
    made_by_gcloud = node(name="gc", labels={}, create_time=at(hours=1))
    labelled = node(name="bobs", labels={OWNER_LABEL: "bob", LEASE_LABEL: "1780300800"}, create_time=at(hours=2))
    gone_already = node(name="old", state="PREEMPTED", labels={}, create_time=T0)
    events = observe([made_by_gcloud, labelled, gone_already], [], NOW, "cron")
    assert kinds(events) == [(NODE_CREATED, "gc", at(hours=1), "unattributed"),
                             (NODE_READY, "gc", at(hours=1), "unattributed"),
                             (NODE_CREATED, "bobs", at(hours=2), "bob"),
                             (NODE_READY, "bobs", at(hours=2), "bob")]
    assert events[2].payload["lease_until"] == "2026-06-01T08:00:00.000000Z"
    assert replay(events[:2])[0].subject == "us-central2-b/gc/2026-06-01T00:00:00.000000Z"


def test_a_create_that_crashed_before_node_ready_is_billed_from_the_nodes_create_time():
    written = events_of((NODE_CREATED, T0))                  # written before the API call, then SIGKILL
    events = observe([node(create_time=at(seconds=20))], [replay(written)[0]], NOW, "cron")
    assert kinds(events) == [(NODE_READY, "alice-v4", at(seconds=20), "alice")]
    state, _ = replay(written + events)
    assert state.open_interval(NOW).seconds == 3 * 3600 - 20


def test_a_create_still_under_way_is_not_closed_before_the_grace_period():
    created, _ = state_of((NODE_CREATED, NOW - timedelta(minutes=5)))
    assert observe([], [created], NOW, "cron") == []
    assert kinds(observe([], [created], NOW + timedelta(minutes=11), "cron")) == [
        (NODE_DELETED, "alice-v4", NOW + timedelta(minutes=11), "alice")]


def test_restarts_and_resurrections_are_started_now():
    stopped, _ = state_of((NODE_READY, T0), (NODE_STOPPED, at(hours=1)))
    deleted, _ = state_of((NODE_READY, T0), (NODE_DELETED, at(hours=1)))
    assert kinds(observe([node()], [stopped], NOW, "cron")) == [(NODE_STARTED, "alice-v4", NOW, "alice")]
    assert kinds(observe([node()], [deleted], NOW, "cron")) == [(NODE_STARTED, "alice-v4", NOW, "alice")]
    assert observe([node(state="DELETING")], [deleted], NOW, "cron") == []


def test_a_reused_name_closes_the_old_incarnation_and_opens_the_new():
    old, _ = state_of((NODE_READY, T0))
    newer = node(labels={OWNER_LABEL: "bob", REQUEST_LABEL: "req-2"}, create_time=at(hours=2))
    assert kinds(observe([newer], [old], NOW, "cron")) == [
        (NODE_CREATED, "alice-v4", at(hours=2), "bob"), (NODE_READY, "alice-v4", at(hours=2), "bob"),
        (NODE_DELETED, "alice-v4", NOW, "alice")]


def test_a_node_whose_create_time_is_ahead_of_this_clock_is_deleted_once():
    """gcloud made it; the API's clock runs a second ahead of this machine's, and the node is
    gone before this machine's clock reaches its createTime."""
    ahead = node(name="gc", labels={}, create_time=NOW + timedelta(seconds=0.9))
    seen = observe([ahead], [], NOW, "cron")
    assert kinds(seen) == [(NODE_CREATED, "gc", NOW, "unattributed"), (NODE_READY, "gc", NOW, "unattributed")]
    later = NOW + timedelta(seconds=0.3)
    gone = observe([], [replay(seen)[0]], later, "cron")
    assert kinds(gone) == [(NODE_DELETED, "gc", later, "unattributed")]
    closed, _ = replay(seen + gone)
    assert closed.closed and observe([], [closed], later + timedelta(seconds=0.2), "cron") == []


def test_an_observation_is_never_dated_before_what_another_members_clock_wrote():
    """A member whose clock is 5 s behind sees the node gone or stopped: dated after its last event."""
    last = at(hours=2)
    running, _ = state_of((NODE_READY, T0), (NODE_STARTED, last))           # started by a member ahead
    behind = last - timedelta(seconds=5)
    gone = observe([], [running], behind, "cron")
    assert kinds(gone) == [(NODE_DELETED, "alice-v4", last, "alice")]
    assert replay(events_of((NODE_READY, T0), (NODE_STARTED, last)) + gone)[0].closed
    assert kinds(observe([node(state="STOPPED")], [running], behind, "cron")) == [
        (NODE_STOPPED, "alice-v4", last, "alice")]


def test_a_deletion_written_in_the_far_future_does_not_stop_a_running_tpus_billing():
    """A member signs a node.deleted of their own running TPU dated next year: the sync that sees
    it still READY starts it again now, not next year."""
    next_year = NOW + timedelta(days=365)
    forged, _ = state_of((NODE_READY, T0), (NODE_DELETED, next_year))
    seen = observe([node()], [forged], NOW, "cron")
    assert kinds(seen) == [(NODE_STARTED, "alice-v4", NOW, "alice")]
    assert kinds(observe([node(state="STOPPED")], [state_of((NODE_READY, next_year))[0]], NOW, "cron")) == [
        (NODE_STOPPED, "alice-v4", NOW, "alice")]


def test_nodes_in_an_unreachable_zone_are_left_open():
    running, _ = state_of((NODE_READY, T0))
    assert observe([], [running], NOW, "cron", unreachable_zones={"us-central2-b"}) == []
