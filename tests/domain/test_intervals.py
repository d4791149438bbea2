from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from tpuctl.domain.events import (
    NODE_CREATED, NODE_DELETED, NODE_PREEMPTED, NODE_READY, NODE_STARTED, NODE_STOPPED, QUEUED_CREATED,
    QUEUED_DELETED, QUEUED_PROVISIONED, new_event, node_payload, queued_payload,
)
from tpuctl.domain.intervals import node_histories, queued_requests, replay
from tpuctl.domain.metering import cost

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=timezone.utc)


def at(**delta) -> datetime:
    return T0 + timedelta(**delta)


def lifecycle(*steps, spot=False, node="alice-v4", request_id="req-1", owner="alice", source="tpuctl"):
    """Events for (kind, time) steps of one node; a step may add its own source."""
    events = []
    for kind, when, *rest in steps:
        payload = node_payload(zone="us-central2-b", node=node, accelerator_type="v4-8", chips=4, spot=spot,
                               owner=owner, lease_until=None, request_id=request_id,
                               source=rest[0] if rest else source)
        events.append(new_event(kind, owner, payload, when))
    return events


def test_create_stop_start_delete_accrues_only_while_ready():
    events = lifecycle((NODE_CREATED, T0), (NODE_READY, at(minutes=1, seconds=30)),
                       (NODE_STOPPED, at(hours=1, minutes=31, seconds=30)), (NODE_STARTED, at(hours=2)),
                       (NODE_DELETED, at(hours=2, minutes=30, seconds=15)))
    state, intervals = replay(events)
    assert [(i.start, i.end, i.seconds) for i in intervals] == [
        (at(minutes=1, seconds=30), at(hours=1, minutes=31, seconds=30), 5400),
        (at(hours=2), at(hours=2, minutes=30, seconds=15), 1815)]
    assert state.status == "deleted" and not state.accruing
    chip_seconds = sum(i.chip_seconds for i in intervals)
    assert chip_seconds == 4 * 7215
    assert cost(chip_seconds, Decimal("3.22")) == Decimal("25.813667")     # 8.0166... chip-hours x $3.22


def test_times_are_billed_to_the_whole_second():
    state, intervals = replay(lifecycle((NODE_READY, at(microseconds=900_000)),
                                        (NODE_STOPPED, at(seconds=10, microseconds=100_000))))
    assert intervals[0].seconds == 10


def test_a_spot_node_preempted_in_its_first_minute_is_free():
    _, early = replay(lifecycle((NODE_READY, T0), (NODE_PREEMPTED, at(seconds=59)), spot=True))
    _, late = replay(lifecycle((NODE_READY, T0), (NODE_PREEMPTED, at(seconds=60)), spot=True))
    _, on_demand = replay(lifecycle((NODE_READY, T0), (NODE_PREEMPTED, at(seconds=59))))
    assert (early[0].seconds, early[0].chip_seconds, early[0].charged) == (59, 0, False)
    assert (late[0].chip_seconds, late[0].charged) == (240, True)
    assert on_demand[0].chip_seconds == 236


def test_order_and_duplicates_do_not_change_the_intervals():
    events = lifecycle((NODE_CREATED, T0), (NODE_READY, at(minutes=2)), (NODE_STOPPED, at(minutes=50)),
                       (NODE_STARTED, at(hours=3)), (NODE_PREEMPTED, at(hours=4)))
    shuffled = events + events[1:3]
    random.Random(7).shuffle(shuffled)
    assert replay(shuffled) == replay(events)


def test_a_second_ready_while_accruing_changes_nothing():
    _, intervals = replay(lifecycle((NODE_READY, T0), (NODE_READY, at(minutes=5), "observed"),
                                    (NODE_STOPPED, at(minutes=10))))
    assert [i.seconds for i in intervals] == [600]


def test_after_deletion_only_an_observed_sighting_reopens_the_node():
    deleted = lifecycle((NODE_READY, T0), (NODE_DELETED, at(minutes=10)))
    late_tpuctl = lifecycle((NODE_READY, at(minutes=20)))
    seen_running = lifecycle((NODE_STARTED, at(minutes=30), "observed"))
    state, intervals = replay(deleted + late_tpuctl)
    assert state.closed and [i.seconds for i in intervals] == [600]
    state, _ = replay(deleted + seen_running)
    assert state.accruing_since == at(minutes=30) and not state.closed


def test_open_interval_runs_until_now():
    state, intervals = replay(lifecycle((NODE_CREATED, T0), (NODE_READY, at(minutes=1))))
    running = state.open_interval(at(hours=1, minutes=1, microseconds=5))
    assert intervals == [] and running.seconds == 3600 and running.chip_seconds == 14400


def test_incarnations_of_a_reused_name_are_kept_apart():
    first = lifecycle((NODE_READY, T0), (NODE_DELETED, at(hours=1)), request_id="req-1")
    second = lifecycle((NODE_READY, at(hours=2)), request_id="req-2")
    histories = node_histories(first + second)
    assert sorted(histories) == ["us-central2-b/alice-v4/req-1", "us-central2-b/alice-v4/req-2"]
    assert histories["us-central2-b/alice-v4/req-2"][0].accruing


def _queued(kind, when):
    payload = queued_payload(zone="us-central2-b", name="q1", node="bob-v4", accelerator_type="v4-8", chips=4,
                             spot=True, owner="bob", lease_hours="2.5", request_id="rq")
    return new_event(kind, "bob", payload, when)


def test_a_queued_request_waits_until_its_first_ending_event():
    created = _queued(QUEUED_CREATED, T0)
    waiting = queued_requests([created])["queued/us-central2-b/q1/rq"]
    assert waiting.waiting and waiting.lease_hours == Decimal("2.5") and waiting.owner == "bob"
    events = [_queued(QUEUED_DELETED, at(hours=2)), created, _queued(QUEUED_PROVISIONED, at(hours=1))]
    assert queued_requests(events)["queued/us-central2-b/q1/rq"].status == "provisioned"
    assert queued_requests(reversed(events))["queued/us-central2-b/q1/rq"].status == "provisioned"
