"""The emulator's ground truth: what ran, and the Cloud Billing export it makes of it (real client)."""

from __future__ import annotations

import csv
import io
import json
import urllib.request
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from google.cloud import tpu_v2

from tpuctl.domain.clock import ManualClock
from tpuctl.emulator.billing import COLUMNS
from tpuctl.emulator.models import WorldSettings
from tpuctl.emulator.server import EmulatorServer

ZONE = "us-central2-b"
PARENT = f"projects/p/locations/{ZONE}"
RUNTIME = "tpu-ubuntu2204-base"
UTC = timezone.utc


@pytest.fixture
def at(emulator, emulator_clock):
    """at(datetime): the emptied world's clock set to that instant."""
    def set_clock(when: datetime) -> None:
        emulator_clock.set(when)
    return set_clock


def create(tpu_client, node_id, accelerator_type="v4-8", spot=False, parent=PARENT, **fields):
    return tpu_client.create_node(parent=parent, node_id=node_id, node=tpu_v2.Node(
        accelerator_type=accelerator_type, runtime_version=RUNTIME,
        scheduling_config=tpu_v2.SchedulingConfig(spot=spot), **fields))


def rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def cost(text: str) -> Decimal:
    return sum((Decimal(r["cost"]) for r in rows(text)), Decimal(0))


def v4_row(start: str, end: str, chip_seconds: str, chip_hours: str, cost: str, month: str, labels: str,
           exported: str, sku: str = "Tpu-v4 Pod Chip running in Americas") -> dict:
    return {"service.description": "Cloud TPU", "sku.description": sku, "usage_start_time": start,
            "usage_end_time": end, "project.id": "p", "location.region": "us-central2", "location.zone": ZONE,
            "labels": labels, "usage.amount": chip_seconds, "usage.unit": "seconds",
            "usage.amount_in_pricing_units": chip_hours, "usage.pricing_unit": "hour", "cost": cost,
            "currency": "USD", "invoice.month": month, "cost_type": "regular", "credits": "[]",
            "export_time": exported}


def test_created_stopped_started_deleted_node_bills_its_ready_seconds_only(tpu_client, emulator, emulator_clock, at):
    at(datetime(2026, 3, 10, 10, 0, tzinfo=UTC))
    emulator.configure(boot_seconds=120, stop_seconds=30, start_seconds=60)
    create(tpu_client, "alice-v4", labels={"tpuctl-owner": "alice", "job": "bert"})
    name = f"{PARENT}/nodes/alice-v4"
    emulator_clock.advance(32 * 60)                        # READY 10:02:00 .. 10:32:00
    tpu_client.stop_node(request={"name": name})
    emulator_clock.advance(18 * 60)                        # STOPPING 30 s, STOPPED until 10:50
    tpu_client.start_node(request={"name": name})
    emulator_clock.advance(25 * 60)                        # STARTING 60 s, READY 10:51:00 .. 11:15:00
    tpu_client.delete_node(name=name)
    emulator_clock.advance(3600)                           # nothing accrues once deleted

    labels = '[{"key": "job", "value": "bert"}, {"key": "tpuctl-owner", "value": "alice"}]'
    export = emulator.billing_export("2026-03")
    assert rows(export) == [
        # 1800 s + 540 s READY in the 10:00 window, 4 chips, $3.22 per chip-hour
        v4_row("2026-03-10 10:00:00", "2026-03-10 11:00:00", "9360", "2.6", "8.372", "202603", labels,
               "2026-03-10 12:15:00"),
        v4_row("2026-03-10 11:00:00", "2026-03-10 12:00:00", "3600", "1", "3.22", "202603", labels,
               "2026-03-10 12:15:00"),
    ]
    assert list(rows(export)[0]) == list(COLUMNS)
    assert cost(export) == Decimal("11.592")

    [truth] = emulator.usage()
    assert [(i["start"], i["end"], i["endedBy"], i["chipSeconds"]) for i in truth["intervals"]] == [
        (datetime(2026, 3, 10, 10, 2, tzinfo=UTC), datetime(2026, 3, 10, 10, 32, tzinfo=UTC), "STOPPING",
         Decimal(7200)),
        (datetime(2026, 3, 10, 10, 51, tzinfo=UTC), datetime(2026, 3, 10, 11, 15, tzinfo=UTC), "DELETING",
         Decimal(5760)),
    ]
    assert [s["state"] for s in truth["states"]] == ["CREATING", "READY", "STOPPING", "STOPPED", "STARTING",
                                                    "READY", "DELETING", "DELETED"]
    assert (truth["chips"], truth["zone"], truth["spot"]) == (4, ZONE, False)
    assert truth["labels"] == {"tpuctl-owner": "alice", "job": "bert"}


def test_spot_node_preempted_within_its_first_minute_costs_nothing(tpu_client, emulator, emulator_clock, at):
    at(datetime(2026, 3, 10, 10, 0, tzinfo=UTC))
    create(tpu_client, "lucky", spot=True)
    create(tpu_client, "unlucky", spot=True)
    emulator_clock.advance(59)
    emulator.preempt(ZONE, "lucky")
    emulator_clock.advance(2)
    emulator.preempt(ZONE, "unlucky")

    [billed] = rows(emulator.billing_export("2026-03"))
    assert billed["labels"] == "[]"
    assert billed["sku.description"] == "Preemptible Tpu-v4 Pod Chip running in Americas"
    assert (billed["usage.amount"], billed["cost"]) == ("244", "0.062356")  # 4 chips x 61 s x $0.92 / 3600
    charged = {n["node"].rsplit("/", 1)[1]: [(i["charged"], i["chipSeconds"]) for i in n["intervals"]]
               for n in emulator.usage()}
    assert charged == {"lucky": [(False, Decimal(236))], "unlucky": [(True, Decimal(244))]}


def test_usage_is_split_per_hour_window_and_priced_per_generation(tpu_client, emulator, emulator_clock, at):
    at(datetime(2026, 3, 10, 9, 30, tzinfo=UTC))
    create(tpu_client, "lite", "v5litepod-4", spot=True, parent="projects/p/locations/us-west4-a")
    create(tpu_client, "trillium", "v6e-4", parent="projects/p/locations/us-east1-d", labels={"team": "nlp"})
    emulator_clock.advance(2 * 3600 + 45 * 60 + 0.5)       # both READY 09:30:00 .. 12:15:00.5

    export = rows(emulator.billing_export("2026-03"))
    lite = [(r["usage_start_time"], r["usage.amount"], r["cost"]) for r in export if r["location.zone"] == "us-west4-a"]
    assert lite == [("2026-03-10 09:00:00", "7200", "0.9384"),          # 4 chips x 0.5 h x $0.4692
                    ("2026-03-10 10:00:00", "14400", "1.8768"),
                    ("2026-03-10 11:00:00", "14400", "1.8768"),
                    ("2026-03-10 12:00:00", "3602", "0.469461")]       # 900.5 s, still running: cut at now
    first = {r["location.zone"]: r for r in export if r["usage_start_time"] == "2026-03-10 09:00:00"}
    assert first["us-west4-a"]["service.description"] == "Compute Engine"
    assert first["us-west4-a"]["sku.description"] == "TpuV5e attached to Spot Preemptible VMs running in Las Vegas"
    assert first["us-east1-d"]["sku.description"] == "TpuV6e running in South Carolina"
    assert first["us-east1-d"]["cost"] == "5.4"                           # 4 chips x 0.5 h x $2.70
    assert json.loads(first["us-east1-d"]["labels"]) == [{"key": "team", "value": "nlp"}]
    running = [n for n in emulator.usage() if n["node"].endswith("/lite")][0]["intervals"]
    assert running[0]["running"] is True and running[0]["chipSeconds"] == Decimal("39602")


def test_month_boundary_follows_the_pacific_time_invoice_month(tpu_client, emulator, emulator_clock, at):
    # January ends at 2026-02-01 08:00 UTC (midnight Pacific, UTC-8).
    at(datetime(2026, 2, 1, 7, 30, tzinfo=UTC))
    create(tpu_client, "night-owl")
    emulator_clock.advance(3600)
    tpu_client.delete_node(name=f"{PARENT}/nodes/night-owl")

    january, february = emulator.billing_export("2026-01"), emulator.billing_export("2026-02")
    assert [(r["usage_start_time"], r["invoice.month"], r["usage.amount"], r["cost"]) for r in rows(january)] == [
        ("2026-02-01 07:00:00", "202601", "7200", "6.44")]
    assert [(r["usage_start_time"], r["invoice.month"], r["usage.amount"], r["cost"]) for r in rows(february)] == [
        ("2026-02-01 08:00:00", "202602", "7200", "6.44")]
    assert len(rows(emulator.billing_export())) == 2


def test_a_node_created_again_under_its_name_is_a_new_incarnation(tpu_client, emulator, emulator_clock, at):
    at(datetime(2026, 3, 10, 10, 0, tzinfo=UTC))
    create(tpu_client, "again", labels={"run": "one"})
    emulator_clock.advance(600)
    tpu_client.delete_node(name=f"{PARENT}/nodes/again")
    create(tpu_client, "again", labels={"run": "two"})
    emulator_clock.advance(300)
    tpu_client.delete_node(name=f"{PARENT}/nodes/again")

    assert [(n["incarnation"], n["labels"], n["intervals"][0]["chipSeconds"]) for n in emulator.usage()] == [
        (1, {"run": "one"}, Decimal(2400)), (2, {"run": "two"}, Decimal(1200))]
    assert [(r["labels"], r["usage.amount"]) for r in rows(emulator.billing_export("2026-03"))] == [
        ('[{"key": "run", "value": "one"}]', "2400"), ('[{"key": "run", "value": "two"}]', "1200")]


def test_nodes_made_by_a_queued_resource_are_billed_the_same(tpu_client, emulator, emulator_clock, at):
    at(datetime(2026, 3, 10, 10, 0, tzinfo=UTC))
    spec = tpu_v2.QueuedResource.Tpu.NodeSpec(parent=PARENT, node_id="queued-node", node=tpu_v2.Node(
        accelerator_type="v4-8", runtime_version=RUNTIME, labels={"tpuctl-owner": "bob"}))
    tpu_client.create_queued_resource(parent=PARENT, queued_resource_id="q", queued_resource=tpu_v2.QueuedResource(
        tpu=tpu_v2.QueuedResource.Tpu(node_spec=[spec])))
    emulator_clock.advance(1800)
    tpu_client.delete_queued_resource(request={"name": f"{PARENT}/queuedResources/q", "force": True})

    [truth] = emulator.usage()
    assert truth["queuedResource"] == f"{PARENT}/queuedResources/q"
    assert truth["intervals"][0]["chipSeconds"] == Decimal(7200)
    [row] = rows(emulator.billing_export("2026-03"))
    assert (row["usage.amount"], row["cost"], row["labels"]) == (
        "7200", "6.44", '[{"key": "tpuctl-owner", "value": "bob"}]')


def test_usage_and_export_over_http_and_reset_clears_them(tpu_client, emulator, emulator_raw, emulator_clock, at):
    at(datetime(2026, 3, 10, 10, 0, 0, 250000, tzinfo=UTC))
    create(tpu_client, "wire")
    emulator_clock.advance(90)

    status, body = emulator_raw("GET", "/emulator/v1/usage")
    assert status == 200
    assert body["nodes"][0]["intervals"] == [{
        "start": "2026-03-10T10:00:00.250000Z", "end": "2026-03-10T10:01:30.250000Z", "running": True,
        "endedBy": None, "charged": True, "chipSeconds": "360"}]
    with urllib.request.urlopen(emulator.url + "/emulator/v1/billing-export?month=2026-03") as reply:
        assert reply.headers["Content-Type"] == "text/csv; charset=UTF-8"
        assert [r["usage.amount"] for r in rows(reply.read().decode())] == ["360"]
    assert emulator_raw("GET", "/emulator/v1/billing-export?month=March")[0] == 400

    emulator.reset()
    assert emulator.usage() == []
    assert rows(emulator.billing_export("2026-03")) == []


def test_history_survives_in_the_state_file(tmp_path, tpu_client_for):
    path = tmp_path / "world.json"
    start = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
    with EmulatorServer(path, clock=ManualClock(start), settings=WorldSettings()) as first:
        create(tpu_client_for(first.url), "kept", labels={"tpuctl-owner": "carol"})
        first.advance_clock(3600)
        tpu_client_for(first.url).stop_node(request={"name": f"{PARENT}/nodes/kept"})
    later = ManualClock(start + timedelta(days=2))   # another invocation, days later, on the same world
    with EmulatorServer(path, clock=later) as second:
        export = second.billing_export("2026-03")
        assert [(r["usage_start_time"], r["usage.amount"], r["cost"]) for r in rows(export)] == [
            ("2026-03-10 10:00:00", "14400", "12.88")]
        assert cost(export) == Decimal("12.88")
        [truth] = second.usage()
        assert truth["labels"] == {"tpuctl-owner": "carol"}
        assert [s["state"] for s in truth["states"]] == ["CREATING", "READY", "STOPPING", "STOPPED"]
        second.reset()
    assert json.loads(path.read_text())["history"] == []


def test_export_adds_up_to_the_ground_truth_to_the_microsecond(tpu_client, emulator, emulator_clock, at):
    at(datetime(2026, 3, 31, 22, 59, 59, 999999, tzinfo=UTC))
    emulator.configure(boot_seconds=0.25, stop_seconds=1.5, start_seconds=0.75)
    create(tpu_client, "odd")                                # 4 chips
    for pause in (1234.567891, 0.000001, 3599.999999, 7261.5):
        emulator_clock.advance(pause)
        node = tpu_client.get_node(name=f"{PARENT}/nodes/odd")
        if node.state == tpu_v2.Node.State.READY:
            tpu_client.stop_node(request={"name": node.name})
        elif node.state == tpu_v2.Node.State.STOPPED:
            tpu_client.start_node(request={"name": node.name})
    tpu_client.delete_node(name=f"{PARENT}/nodes/odd")

    [truth] = emulator.usage()
    ran = sum(i["chipSeconds"] for i in truth["intervals"] if i["charged"])
    export = rows(emulator.billing_export())
    assert sum(Decimal(r["usage.amount"]) for r in export) == ran == Decimal("33980.271564")  # 4 x (1234.317891 + 7260.75) s
    assert all(r["usage_start_time"].endswith(":00:00") for r in export)
    assert sorted({r["invoice.month"] for r in export}) == ["202603"]  # 23:00 UTC on March 31 is still March in Pacific
