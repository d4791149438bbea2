"""Queued resources: waiting for capacity, provisioning, expiry, suspension, deletion, idempotency."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc
from google.cloud import tpu_v2
from google.protobuf import duration_pb2

ZONE = "us-central2-b"
PARENT = f"projects/p/locations/{ZONE}"
QR = tpu_v2.QueuedResource
QRState = tpu_v2.QueuedResourceState.State
Initiator = tpu_v2.QueuedResourceState.StateInitiator
NodeState = tpu_v2.Node.State


def request(node_id="n1", accelerator_type="v4-8", spot=False, count=None, prefix=None, **policy) -> QR:
    spec = QR.Tpu.NodeSpec(parent=PARENT, node=tpu_v2.Node(
        accelerator_type=accelerator_type, runtime_version="tpu-ubuntu2204-base", labels={"tpuctl-owner": "bob"}))
    if count:
        spec.multislice_params = QR.Tpu.NodeSpec.MultisliceParams(node_count=count, node_id_prefix=prefix)
    else:
        spec.node_id = node_id
    return QR(tpu=QR.Tpu(node_spec=[spec]), spot=QR.Spot() if spot else None,
              queueing_policy=QR.QueueingPolicy(**policy) if policy else None)


def queue(tpu_client, qr_id, **kwargs) -> QR:
    return tpu_client.create_queued_resource(
        parent=PARENT, queued_resource_id=qr_id, queued_resource=request(**kwargs)).result()


def state_of(tpu_client, qr_id) -> QRState:
    return tpu_client.get_queued_resource(name=f"{PARENT}/queuedResources/{qr_id}").state.state


def nodes(tpu_client) -> dict[str, tpu_v2.Node]:
    return {n.name.rsplit("/", 1)[1]: n for n in tpu_client.list_nodes(parent=PARENT)}


def test_a_request_with_capacity_becomes_active_with_its_nodes(tpu_client, emulator, emulator_clock, emulator_raw):
    emulator.configure(boot_seconds=30)
    made = queue(tpu_client, "qr1", spot=True)
    assert made.state.state == QRState.PROVISIONING
    node = nodes(tpu_client)["n1"]
    assert node.state == NodeState.CREATING and node.queued_resource == f"{PARENT}/queuedResources/qr1"
    assert node.labels == {"tpuctl-owner": "bob"} and node.scheduling_config.spot
    emulator_clock.advance(30)
    assert state_of(tpu_client, "qr1") == QRState.ACTIVE
    _, body = emulator_raw("GET", f"/v2/{PARENT}/queuedResources/qr1")
    assert body["state"] == {"state": "ACTIVE", "activeData": {}} and body["spot"] == {}
    assert body["tpu"]["nodeSpec"][0]["node"]["acceleratorType"] == "v4-8"
    assert [q.name for q in tpu_client.list_queued_resources(parent="projects/p/locations/-")] == [
        f"{PARENT}/queuedResources/qr1"]


def test_requests_wait_for_capacity_first_come_first_served(tpu_client, emulator):
    emulator.set_capacity(ZONE, "v4", 8)
    queue(tpu_client, "first", node_id="a", accelerator_type="v4-16")   # 8 chips: all of it
    assert queue(tpu_client, "second", node_id="b").state.state == QRState.WAITING_FOR_RESOURCES
    assert queue(tpu_client, "third", node_id="c").state.state == QRState.WAITING_FOR_RESOURCES
    with pytest.raises(gexc.ResourceExhausted):  # a direct create meets the same full zone
        tpu_client.create_node(parent=PARENT, node_id="d", node=tpu_v2.Node(
            accelerator_type="v4-8", runtime_version="tpu-ubuntu2204-base")).result()

    tpu_client.delete_queued_resource(request={"name": f"{PARENT}/queuedResources/first", "force": True}).result()
    assert state_of(tpu_client, "second") == QRState.ACTIVE and state_of(tpu_client, "third") == QRState.ACTIVE
    assert sorted(nodes(tpu_client)) == ["b", "c"]


def test_a_big_request_blocks_later_ones_in_its_pool(tpu_client, emulator):
    emulator.set_capacity(ZONE, "v4", 4)
    queue(tpu_client, "running", node_id="a")
    queue(tpu_client, "big", node_id="b", accelerator_type="v4-16")
    queue(tpu_client, "small", node_id="c")
    tpu_client.delete_queued_resource(request={"name": f"{PARENT}/queuedResources/running", "force": True}).result()
    assert state_of(tpu_client, "big") == QRState.WAITING_FOR_RESOURCES  # 8 chips never fit in 4
    assert state_of(tpu_client, "small") == QRState.WAITING_FOR_RESOURCES


def test_valid_until_expiry_fails_a_waiting_request(tpu_client, emulator, emulator_clock, emulator_raw):
    emulator.set_capacity(ZONE, "v4", 0)
    queue(tpu_client, "hopeful", valid_until_duration=duration_pb2.Duration(seconds=600))
    emulator_clock.advance(599)
    assert state_of(tpu_client, "hopeful") == QRState.WAITING_FOR_RESOURCES
    emulator_clock.advance(1)
    failed = tpu_client.get_queued_resource(name=f"{PARENT}/queuedResources/hopeful")
    assert failed.state.state == QRState.FAILED
    assert failed.state.failed_data.error.code == 4 and "valid-until" in failed.state.failed_data.error.message
    emulator.set_capacity(ZONE, "v4", None)
    assert state_of(tpu_client, "hopeful") == QRState.FAILED and nodes(tpu_client) == {}
    tpu_client.delete_queued_resource(name=f"{PARENT}/queuedResources/hopeful").result()  # no nodes: no force needed


def test_valid_after_keeps_a_request_accepted(tpu_client, emulator, emulator_clock):
    queue(tpu_client, "later", valid_after_duration=duration_pb2.Duration(seconds=3600))
    assert state_of(tpu_client, "later") == QRState.ACCEPTED and nodes(tpu_client) == {}
    emulator_clock.advance(3600)
    assert state_of(tpu_client, "later") == QRState.ACTIVE and list(nodes(tpu_client)) == ["n1"]


def test_preempted_spot_node_suspends_its_request_and_reset_requeues_it(tpu_client, emulator, emulator_clock):
    emulator.configure(delete_seconds=60)
    queue(tpu_client, "cheap", spot=True)
    emulator.preempt(ZONE, "n1")
    suspending = tpu_client.get_queued_resource(name=f"{PARENT}/queuedResources/cheap").state
    assert suspending.state == QRState.SUSPENDING and suspending.state_initiator == Initiator.SERVICE
    assert nodes(tpu_client)["n1"].state == NodeState.PREEMPTED
    emulator_clock.advance(60)
    assert state_of(tpu_client, "cheap") == QRState.SUSPENDED and nodes(tpu_client) == {}

    tpu_client.reset_queued_resource(name=f"{PARENT}/queuedResources/cheap").result()
    assert state_of(tpu_client, "cheap") == QRState.ACTIVE and nodes(tpu_client)["n1"].state == NodeState.READY
    with pytest.raises(gexc.BadRequest, match="Only a SUSPENDED or FAILED"):
        tpu_client.reset_queued_resource(name=f"{PARENT}/queuedResources/cheap")


def test_delete_needs_force_while_nodes_exist(tpu_client, emulator, emulator_clock):
    queue(tpu_client, "busy")
    with pytest.raises(gexc.BadRequest, match="force") as info:
        tpu_client.delete_queued_resource(name=f"{PARENT}/queuedResources/busy")
    assert info.value.response.json()["error"]["status"] == "FAILED_PRECONDITION"
    emulator.configure(delete_seconds=30)
    op = tpu_client.delete_queued_resource(request={"name": f"{PARENT}/queuedResources/busy", "force": True})
    assert state_of(tpu_client, "busy") == QRState.DELETING and nodes(tpu_client)["n1"].state == NodeState.DELETING
    emulator_clock.advance(30)
    op.result()
    assert list(tpu_client.list_queued_resources(parent=PARENT)) == [] and nodes(tpu_client) == {}


def test_deleting_a_node_directly_suspends_its_request(tpu_client):
    queue(tpu_client, "mine")
    tpu_client.delete_node(name=f"{PARENT}/nodes/n1").result()
    state = tpu_client.get_queued_resource(name=f"{PARENT}/queuedResources/mine").state
    assert state.state == QRState.SUSPENDED and state.state_initiator == Initiator.USER


def test_request_id_makes_a_retried_create_idempotent(tpu_client, emulator):
    emulator.inject_faults(status=503, method="POST", path_contains="queuedResources", after_apply=True)
    kwargs = {"parent": PARENT, "queued_resource_id": "once", "queued_resource": request(), "request_id": "req-123"}
    with pytest.raises(gexc.ServiceUnavailable):
        tpu_client.create_queued_resource(request=kwargs)
    retried = tpu_client.create_queued_resource(request=kwargs)
    assert retried.result().name == f"{PARENT}/queuedResources/once"
    assert len(list(tpu_client.list_queued_resources(parent=PARENT))) == 1
    with pytest.raises(gexc.Conflict):
        tpu_client.create_queued_resource(request={**kwargs, "request_id": "req-456"})


def test_multislice_request_makes_prefixed_nodes(tpu_client, emulator_raw):
    queue(tpu_client, "slices", count=3, prefix="np")
    made = nodes(tpu_client)
    assert sorted(made) == ["np-0", "np-1", "np-2"]
    assert emulator_raw("GET", f"/v2/{PARENT}/nodes/np-1")[1]["multisliceNode"] is True
    queue(tpu_client, "defaulted", count=2)
    assert {"defaulted-0", "defaulted-1"} <= set(nodes(tpu_client))


@pytest.mark.parametrize("body, message", [
    ({}, "node_spec"),
    ({"tpu": {"nodeSpec": [{"node": {"acceleratorType": "v4-8", "runtimeVersion": "tpu-ubuntu2204-base"}}]}},
     "exactly one of node_id"),
    ({"tpu": {"nodeSpec": [{"nodeId": "x", "node": {
        "acceleratorType": "v9-8", "runtimeVersion": "tpu-ubuntu2204-base"}}]}},
     "not available"),
    ({"tpu": {"nodeSpec": [{"multisliceParams": {"nodeCount": 1},
                            "node": {"acceleratorType": "v4-8", "runtimeVersion": "tpu-ubuntu2204-base"}}]}},
     "greater than 1"),
    ({"spot": {}, "guaranteed": {}, "tpu": {"nodeSpec": [{"nodeId": "x", "node": {
        "acceleratorType": "v4-8", "runtimeVersion": "tpu-ubuntu2204-base"}}]}}, "one tier"),
])
def test_invalid_requests(emulator_raw, body, message):
    status, reply = emulator_raw("POST", f"/v2/{PARENT}/queuedResources?queuedResourceId=bad", body)
    assert status == 400 and message in reply["error"]["message"]
    assert emulator_raw("GET", f"/v2/{PARENT}/queuedResources")[1]["queuedResources"] == []


def test_guaranteed_tier_and_time_window(tpu_client, emulator_raw):
    status, reply = emulator_raw("POST", f"/v2/{PARENT}/queuedResources?queuedResourceId=g", {
        "guaranteed": {"minDuration": "3600s"},
        "queueingPolicy": {"validInterval": {"startTime": "2020-01-01T00:00:00Z", "endTime": "2999-01-01T00:00:00Z"}},
        "tpu": {"nodeSpec": [{"parent": PARENT, "nodeId": "g1", "node": {
            "acceleratorType": "v4-8", "runtimeVersion": "tpu-ubuntu2204-base"}}]}})
    assert status == 200 and reply["response"]["guaranteed"] == {"minDuration": "3600s"}
    assert state_of(tpu_client, "g") == QRState.ACTIVE
