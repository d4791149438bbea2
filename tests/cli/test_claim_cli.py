"""`tpuctl claim NAME --for MEMBER`: a TPU made outside tpuctl is billed to the member from the
claim on, its time before stays unattributed, and the two add up to what Cloud TPU ran.
tpuctl and the emulator share one clock, so the seconds are exact."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.cli.conftest import alice_makes_a1
from tests.conftest import ZONE
from tpuctl.domain.events import NODE_CLAIMED
from tpuctl.errors import ExitCode

from tests.cli.test_acting_for_cli import events


@pytest.fixture
def group(shared_clock, trio):
    """Treasurer tess; alice and bob with $100 a month. Returns act_as(member)."""
    return trio


def stray(api) -> None:
    """A v4-8 made with gcloud: no owner label."""
    api.create_node(ZONE, "stray", accelerator_type="v4-8", runtime_version="tpu-ubuntu2204-base", spot=False,
                    labels={})


def test_a_claimed_tpu_is_billed_to_the_member_from_the_claim_and_unattributed_before(cli, group, api,
                                                                                     shared_clock, emulator):
    stray(api)
    shared_clock.advance(1800)
    group("tess")
    claimed = cli("claim", "stray", "--for", "alice", "--json")
    assert claimed.code == 0, claimed.err
    assert claimed.json["owner"] == "alice" and claimed.json["labels"]["tpuctl-owner"] == "alice"
    assert claimed.json["claimed"]["unattributed_seconds"] == 1800 and claimed.json["claimed"]["by"] == "tess"
    assert (claimed.json["claimed"]["member"], claimed.json["claimed"]["labelled"]) == ("alice", True)
    assert claimed.json["claimed"]["since"] == shared_clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    [event] = events(NODE_CLAIMED)
    assert (event.actor, event.payload["owner"]) == ("tess", "alice")

    shared_clock.advance(3600)
    assert cli("delete", "stray", "--yes").code == 0          # a treasurer may act on any TPU
    [ran] = [u for u in emulator.usage() if u["node"].endswith("/stray")]
    ran_chip_seconds = sum(Decimal(i["chipSeconds"]) for i in ran["intervals"])
    assert ran_chip_seconds == 4 * 5400

    group("alice")
    mine = cli("spend", "--json").json
    assert [(n["node"], n["seconds"], n["cost"]) for n in mine["nodes"]] == [("stray", 3600, "12.880000")]
    group("tess")
    report = cli("report", "--format", "json").json
    hours = {line["key"]: Decimal(line["chip_hours"]) for line in report["lines"]}
    assert hours["alice"] == 4 and hours["unattributed"] == 2
    assert (hours["alice"] + hours["unattributed"]) * 3600 == ran_chip_seconds
    assert cli("ledger", "verify").out == "The ledger is consistent.\n"


def test_a_tpu_a_member_owns_is_not_claimed_and_only_a_treasurer_claims(cli, group, api):
    stray(api)
    group("bob")
    refused = cli("claim", "stray", "--for", "bob")
    assert (refused.code, refused.err.splitlines()[0]) == (
        ExitCode.PERMISSION, "Error: bob is not a treasurer, so cannot claim a TPU for bob.")

    alice_makes_a1(cli, group)
    group("tess")
    taken = cli("claim", "a1", "--for", "bob")
    assert (taken.code, taken.err.splitlines()[0]) == (
        ExitCode.CONFLICT, "Error: TPU 'a1' is alice's already; only a TPU billed to nobody can be claimed.")
    assert cli("claim", "stray", "--for", "bob").code == 0
    again = cli("claim", "stray", "--for", "alice")
    assert again.code == ExitCode.CONFLICT and "is bob's already" in again.err
    assert events(NODE_CLAIMED)[0].payload["owner"] == "bob" and len(events(NODE_CLAIMED)) == 1


def test_a_claim_a_member_writes_into_the_store_counts_for_nothing(cli, group, api, shared_clock):
    import os

    from tests.cli.test_forgery_cli import signed
    from tpuctl.adapters.store import open_store
    from tpuctl.domain.metering import node_info_payload

    stray(api)
    group("tess")
    assert cli("sync").code == 0                               # billed to nobody so far
    shared_clock.advance(600)
    store = open_store(os.environ["TPUCTL_STORE"])
    payload = {**node_info_payload(api.get_node(ZONE, "stray"), source="tpuctl"), "owner": "bob"}
    forged = signed(NODE_CLAIMED, "bob", payload, store)       # bob's own key, but bob is no treasurer
    store.create(forged.key, forged.to_json())
    shared_clock.advance(600)
    shown = {s["who"]: s["spent"] for s in cli("budget", "show", "--json").json["standings"]}
    assert shown["unattributed"] == "4.293333" and shown.get("bob", "0.000000") == "0.000000"    # 1200 s
    [problem] = cli("ledger", "verify", "--json").json
    assert problem["key"] == forged.key
    assert "bob is not a treasurer, so cannot claim a TPU for bob" in problem["message"]


def test_a_member_may_not_start_a_tpu_billed_to_nobody_but_a_treasurer_may(cli, group, api):
    stray(api)
    api.stop_node(ZONE, "stray")
    group("alice")
    refused = cli("start", "stray")
    assert (refused.code, refused.err.splitlines()[0]) == (
        ExitCode.PERMISSION, "Error: TPU 'stray' is billed to nobody (it was made outside tpuctl), so alice cannot "
                             "start it: its time would go on the group's shared costs.")
    assert api.get_node(ZONE, "stray").state == "STOPPED"           # refused before anything started
    group("tess")
    assert cli("claim", "stray", "--for", "alice").code == 0
    group("alice")
    assert cli("start", "stray").code == 0 and api.get_node(ZONE, "stray").state == "READY"
