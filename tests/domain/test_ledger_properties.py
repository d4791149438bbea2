"""Properties of interval and cost arithmetic: the ledger's totals are those of the READY
periods that really happened, to the second, whatever the order, repetition or month
boundaries of the events that describe them."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given, settings, strategies as st
import pytest

from tpuctl.domain.events import (
    NODE_CREATED, NODE_DELETED, NODE_PREEMPTED, NODE_READY, NODE_STARTED, NODE_STOPPED, new_event, node_payload,
)
from tpuctl.domain.intervals import node_histories
from tpuctl.domain.metering import (
    PriceKey, cost, merge, month_bounds, month_of, month_usage, price_usage, running_usage, split_by_month,
)
from tpuctl.domain.prices import PriceTable, Pricing, Rates

START = datetime(2026, 5, 20, tzinfo=timezone.utc)      # spans May, June, July
SPAN = 70 * 86400
NOW = START + timedelta(seconds=SPAN + 1)
MONTHS = ["2026-05", "2026-06", "2026-07"]
TABLE = PriceTable("test", START.date(), "test", "USD", {"v4": Rates(Decimal("3.22"), Decimal("0.92")),
                                                        "v5e": Rates(Decimal("1.20"), Decimal("0.35"))}, {}, {})


@st.composite
def a_node(draw, index: int):
    """A node's true READY periods (seconds from START; the last may still run) and the
    events tpuctl and the observer would write for them."""
    count = draw(st.integers(1, 4))
    points = sorted(draw(st.lists(st.integers(0, SPAN), min_size=2 * count, max_size=2 * count, unique=True)))
    ends = [NODE_STOPPED, NODE_PREEMPTED]
    periods = [[points[2 * i], points[2 * i + 1], draw(st.sampled_from(ends if i < count - 1 else [NODE_DELETED]))]
               for i in range(count)]
    if draw(st.booleans()):
        periods[-1][1] = None                                  # still running
    owner = draw(st.sampled_from(["alice", "bob", "unattributed"]))
    accelerator, chips = draw(st.sampled_from([("v4-8", 4), ("v4-32", 16), ("v5litepod-8", 8)]))
    spot = draw(st.booleans())

    def event(kind, second, source="tpuctl"):
        when = START + timedelta(seconds=second, microseconds=draw(st.integers(0, 999_999)))
        payload = node_payload(zone="us-central2-b", node=f"n{index}", accelerator_type=accelerator, chips=chips,
                               spot=spot, owner=owner, lease_until=None, request_id=f"r{index}", source=source)
        return new_event(kind, owner, payload, when)

    events = [event(NODE_CREATED, periods[0][0])]
    for number, (start, end, kind) in enumerate(periods):
        events.append(event(NODE_READY if number == 0 else NODE_STARTED, start))
        if end is not None and draw(st.booleans()):            # a late observer sees it running too
            events.append(event(NODE_READY, draw(st.integers(start, end - 1)), "observed"))
        if end is not None:
            events.append(event(kind, end))
    return owner, PriceKey("us-central2-b", accelerator.split("-")[0].replace("v5litepod", "v5e"), accelerator,
                           spot), chips, periods, events


@st.composite
def a_fleet(draw):
    nodes = [draw(a_node(i)) for i in range(draw(st.integers(1, 4)))]
    events = [e for *_, node_events in nodes for e in node_events]
    twice = draw(st.lists(st.sampled_from(events), max_size=len(events)))
    arrival = draw(st.permutations(events + twice))
    return nodes, arrival


def true_usage(nodes, month: str) -> dict[str, Counter]:
    """Chip-seconds of the real READY periods inside `month`, counted directly."""
    lo, hi = (int((bound - START).total_seconds()) for bound in month_bounds(month))
    usage: dict[str, Counter] = {}
    for owner, key, chips, periods, _ in nodes:
        for number, (start, end, kind) in enumerate(periods):
            # FACTS.md: a spot TPU preempted within its first minute is not charged
            free = key.spot and number == 0 and kind == NODE_PREEMPTED and end is not None and end - start < 60
            end = SPAN + 1 if end is None else end
            seconds = max(0, min(end, hi) - max(start, lo))
            if seconds and not free:
                usage.setdefault(owner, Counter())[key] += chips * seconds
    return usage


def derived_usage(events, month: str) -> dict[str, Counter]:
    histories = node_histories(events)
    closed = [i for _, intervals in histories.values() for i in intervals]
    states = [state for state, _ in histories.values()]
    running = running_usage(states, month, NOW)
    assert running == month_usage([i for s in states if (i := s.open_interval(NOW))], month)
    return merge(month_usage(closed, month), running)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(a_fleet())
def test_totals_are_the_true_ready_time_in_any_order_with_repeats(fleet):
    nodes, arrival = fleet
    for month in MONTHS:
        assert _clean(derived_usage(arrival, month)) == _clean(true_usage(nodes, month))


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(a_fleet())
def test_month_parts_add_up_to_the_whole_and_stay_inside_their_month(fleet):
    _, arrival = fleet
    for _, intervals in node_histories(arrival).values():
        for interval in intervals:
            parts = split_by_month(interval)
            assert sum(part.seconds for _, part in parts) == interval.seconds
            assert all(month_of(part.start) == month and part.end <= month_bounds(month)[1] for month, part in parts)


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(a_fleet(), st.randoms())
def test_money_is_chips_times_hours_times_price_whatever_the_summing_order(fleet, rnd):
    _, arrival = fleet
    pricing = Pricing(TABLE)
    for month in MONTHS:
        usage = derived_usage(arrival, month)
        total = Counter()
        members = list(usage)
        rnd.shuffle(members)
        for member in members:
            total.update(usage[member])
        amount = price_usage(total, pricing)
        expected = sum((cost(chip_seconds, pricing.price_for(k.generation, k.zone, k.spot, k.accelerator_type))
                        for k, chip_seconds in sorted(total.items())), Decimal(0))
        assert amount.money == expected and amount.chip_seconds == sum(total.values())


def _clean(usage: dict[str, Counter]) -> dict[str, Counter]:
    return {member: +counter for member, counter in usage.items() if +counter}
