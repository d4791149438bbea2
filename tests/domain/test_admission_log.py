"""The admission log's decision, without a store: which entries still hold budget, and that a
request decided again after a lost race sees the entry that beat it."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tpuctl.domain.admission_log import (
    ADMISSION_GRACE, EntryFormatError, entry_key, key_seq, new_entry, parse_entry, pending_usage,
)
from tpuctl.domain.budgets import RequestRefused, UsageRequest, admit_request, group_rules
from tpuctl.domain.events import BUDGET_SET, GROUP_INITIALIZED, NODE_CREATED, budget_payload, new_event, node_payload
from tpuctl.domain.intervals import replay
from tpuctl.domain.metering import committed_usage, merge
from tpuctl.domain.prices import PriceTable, Pricing, Rates

T0 = datetime(2026, 5, 10, 12, tzinfo=timezone.utc)
MONTH = "2026-05"
PRICING = Pricing(PriceTable("test", T0.date(), "test", "USD", {"v4": Rates(Decimal("3.22"), Decimal("0.92"))},
                             {}, {}))
RULES = group_rules([new_event(GROUP_INITIALIZED, "tess", {"treasurers": ["tess"], "currency": "USD"}, T0),
                     new_event(BUDGET_SET, "tess", budget_payload(scope="group", amount=10), T0)])


def ask(member: str, request_id: str, hours: str = "0.25") -> UsageRequest:
    """A v4-8 (4 chips at $3.22) for 15 minutes: $3.22."""
    return UsageRequest.for_type(member, "us-central2-b", "v4-8", False, hours, request_id=request_id)


def decide(request: UsageRequest, entries, reflected=frozenset(), now=T0, committed=None):
    pending = pending_usage(entries, reflected, now)
    return admit_request(request, month=MONTH, spent={}, committed=merge(committed or {}, pending), rules=RULES,
                         pricing=PRICING)


def admitted(seq: int, request: UsageRequest, now=T0):
    return new_entry(MONTH, seq, request, decide(request, []), request.member, now)


def test_a_lost_race_decides_again_with_the_entry_that_won():
    log = [admitted(1, ask("ana", "r1")), admitted(2, ask("bo", "r2"))]
    mine = ask("cy", "r3")
    first = decide(mine, log)                 # $6.44 held by the log, $3.22 asked: fits, as entry 3
    assert first.group.left == Decimal("3.56")
    log.append(admitted(3, ask("dee", "r4")))  # ... but dee wrote entry 3 first
    with pytest.raises(RequestRefused) as refused:
        decide(mine, log)
    assert refused.value.message == ("Refused: the group's budget for 2026-05 is $10.00: spent $0.00, "
                                     "committed $9.66, requested $3.22, left $0.34.")


def test_an_entry_stops_counting_after_the_grace_or_when_its_lease_ends():
    entry = admitted(1, ask("ana", "r1", hours="0.5"))
    v4 = entry.price_key
    assert pending_usage([entry], set(), T0 + timedelta(minutes=1)) == {"ana": Counter({v4: 4 * 29 * 60})}
    assert pending_usage([entry], set(), T0 + ADMISSION_GRACE - timedelta(seconds=1)) != {}
    assert pending_usage([entry], set(), T0 + ADMISSION_GRACE) == {}      # never made: it holds nothing
    short = admitted(2, ask("bo", "r2", hours="0.1"))                      # a 6-minute lease
    assert pending_usage([short], set(), T0 + timedelta(minutes=6)) == {}
    assert decide(ask("cy", "r3", hours="0.75"), [entry], now=T0 + ADMISSION_GRACE).group.committed.money == 0


def test_an_entry_and_its_node_count_once():
    entry = admitted(1, ask("ana", "r1"))
    node = node_payload(zone="us-central2-b", node="n1", accelerator_type="v4-8", chips=4, spot=False, owner="ana",
                        lease_until=T0 + timedelta(minutes=15), request_id="r1")
    state, _ = replay([new_event(NODE_CREATED, "ana", node, T0)])
    committed = committed_usage([state], [], T0)
    ledger_knows = {state.spec.request_id}
    both = decide(ask("bo", "r2"), [entry], reflected=ledger_knows, committed=committed)
    assert both.group.committed.money == Decimal("3.22")
    assert decide(ask("bo", "r2"), [entry]).group.committed.money == Decimal("3.22")     # before the node is seen
    twice = [entry, admitted(2, ask("ana", "r1"))]                                       # one request written twice
    assert decide(ask("bo", "r2"), twice).group.committed.money == Decimal("3.22")


def test_entries_round_trip_and_bad_ones_are_named():
    entry = admitted(7, ask("ana", "r1"))
    key = entry_key(MONTH, 7)
    assert key == "ledger/admissions/2026-05/0000000007.json" and key_seq(key, MONTH) == 7
    assert parse_entry(entry.to_json(), key) == entry
    assert key_seq("ledger/admissions/2026-05/7.json", MONTH) is None
    assert key_seq(key, "2026-06") is None
    good = entry.to_json().decode()
    for data, why in [(b"[]", "it is not a JSON object"), (b"{", "Expecting"),
                      (good.replace('"seq":7', '"seq":8').encode(), "it says entry 8 of 2026-05"),
                      (good.replace('"chips":4', '"chips":-4').encode(), "-4 chips"),
                      (good.replace('"chips":4', '"chips":true').encode(), "'chips' is missing or not int"),
                      (good.replace('"money":"3.220000"', '"money":"NaN"').encode(), "money 'NaN'"),
                      (good.replace('"generation":"v4"', '"generation":"v9"').encode(), "generation 'v9'"),
                      (good.replace('"member":"ana"', '"member":""').encode(), "must not be empty")]:
        with pytest.raises(EntryFormatError, match="is not a readable admission entry") as caught:
            parse_entry(data, key)
        assert why in caught.value.message
