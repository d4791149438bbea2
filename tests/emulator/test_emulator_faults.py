"""Faults, capacity, preemption, hooks and the control surface, through the real client."""

from __future__ import annotations

import time

import pytest
from google.api_core import exceptions as gexc
from google.cloud import tpu_v2

from tpuctl.emulator.exceptions import FailedPrecondition
from tpuctl.emulator.models import WorldSettings, parse_capacity
from tpuctl.emulator.server import EmulatorServer

ZONE = "us-central2-b"
PARENT = f"projects/p/locations/{ZONE}"
State = tpu_v2.Node.State


def create(tpu_client, node_id, accelerator_type="v4-8", spot=False, **fields):
    return tpu_client.create_node(parent=PARENT, node_id=node_id, node=tpu_v2.Node(
        accelerator_type=accelerator_type, runtime_version="tpu-ubuntu2204-base",
        scheduling_config=tpu_v2.SchedulingConfig(spot=spot), **fields))


def node_ids(tpu_client) -> list[str]:
    return [n.name.rsplit("/", 1)[1] for n in tpu_client.list_nodes(parent=PARENT)]


# ----- faults -----

@pytest.mark.parametrize("status, error", [(503, gexc.ServiceUnavailable), (429, gexc.TooManyRequests)])
def test_injected_fault_is_not_retried_by_the_client_and_not_applied(tpu_client, emulator, status, error):
    emulator.inject_faults(status=status, count=1, method="POST", path_contains="/nodes")
    before = emulator.request_count
    with pytest.raises(error) as info:
        create(tpu_client, "n1")
    assert emulator.request_count - before == 1  # tpu_v2 node methods have no default retry
    assert info.value.response.json()["error"]["code"] == status
    assert node_ids(tpu_client) == []
    create(tpu_client, "n1").result()  # the fault was used up
    assert node_ids(tpu_client) == ["n1"]


def test_fault_after_apply_loses_only_the_reply(tpu_client, emulator):
    emulator.inject_faults(status=503, count=1, method="POST", path_contains="nodeId=n1", after_apply=True)
    with pytest.raises(gexc.ServiceUnavailable):
        create(tpu_client, "n1")
    assert node_ids(tpu_client) == ["n1"]  # applied: a blind retry now meets 409
    with pytest.raises(gexc.Conflict):
        create(tpu_client, "n1")


def test_operation_polling_retries_503_but_not_429(tpu_client, emulator, emulator_clock):
    emulator.configure(boot_seconds=10)
    op = create(tpu_client, "n1")
    emulator_clock.advance(10)
    emulator.inject_faults(status=503, count=1, method="GET", path_contains="/operations/")
    assert op.result().state == State.READY  # api_core's operations client retries UNAVAILABLE
    op = create(tpu_client, "n2")
    emulator.inject_faults(status=429, count=1, method="GET", path_contains="/operations/")
    with pytest.raises(gexc.TooManyRequests):
        op.result()


def test_fail_rate_is_seeded_and_mixes_503_and_429(tpu_client, emulator):
    def outcomes():
        seen = []
        for _ in range(40):
            try:
                tpu_client.get_location(request={"name": PARENT})
                seen.append(200)
            except gexc.GoogleAPICallError as exc:
                seen.append(exc.code)
        return seen

    emulator.configure(fail_rate=0.5, seed=7)
    first = outcomes()
    emulator.reset(WorldSettings(fail_rate=0.5, seed=7))
    assert outcomes() == first
    assert 8 < first.count(200) < 32 and {503, 429} <= set(first)


def test_fail_operations_ends_creates_in_error(tpu_client, emulator):
    emulator.configure(fail_operations=1.0)
    with pytest.raises(gexc.InternalServerError, match="emulated failure"):
        create(tpu_client, "n1").result()
    assert node_ids(tpu_client) == []


def test_latency(tpu_client, emulator):
    emulator.configure(latency_ms=60)
    start = time.perf_counter()
    tpu_client.get_location(request={"name": PARENT})
    assert time.perf_counter() - start >= 0.06


# ----- capacity -----

def test_capacity_exhaustion_fails_the_operation_and_leaves_no_node(tpu_client, emulator):
    emulator.set_capacity(ZONE, "v4", 8)  # two v4-8
    create(tpu_client, "a").result()
    create(tpu_client, "b").result()
    with pytest.raises(gexc.ResourceExhausted, match='no more capacity in the zone "us-central2-b"'):
        create(tpu_client, "c").result()
    assert node_ids(tpu_client) == ["a", "b"]

    tpu_client.stop_node(request={"name": f"{PARENT}/nodes/a"}).result()  # STOPPED frees its chips
    create(tpu_client, "c").result()
    with pytest.raises(gexc.ResourceExhausted):
        tpu_client.start_node(request={"name": f"{PARENT}/nodes/a"}).result()
    assert tpu_client.get_node(name=f"{PARENT}/nodes/a").state == State.STOPPED

    tpu_client.delete_node(name=f"{PARENT}/nodes/b").result()
    tpu_client.start_node(request={"name": f"{PARENT}/nodes/a"}).result()
    emulator.set_capacity(ZONE, "v4-8", None)  # a type name means its generation; None = unlimited
    create(tpu_client, "d", accelerator_type="v4-32").result()


def test_capacity_is_per_zone_and_generation(tpu_client, emulator):
    emulator.set_capacity(ZONE, "v4", 4)
    emulator.set_capacity("europe-west4-a", "v5e", 0)
    assert emulator.settings.capacity == {ZONE: {"v4": 4}, "europe-west4-a": {"v5e": 0}}
    create(tpu_client, "a").result()
    tpu_client.create_node(parent="projects/p/locations/europe-west4-a", node_id="v6", node=tpu_v2.Node(
        accelerator_type="v6e-8", runtime_version="v2-alpha-tpuv6e")).result()


# ----- preemption -----

def test_explicit_preemption_of_a_spot_node(tpu_client, emulator):
    create(tpu_client, "cheap", spot=True).result()
    create(tpu_client, "dear").result()
    emulator.set_capacity(ZONE, "v4", 8)
    emulator.preempt(ZONE, "cheap")
    assert tpu_client.get_node(name=f"{PARENT}/nodes/cheap").state == State.PREEMPTED
    create(tpu_client, "next").result()  # a PREEMPTED node holds no capacity
    with pytest.raises(FailedPrecondition):
        emulator.preempt(ZONE, "dear")
    tpu_client.delete_node(name=f"{PARENT}/nodes/cheap").result()
    assert node_ids(tpu_client) == ["dear", "next"]


def test_preemption_by_rate_is_seeded(tpu_client, emulator, emulator_clock):
    def preempted_after_an_hour() -> list[str]:
        for i in range(10):
            create(tpu_client, f"s{i}", spot=True).result()
        create(tpu_client, "on-demand").result()
        emulator_clock.advance(3600)
        return [n.name for n in tpu_client.list_nodes(parent=PARENT) if n.state == State.PREEMPTED]

    emulator.configure(spot_preempt_rate_per_hour=1.0, seed=3)
    first = preempted_after_an_hour()
    emulator.reset(WorldSettings(spot_preempt_rate_per_hour=1.0, seed=3))
    assert preempted_after_an_hour() == first
    assert 2 <= len(first) <= 9 and not any("on-demand" in name for name in first)


# ----- hooks -----

def test_hooks_see_nodes_become_ready_and_go(emulator_clock, tpu_client_for):
    seen = []
    server = EmulatorServer(clock=emulator_clock, settings={"boot_seconds": 5}, tick_seconds=0.01,
                            on_node_ready=lambda n: seen.append(("ready", n["name"], n["state"])),
                            on_node_gone=lambda n: seen.append(("gone", n["name"], n["state"])))
    with server:
        tpu_client = tpu_client_for(server.url)
        create(tpu_client, "h")
        assert seen == []
        emulator_clock.advance(5)
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:  # the ticker notices without a request
            time.sleep(0.01)
        assert seen == [("ready", f"{PARENT}/nodes/h", "READY")]
        tpu_client.stop_node(request={"name": f"{PARENT}/nodes/h"}).result()
    assert seen[1:] == [("gone", f"{PARENT}/nodes/h", "STOPPING")]


# ----- the control surface -----

def test_control_surface(tpu_client, emulator, emulator_raw):
    assert emulator_raw("POST", "/emulator/v1/configure", {"boot_seconds": 20})[1]["boot_seconds"] == 20
    assert emulator_raw("POST", "/emulator/v1/configure", {"bogus": 1})[0] == 400
    assert emulator_raw("POST", "/emulator/v1/capacity", {"zone": ZONE, "generation": "v4", "chips": 4})[0] == 200
    assert emulator.settings.capacity == {ZONE: {"v4": 4}}

    op = create(tpu_client, "n1", spot=True)
    before = emulator_raw("GET", "/emulator/v1/health")[1]["time"]
    assert emulator_raw("POST", "/emulator/v1/clock/advance", {"seconds": 20})[0] == 200
    assert emulator_raw("GET", "/emulator/v1/health")[1]["time"] > before
    assert op.result().state == State.READY
    status, body = emulator_raw("POST", "/emulator/v1/preempt", {"zone": ZONE, "node": "n1"})
    assert status == 200 and body["nodes"][0]["state"] == "PREEMPTED"

    assert emulator_raw("POST", "/emulator/v1/faults", {"status": 503, "count": 1, "method": "GET"})[0] == 200
    with pytest.raises(gexc.ServiceUnavailable):
        tpu_client.get_node(name=f"{PARENT}/nodes/n1")
    assert emulator_raw("POST", "/emulator/v1/reset", {"latency_ms": 1})[1]["latency_ms"] == 1
    assert node_ids(tpu_client) == []
    assert emulator_raw("GET", "/emulator/v1/nothing")[0] == 404


def test_clock_control_needs_a_manual_clock(http_call):
    with EmulatorServer() as server:
        status, body = http_call("POST", server.url + "/emulator/v1/clock/advance", {"seconds": 5})
    assert status == 400 and "real time" in body["error"]["message"]


def test_capacity_flags():
    assert parse_capacity(["us-central2-b:v4=32", "us-central2-b:v5e=8", "europe-west4-b:v5p=0"]) == {
        "us-central2-b": {"v4": 32, "v5e": 8}, "europe-west4-b": {"v5p": 0}}
    with pytest.raises(ValueError, match="ZONE:GENERATION=CHIPS"):
        parse_capacity(["us-central2-b=v4"])
