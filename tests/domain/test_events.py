from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tpuctl.domain.events import (
    BUDGET_SET, NODE_CREATED, Event, EventFormatError, budget_payload, event_key, id_time, key_event_id,
    listing_bound, new_event, new_event_id, node_payload,
)
from tpuctl.domain.event_schema import Invalid, check_event

T0 = datetime(2026, 5, 31, 23, 59, 59, 250_000, tzinfo=timezone.utc)


def a_node_event(**changes) -> Event:
    payload = node_payload(zone="us-central2-b", node="alice-v4", accelerator_type="v4-8", chips=4, spot=False,
                           owner="alice", lease_until=T0 + timedelta(hours=4), request_id="req-1")
    return new_event(NODE_CREATED, "alice", {**payload, **changes}, T0)


def test_an_event_survives_json_exactly():
    event = a_node_event()
    again = Event.from_json(event.to_json())
    assert again == event
    assert again.time == T0 and again.payload["lease_until"] == "2026-06-01T03:59:59.250000Z"
    assert b'"v":2' in event.to_json()


def test_ids_sort_by_recording_time_and_name_their_month_folder():
    ids = [new_event_id(T0 + timedelta(milliseconds=ms)) for ms in (0, 1, 750, 1000)]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert id_time(ids[0]) == T0.replace(microsecond=250_000)
    assert event_key(ids[0]) == f"ledger/events/2026/05/{ids[0]}.json"
    assert event_key(ids[3]) == f"ledger/events/2026/06/{ids[3]}.json"      # recorded in June
    assert key_event_id(event_key(ids[1])) == ids[1]
    assert key_event_id("ledger/events/2026/05/notes.txt") is None
    assert listing_bound(T0) < event_key(ids[0])


@pytest.mark.parametrize("data, reason", [
    (b"not json", "is not JSON"),
    (b'{"v":1,"id":"01ABC","time":"2026-05-01T00:00:00Z","actor":"a","kind":"x","payload":{}}', "invalid event id"),
    (b'{"v":1,"time":"2026-05-01T00:00:00Z"}', "lacks id"),
    (b'{"v":1,"id":"01KQHFP680GCWQ5YQ5QBR14AFB","time":"2026-05-01","actor":"a","kind":"x","payload":{}}',
     "not an RFC 3339 time"),
])
def test_a_corrupt_object_is_one_sentence_naming_it(data, reason):
    with pytest.raises(EventFormatError, match=reason) as caught:
        Event.from_json(data, origin="ledger/events/2026/05/x.json")
    assert caught.value.message.startswith("ledger/events/2026/05/x.json ")


def why(event: Event) -> str:
    with pytest.raises(Invalid) as caught:
        check_event(event)
    return str(caught.value)


def test_the_schema_names_what_is_wrong_with_an_event():
    check_event(a_node_event())
    assert "unknown kind \"node.teleported\"" in why(new_event("node.teleported", "alice", {}, T0))
    assert why(a_node_event(source="gcloud")) == "field 'source' is \"gcloud\", not one of tpuctl, observed"
    newer = Event(new_event_id(T0), T0, "alice", BUDGET_SET, budget_payload(scope="group", amount=1), version=3)
    assert "schema version 3" in why(newer)
    partial = new_event(BUDGET_SET, "tess", {"scope": "group"}, T0)
    assert why(partial) == "lacks the field 'member'"
