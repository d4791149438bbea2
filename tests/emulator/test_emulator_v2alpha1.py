"""v2alpha1 over REST, checked field by field against the v2alpha1 messages gcloud ships."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PARENT = "projects/p/locations/us-central2-b"
NODE = {"acceleratorType": "v4-8", "runtimeVersion": "tpu-ubuntu2204-base", "autocheckpointEnabled": True,
        "bootDiskConfig": {"diskSizeGb": "200"}}


@pytest.fixture(scope="module")
def alpha_messages():
    """gcloud's generated v2alpha1 messages (what its discovery document defines), or skip."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        pytest.skip("gcloud is not installed")
    root = subprocess.run([gcloud, "info", "--format=value(installation.sdk_root)"], capture_output=True, text=True,
                          check=True).stdout.strip()
    sys.path[:0] = [str(Path(root) / "lib"), str(Path(root) / "lib" / "third_party")]
    try:
        from apitools.base.py import encoding
        from googlecloudsdk.generated_clients.apis.tpu.v2alpha1 import tpu_v2alpha1_messages as messages
    finally:
        del sys.path[:2]
    return encoding, messages


def unknown_fields(alpha_messages, message_name: str, data: dict) -> list[str]:
    """Every field of `data` (nested too) that the v2alpha1 message does not define."""
    encoding, messages = alpha_messages
    import json

    found = []

    def walk(message, prefix: str) -> None:
        found.extend(prefix + name for name in message.all_unrecognized_fields())
        for field in message.all_fields():
            values = getattr(message, field.name)
            for value in values if field.repeated else [values]:
                if hasattr(value, "all_unrecognized_fields"):
                    walk(value, f"{prefix}{field.name}.")

    walk(encoding.JsonToMessage(getattr(messages, message_name), json.dumps(data)), "")
    return found


@pytest.mark.slow
def test_alpha_nodes_and_queued_resources_use_only_v2alpha1_fields(alpha_messages, emulator_raw):
    status, op = emulator_raw("POST", f"/v2alpha1/{PARENT}/nodes?nodeId=n1", NODE)
    assert status == 200 and op["response"]["@type"] == "type.googleapis.com/google.cloud.tpu.v2alpha1.Node"
    assert op["metadata"]["apiVersion"] == "v2alpha1"
    node = emulator_raw("GET", f"/v2alpha1/{PARENT}/nodes/n1")[1]
    assert (node["autocheckpointEnabled"], node["bootDiskConfig"]) == (True, {"diskSizeGb": "200"})
    assert unknown_fields(alpha_messages, "Node", node) == []

    body = {"tpu": {"nodeSpec": [{"parent": PARENT, "multiNodeParams": {"nodeCount": 2, "nodeIdPrefix": "g"},
                                  "node": NODE}]},
            "guaranteed": {"minDuration": "3600s"}, "reservationName": f"{PARENT}/reservations/r1",
            "queueingPolicy": {"validAfterDuration": "600s"}}
    assert emulator_raw("POST", f"/v2alpha1/{PARENT}/queuedResources?queuedResourceId=q1", body)[0] == 200
    queued = emulator_raw("GET", f"/v2alpha1/{PARENT}/queuedResources/q1")[1]
    assert (queued["guaranteed"], queued["reservationName"]) == ({"minDuration": "3600s"}, f"{PARENT}/reservations/r1")
    assert list(queued["queueingPolicy"]) == ["validAfterTime"]
    assert unknown_fields(alpha_messages, "QueuedResource", queued) == []

    listed = emulator_raw("GET", f"/v2alpha1/{PARENT}/operations")[1]
    assert unknown_fields(alpha_messages, "ListOperationsResponse", listed) == []


def test_v2_replies_leave_out_what_only_v2alpha1_has(emulator_raw):
    emulator_raw("POST", f"/v2alpha1/{PARENT}/nodes?nodeId=n1", NODE)
    body = {"tpu": {"nodeSpec": [{"parent": PARENT, "nodeId": "b1", "node": NODE}]}, "bestEffort": {}}
    assert emulator_raw("POST", f"/v2alpha1/{PARENT}/queuedResources?queuedResourceId=q1", body)[0] == 200
    node = emulator_raw("GET", f"/v2/{PARENT}/nodes/n1")[1]
    assert "autocheckpointEnabled" not in node and "bootDiskConfig" not in node and node["apiVersion"] == "V2_ALPHA1"
    queued = emulator_raw("GET", f"/v2/{PARENT}/queuedResources/q1")[1]
    assert "bestEffort" not in queued and "bestEffort" in emulator_raw("GET", f"/v2alpha1/{PARENT}/queuedResources/q1")[1]
    maintenance = emulator_raw("POST", f"/v2/{PARENT}/nodes/n1:simulateMaintenanceEvent", {})
    assert maintenance[0] == 404                               # a v2alpha1 method only


def test_guest_attributes_are_what_a_worker_published(emulator, emulator_raw, tpu_client):
    emulator_raw("POST", f"/v2/{PARENT}/nodes?nodeId=pod", {**NODE, "acceleratorType": "v4-16"})
    name = f"{PARENT}/nodes/pod"
    for worker, value in ((0, "ready"), (1, "busy")):
        assert emulator_raw("POST", "/emulator/v1/guest-attributes", {
            "node": name, "worker": worker, "namespace": "tpuctl", "key": "agent", "value": value})[0] == 200
    emulator_raw("POST", "/emulator/v1/guest-attributes",
                 {"node": name, "worker": 0, "namespace": "other", "key": "k", "value": "v"})

    reply = tpu_client.get_guest_attributes(request={"name": name, "query_path": "tpuctl/"})
    assert [[(i.namespace, i.key, i.value) for i in a.query_value.items] for a in reply.guest_attributes] == [
        [("tpuctl", "agent", "ready")], [("tpuctl", "agent", "busy")]]
    one = tpu_client.get_guest_attributes(request={"name": name, "worker_ids": ["1"]})
    assert [[i.value for i in a.query_value.items] for a in one.guest_attributes] == [["busy"]]
    bad = emulator_raw("POST", "/emulator/v1/guest-attributes",
                       {"node": name, "worker": 2, "namespace": "tpuctl", "key": "agent", "value": "x"})
    assert bad[0] == 400 and "workers 0-1" in bad[1]["error"]["message"]


@pytest.mark.parametrize(("zone", "accelerator_type", "runtime"), [
    ("us-central1-b", "v2-8", "tpu-vm-tf-2.17.0-pjrt"),           # Google's TPU samples
    ("us-west4-a", "v5litepod-4", "v2-tpuv5-litepod"),             # Google's queued-resource samples
    ("us-east1-d", "v6e-8", "v2-alpha-tpuv6e"),
    ("us-east5-a", "v5p-8", "tpu-vm-tf-2.18.0-pod-pjrt"),
])
def test_the_runtimes_googles_samples_use_are_accepted_and_listed(tpu_client, zone, accelerator_type, runtime):
    from google.cloud import tpu_v2

    parent = f"projects/p/locations/{zone}"
    created = tpu_client.create_node(parent=parent, node_id="s1", node=tpu_v2.Node(
        accelerator_type=accelerator_type, runtime_version=runtime)).result(timeout=5)
    assert created.runtime_version == runtime
    assert runtime in [v.version for v in tpu_client.list_runtime_versions(parent=parent)]
