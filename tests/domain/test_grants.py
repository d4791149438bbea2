"""Who gets a TRC grant's free chips, how later grants replace earlier ones, and the bounds
on grant events."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tpuctl.domain.event_schema import Invalid, check_payload
from tpuctl.domain.grants import Grant, GrantBook, allocate, current, warnings_due
from tpuctl.domain.intervals import NodeSpec, UsageInterval

T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)
H = timedelta(hours=1)
ZONE = "us-central2-b"


def grant(chips: int = 32, start: datetime = T0, until: datetime = T0 + 100 * H, model: str = "spot") -> Grant:
    return Grant(ZONE, "v4", model, chips, start, until)


def run(name: str, chips: int, start: datetime, end: datetime, spot: bool = True, owner: str = "alice",
        zone: str = ZONE) -> UsageInterval:
    spec = NodeSpec(zone, name, f"v4-{chips * 2}", "v4", chips, spot, owner, None, None, None)
    return UsageInterval(f"{zone}/{name}/-", 0, spec, start, end)


def covered(pieces) -> dict[str, int]:
    found: dict[str, int] = {}
    for piece in pieces:
        found[piece.spec.node] = found.get(piece.spec.node, 0) + piece.chip_seconds
    return found


def test_first_come_first_served_by_start_and_the_next_moves_up_when_the_first_ends():
    a = run("a", 16, T0, T0 + 2 * H)
    b = run("b", 32, T0 + H, T0 + 4 * H, owner="bob")
    pieces = allocate([b, a], [grant(32)], T0, T0 + 10 * H)
    # a: 16 chips for 2 h. b: 16 of 32 while a runs (1 h), then all 32 (2 h).
    assert covered(pieces) == {"a": 16 * 2 * 3600, "b": (16 * 1 + 32 * 2) * 3600}


def test_only_its_zone_generation_and_model_and_only_while_it_lasts():
    pieces = allocate([run("od", 4, T0, T0 + 3 * H, spot=False), run("elsewhere", 4, T0, T0 + 3 * H, zone="us-east1-d"),
                       run("late", 4, T0 + 8 * H, T0 + 12 * H)], [grant(32, until=T0 + 10 * H)], T0, T0 + 20 * H)
    assert covered(pieces) == {"late": 4 * 2 * 3600}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(1, 20), st.sampled_from([4, 8, 16, 32])), max_size=8),
       st.integers(1, 64))
def test_never_more_chips_than_the_grant_nor_more_than_a_tpu_used(runs, chips):
    intervals = [run(f"n{i}", c, T0 + s * H, T0 + (s + d) * H) for i, (s, d, c) in enumerate(runs)]
    pieces = allocate(intervals, [grant(chips, until=T0 + 30 * H)], T0, T0 + 50 * H)
    for hour in range(50):
        at = T0 + hour * H + H / 2
        assert sum(p.spec.chips for p in pieces if p.start <= at < p.end) <= chips
    used = {i.spec.node: i.chip_seconds for i in intervals}
    assert all(seconds <= used[name] for name, seconds in covered(pieces).items())
    assert covered(allocate(list(reversed(intervals)), [grant(chips, until=T0 + 30 * H)], T0, T0 + 50 * H)) == \
        covered(pieces)


def test_a_later_grant_replaces_from_its_start_and_an_end_stops_it():
    book = GrantBook()
    book.set(grant(32, T0, T0 + 30 * 24 * H))
    book.set(grant(64, T0 + 10 * 24 * H, T0 + 60 * 24 * H))            # a bigger, longer grant from day 10
    assert [(g.chips, g.start, g.until) for g in book.periods] == [
        (32, T0, T0 + 10 * 24 * H), (64, T0 + 10 * 24 * H, T0 + 60 * 24 * H)]
    assert book.end((ZONE, "v4", "spot"), T0 + 20 * 24 * H) is None
    assert [g.until for g in book.periods] == [T0 + 10 * 24 * H, T0 + 20 * 24 * H]
    assert book.end((ZONE, "v4", "spot"), T0 + 25 * 24 * H).startswith("there is no grant for spot v4")
    assert [g.chips for g in current(book.periods, T0 + 15 * 24 * H)] == [64]


def test_warnings_are_due_a_week_and_a_day_before_the_end():
    g = grant(until=T0 + 10 * 24 * H)
    assert warnings_due([g], T0 + 2 * 24 * H) == []
    assert warnings_due([g], T0 + 3 * 24 * H) == [(g, 7)]
    assert warnings_due([g], T0 + 9 * 24 * H + H) == [(g, 1)]
    assert warnings_due([g], T0 + 10 * 24 * H) == []


@pytest.mark.parametrize("payload, problem", [
    ({"zone": ZONE, "generation": "v4", "model": "spot", "chips": 0, "start": "2026-12-01T00:00:00Z",
      "until": "2026-12-30T00:00:00Z"}, "field 'chips'"),
    ({"zone": ZONE, "generation": "v4", "model": "free", "chips": 8, "start": "2026-12-01T00:00:00Z",
      "until": "2026-12-30T00:00:00Z"}, "field 'model'"),
    ({"zone": ZONE, "generation": "v9", "model": "spot", "chips": 8, "start": "2026-12-01T00:00:00Z",
      "until": "2126-12-30T00:00:00Z"}, "field 'generation'"),
])
def test_a_grant_event_out_of_bounds_is_set_aside(payload, problem):
    with pytest.raises(Invalid, match=problem):
        check_payload("grant.set", payload)
