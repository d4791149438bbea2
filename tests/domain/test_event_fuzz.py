"""Any bytes in the store's ledger folder give an event or one EventFormatError, never a crash."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import pytest

from tpuctl.domain.event_schema import SCHEMA
from tpuctl.domain.events import Event, EventFormatError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20)

FIELDS = sorted({name for required, extra in SCHEMA.values() for name in [*required, *extra]})


@st.composite
def event_like(draw) -> bytes:
    """Objects shaped like events, with each field perhaps of the wrong type or out of bounds."""
    payload = draw(st.dictionaries(st.sampled_from(FIELDS), json_values | st.sampled_from(
        ["v4-8", "us-central2-b", "alice", 4, "1e400", "nan", "-1", "2026-11-30T12:00:00Z", "0001-01-01T00:00:00Z"]),
        max_size=12))
    body = {"v": draw(st.sampled_from([1, "1", 2, 0, True, None])),
            "id": draw(st.sampled_from(["01KQHFP680GCWQ5YQ5QBR14AFB", "01ABC", "ZZZZZZZZZZZZZZZZZZZZZZZZZZ"])),
            "time": draw(st.sampled_from(["2026-05-01T00:00:00Z", "2026-05-01", "9999-12-31T23:59:59Z", 5])),
            "actor": draw(st.sampled_from(["alice", "", "Mallory", 7])),
            "kind": draw(st.sampled_from(sorted(SCHEMA) + ["node.teleported", 3])),
            "payload": payload}
    return json.dumps(body).encode()


def parses_or_says_why(data: bytes) -> None:
    try:
        event = Event.from_json(data, origin="ledger/events/x.json")
    except EventFormatError as exc:
        assert exc.message.startswith("ledger/events/x.json is set aside: it ")
        assert "\n" not in exc.message
    else:
        assert Event.from_json(event.to_json()) == event


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_like())
def test_event_shaped_objects_parse_or_are_set_aside(data):
    parses_or_says_why(data)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_bytes_parse_or_are_set_aside(data):
    parses_or_says_why(data)


def test_deeply_nested_json_is_set_aside_not_a_crash():
    parses_or_says_why(b"[" * 100_000 + b"]" * 100_000)
    parses_or_says_why(b'{"v":1,"payload":' * 5000 + b"1" + b"}" * 5000)
