"""The one-match check of tpuctl's own node and queued events accepts nothing `check_event` refuses,
and is what reads them (else a first sync pays every field's check again)."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import pytest

from tpuctl.domain.event_read import read_quick
from tpuctl.domain.event_schema import Invalid, check_event
from tpuctl.domain.event_shape import passes
from tpuctl.domain.events import (
    NODE_DELETED, NODE_READY, QUEUED_CREATED, QUEUED_PROVISIONED, Event, new_event, node_payload, queued_payload,
)

NOW = datetime(2026, 5, 14, 12, 0, tzinfo=timezone.utc)


def node_event(kind: str = NODE_READY, **changes) -> Event:
    payload = node_payload(zone="us-central2-b", node="train-1", accelerator_type="v4-8", chips=4, spot=False,
                           owner="alice", lease_until=NOW + timedelta(hours=4), request_id="r-1", source="observed")
    return new_event(kind, "alice", {**payload, **changes}, NOW)


def queued_event(kind: str = QUEUED_CREATED, **changes) -> Event:
    payload = queued_payload(zone="us-central2-b", name="q-1", node="train-1", accelerator_type="v4-8", chips=4,
                             spot=True, owner="alice", lease_hours="4.5", request_id="r-1")
    return new_event(kind, "alice", {**payload, **changes}, NOW)


def read(data: bytes) -> Event | None:
    return read_quick(Event, data, check=False)


def canonical(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def refused(event: Event) -> bool:
    try:
        check_event(event)
    except Invalid:
        return True
    return False


def test_tpuctl_s_own_node_and_queued_events_are_known_from_their_form():
    from tpuctl.domain.signing import SigningKey

    key = SigningKey.generate()
    events = [node_event(), node_event(NODE_DELETED, reason="lease ended", create_time="2026-05-14T11:00:00.000000Z"),
              node_event(owner="unattributed", request_id=None, lease_until=None), queued_event(),
              queued_event(QUEUED_PROVISIONED, source="observed"), queued_event(chips=8)]
    events.append(node_event().signed(key, events[0].id))
    for event in events:
        data = event.to_json()
        assert passes(data, read(data)), data


NEAR_MISSES = {        # each in tpuctl's form, refused by check_event for what no pattern can say
    "no such date": node_event(lease_until="2026-02-30T00:00:00.000000Z"),
    "a lease before 2017": node_event(lease_until="2016-12-31T23:59:59.000000Z"),
    "a create time in 2100": node_event(create_time="2100-01-01T00:00:00.000000Z"),
    "a type tpuctl does not know": node_event(accelerator_type="v9-8"),
    "chips the type does not have": node_event(chips=8),
    "more chips than any slice": queued_event(chips=20000),
    "a queued request for part of a node": queued_event(chips=6),
    "a lease of no hours": queued_event(lease_hours="0"),
    "a lease over a year": queued_event(lease_hours="9000"),
}


@pytest.mark.parametrize("name", sorted(NEAR_MISSES))
def test_what_the_form_cannot_say_is_still_checked(name):
    data = NEAR_MISSES[name].to_json()
    event = read(data)
    assert refused(event)
    assert not passes(data, event)
    assert read_quick(Event, data) is None          # (json's path then says why)


def test_a_time_long_after_the_id_s_or_an_id_from_before_2017_is_not_passed():
    later = node_event()
    later = Event(id=later.id, time=NOW + timedelta(days=2), actor="alice", kind=later.kind, payload=later.payload)
    early = Event(id="00" + later.id[2:], time=NOW, actor="alice", kind=later.kind, payload=later.payload)
    for event in (later, early):
        data = event.to_json()
        assert refused(read(data)) and not passes(data, read(data))


BASES = [node_event().to_json(), node_event(NODE_DELETED, reason="idle").to_json(), queued_event().to_json()]
TRICKY = st.sampled_from([None, True, False, 0, 4, 8, -4, 16385, 4.0, "", "v4-8", "v4-16", "v9-8", "alice",
                          "Alice", "a" * 64, "r-1\n", "us-central2-b", "us-central2", "2026-02-30T00:00:00.000000Z",
                          "2026-05-14T12:00:00.000000Z", "2099-12-31T23:59:59.999999Z", "2017-01-01T00:00:00Z",
                          "4.5", "0", "0.0000001", "9999", "1e3", "unattributed", "observed", "tpuctl", "node.ready",
                          "queued.failed", "01KQGDBJZ849PN5AFNV7JAQ57P", "x" * 501, [], {}])
BYTES = st.sampled_from([b'"', b"\\", b" ", b",", b"0", b"9", b"a", b"Z", b"\n", b"{", b"}", b"null", b"\xff", b"-"])


@st.composite
def edited(draw) -> bytes:
    """tpuctl's form with a field given another value (kept in that form), or a byte changed."""
    body = json.loads(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        payload = body.get("payload")
        where = payload if isinstance(payload, dict) and draw(st.booleans()) else body
        name = draw(st.sampled_from(sorted(where) + ["extra", "sig", "group"]))
        if draw(st.integers(0, 5)) == 0:
            where.pop(name, None)
        else:
            where[name] = copy.deepcopy(draw(TRICKY))     # (its lists and objects are shared)
    data = canonical(body)
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + draw(BYTES) + data[at + draw(st.integers(0, 1)):]
    return data


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edited())
def test_the_form_passes_nothing_check_event_refuses(data):
    event = read(data)
    if event is not None and passes(data, event):
        check_event(event)              # raises (fails the test) if the form passed what it refuses


@pytest.mark.parametrize("first", ["event_shape", "event_read", "event_schema"])
def test_the_three_reading_modules_import_in_any_order(first):
    import subprocess
    import sys

    code = (f"import tpuctl.domain.{first}; from tpuctl.domain.event_read import read_quick; "
            "from tpuctl.domain.events import Event; print(read_quick(Event, b'{}'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "None\n", done.stderr
