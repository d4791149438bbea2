"""Nodes, operations, catalogue and errors, through the real google-cloud-tpu REST client."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc
from google.cloud import tpu_v2
from google.protobuf import field_mask_pb2

from tpuctl.domain.accelerators import parse_accelerator_type
from tpuctl.emulator import catalog

ZONE = "us-central2-b"
PARENT = f"projects/p/locations/{ZONE}"
State = tpu_v2.Node.State


def node(accelerator_type="v4-8", runtime_version="tpu-ubuntu2204-base", **fields) -> tpu_v2.Node:
    return tpu_v2.Node(accelerator_type=accelerator_type, runtime_version=runtime_version, **fields)


def create(tpu_client, node_id, parent=PARENT, **fields):
    return tpu_client.create_node(parent=parent, node_id=node_id, node=node(**fields))


def test_lifecycle_with_delays(tpu_client, emulator, emulator_clock):
    emulator.configure(boot_seconds=30, stop_seconds=5, start_seconds=5, delete_seconds=10)
    op = create(tpu_client, "alice", labels={"tpuctl-owner": "alice"})
    assert not op.done()
    assert tpu_client.get_node(name=f"{PARENT}/nodes/alice").state == State.CREATING

    emulator_clock.advance(29)
    assert tpu_client.get_node(name=f"{PARENT}/nodes/alice").state == State.CREATING
    emulator_clock.advance(1)
    assert op.done()
    ready = op.result()
    assert ready.state == State.READY and ready.labels == {"tpuctl-owner": "alice"}

    stop = tpu_client.stop_node(request={"name": ready.name})
    assert tpu_client.get_node(name=ready.name).state == State.STOPPING
    emulator_clock.advance(5)
    assert stop.result().state == State.STOPPED

    start = tpu_client.start_node(request={"name": ready.name})
    assert tpu_client.get_node(name=ready.name).state == State.STARTING
    emulator_clock.advance(5)
    assert start.result().state == State.READY

    delete = tpu_client.delete_node(name=ready.name)
    assert tpu_client.get_node(name=ready.name).state == State.DELETING
    emulator_clock.advance(10)
    assert delete.done()
    delete.result()
    assert list(tpu_client.list_nodes(parent=PARENT)) == []


def test_transitions_chain_within_one_clock_jump(tpu_client, emulator, emulator_clock):
    emulator.configure(boot_seconds=10, spot_preempt_after_seconds=60)
    create(tpu_client, "spotty", scheduling_config=tpu_v2.SchedulingConfig(spot=True))
    emulator_clock.advance(3600)  # READY at +10 s, PREEMPTED at +70 s
    assert tpu_client.get_node(name=f"{PARENT}/nodes/spotty").state == State.PREEMPTED


def test_node_json_on_the_wire(tpu_client, emulator_raw):
    create(tpu_client, "wide", accelerator_type="v4-32", labels={"k": "v"}, metadata={"startup-script": "echo hi"},
           scheduling_config=tpu_v2.SchedulingConfig(spot=True)).result()
    status, body = emulator_raw("GET", f"/v2/{PARENT}/nodes/wide")
    assert status == 200
    assert body["name"] == f"{PARENT}/nodes/wide"
    assert body["state"] == "READY" and body["health"] == "HEALTHY" and body["apiVersion"] == "V2"
    assert body["acceleratorType"] == "v4-32"
    assert body["acceleratorConfig"] == {"type": "V4", "topology": "2x2x4"}
    assert body["schedulingConfig"] == {"preemptible": False, "spot": True, "reserved": False}
    assert body["labels"] == {"k": "v"} and body["metadata"] == {"startup-script": "echo hi"}
    assert len(body["networkEndpoints"]) == 4 and all(e["ipAddress"] for e in body["networkEndpoints"])
    assert body["createTime"].endswith("Z") and body["id"].isdigit()
    assert body["runtimeVersion"] == "tpu-ubuntu2204-base" and "network" in body["networkConfig"]
    assert not any(key.startswith("_") for key in body)


def test_operation_json_follows_the_lro_contract(tpu_client, emulator, emulator_raw):
    emulator.configure(boot_seconds=5)
    status, op = emulator_raw("POST", f"/v2/{PARENT}/nodes?nodeId=n1",
                              {"acceleratorType": "v4-8", "runtimeVersion": "tpu-ubuntu2204-base"})
    assert status == 200 and op["done"] is False and "/operations/operation-" in op["name"]
    assert op["metadata"]["@type"] == "type.googleapis.com/google.cloud.tpu.v2.OperationMetadata"
    assert op["metadata"]["verb"] == "create" and op["metadata"]["target"] == f"{PARENT}/nodes/n1"
    emulator.advance_clock(5)
    status, done = emulator_raw("GET", f"/v2/{op['name']}")
    assert done["done"] is True and done["response"]["@type"] == "type.googleapis.com/google.cloud.tpu.v2.Node"
    assert done["response"]["state"] == "READY" and "endTime" in done["metadata"]
    status, deleted = emulator_raw("DELETE", f"/v2/{PARENT}/nodes/n1")
    assert deleted["done"] is True and deleted["response"] == {"@type": "type.googleapis.com/google.protobuf.Empty"}
    ops = tpu_client.list_operations(request={"name": PARENT})
    assert {o.name for o in ops.operations} == {op["name"], deleted["name"]}


def test_create_by_accelerator_config_as_the_client_sends_it(tpu_client):
    config = tpu_v2.AcceleratorConfig(type_=tpu_v2.AcceleratorConfig.Type.V4, topology="2x2x2")
    made = tpu_client.create_node(parent=PARENT, node_id="cfg", node=tpu_v2.Node(
        accelerator_config=config, runtime_version="tpu-vm-v4-base")).result()
    assert made.accelerator_type == "v4-16" and len(made.network_endpoints) == 2


def test_update_labels(tpu_client):
    made = create(tpu_client, "lab", labels={"a": "1"}).result()
    mask = field_mask_pb2.FieldMask(paths=["labels"])
    updated = tpu_client.update_node(node=tpu_v2.Node(name=made.name, labels={"b": "2"}), update_mask=mask).result()
    assert updated.labels == {"b": "2"}
    assert tpu_client.get_node(name=made.name).labels == {"b": "2"}
    with pytest.raises(gexc.BadRequest, match="cannot be updated"):
        tpu_client.update_node(node=tpu_v2.Node(name=made.name),
                               update_mask=field_mask_pb2.FieldMask(paths=["runtime_version"]))


@pytest.mark.slow
def test_paging_over_250_nodes_and_locations_wildcard(tpu_client, emulator_raw):
    for i in range(250):
        create(tpu_client, f"n{i:03d}")
    create(tpu_client, "elsewhere", parent="projects/p/locations/europe-west4-a", accelerator_type="v5litepod-4")
    create(tpu_client, "other-project", parent="projects/q/locations/us-central2-b")

    names = [n.name for n in tpu_client.list_nodes(parent=PARENT)]
    assert len(names) == 250 and names == sorted(names)
    _, first = emulator_raw("GET", f"/v2/{PARENT}/nodes")
    assert len(first["nodes"]) == 100 and first["nextPageToken"]
    _, second = emulator_raw("GET", f"/v2/{PARENT}/nodes?pageSize=200&pageToken={first['nextPageToken']}")
    assert len(second["nodes"]) == 150 and "nextPageToken" not in second
    _, big = emulator_raw("GET", f"/v2/{PARENT}/nodes?pageSize=5000")
    assert len(big["nodes"]) == 250

    everywhere = [n.name for n in tpu_client.list_nodes(parent="projects/p/locations/-")]
    assert len(everywhere) == 251 and "projects/p/locations/europe-west4-a/nodes/elsewhere" in everywhere
    assert [n.name for n in tpu_client.list_nodes(parent="projects/q/locations/-")] == [
        "projects/q/locations/us-central2-b/nodes/other-project"]


def test_bad_page_token(emulator_raw):
    status, body = emulator_raw("GET", f"/v2/{PARENT}/nodes?pageToken=!!!")
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"


BAD_CREATES = [
    ("unknown type in zone", PARENT, "x", {"accelerator_type": "v5p-8"}, "not available in zone"),
    ("bad node id", PARENT, "Bad_Name", {}, "Invalid node id"),
    ("node id too long", PARENT, "a" * 64, {}, "Invalid node id"),
    ("node id ends with hyphen", PARENT, "abc-", {}, "Invalid node id"),
    ("unknown zone", "projects/p/locations/mars-central1-a", "x", {}, "Invalid location"),
    ("unknown runtime", PARENT, "x", {"runtime_version": "tpu-vm-nope"}, "Runtime version"),
    ("runtime of another generation", PARENT, "x", {"runtime_version": "v2-alpha-tpuv5"}, "Runtime version"),
    ("bad label", PARENT, "x", {"labels": {"Upper": "x"}}, "Invalid label"),
]


@pytest.mark.parametrize("case, parent, node_id, fields, message", BAD_CREATES, ids=[c[0] for c in BAD_CREATES])
def test_invalid_creates_are_400_invalid_argument(tpu_client, case, parent, node_id, fields, message):
    with pytest.raises(gexc.BadRequest, match=message) as info:
        create(tpu_client, node_id, parent=parent, **fields)
    assert info.value.response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert list(tpu_client.list_nodes(parent="projects/p/locations/-")) == []


def test_not_found_and_already_exists(tpu_client):
    with pytest.raises(gexc.NotFound) as info:
        tpu_client.get_node(name=f"{PARENT}/nodes/ghost")
    assert info.value.response.json()["error"] == {
        "code": 404, "status": "NOT_FOUND", "message": f"Resource '{PARENT}/nodes/ghost' was not found."}
    with pytest.raises(gexc.NotFound):
        tpu_client.delete_node(name=f"{PARENT}/nodes/ghost")
    create(tpu_client, "twice").result()
    with pytest.raises(gexc.Conflict) as info:  # HTTP 409: api_core maps by HTTP code, not to AlreadyExists
        create(tpu_client, "twice")
    assert info.value.response.json()["error"]["status"] == "ALREADY_EXISTS"


def test_stop_needs_a_ready_single_host_node(tpu_client, emulator):
    create(tpu_client, "pod", accelerator_type="v4-32").result()
    with pytest.raises(gexc.BadRequest, match="multi-host") as info:
        tpu_client.stop_node(request={"name": f"{PARENT}/nodes/pod"})
    assert info.value.response.json()["error"]["status"] == "FAILED_PRECONDITION"
    emulator.configure(boot_seconds=60)
    create(tpu_client, "booting")
    with pytest.raises(gexc.BadRequest, match="only a READY node"):
        tpu_client.stop_node(request={"name": f"{PARENT}/nodes/booting"})
    with pytest.raises(gexc.BadRequest, match="only a STOPPED node"):
        tpu_client.start_node(request={"name": f"{PARENT}/nodes/booting"})


def test_delete_while_creating_aborts_the_create(tpu_client, emulator):
    emulator.configure(boot_seconds=60)
    op = create(tpu_client, "short")
    tpu_client.delete_node(name=f"{PARENT}/nodes/short").result()
    with pytest.raises(gexc.Aborted):
        op.result()


def test_catalogue(tpu_client):
    types = {t.type_: t for t in tpu_client.list_accelerator_types(parent="projects/p/locations/europe-west4-a")}
    assert {"v2-8", "v3-8", "v5litepod-8", "v6e-8"} <= set(types) and "v4-8" not in types
    assert types["v6e-8"].accelerator_configs[0].topology == "2x4"
    got = tpu_client.get_accelerator_type(name=f"{PARENT}/acceleratorTypes/v4-8")
    assert got.accelerator_configs[0].type_ == tpu_v2.AcceleratorConfig.Type.V4
    with pytest.raises(gexc.NotFound):
        tpu_client.get_accelerator_type(name=f"{PARENT}/acceleratorTypes/v2-8")
    versions = [v.version for v in tpu_client.list_runtime_versions(parent=PARENT)]
    assert "tpu-ubuntu2204-base" in versions and "tpu-vm-v4-base" in versions
    assert tpu_client.get_runtime_version(name=f"{PARENT}/runtimeVersions/tpu-vm-v4-base").version == "tpu-vm-v4-base"
    locations = tpu_client.list_locations(request={"name": "projects/p"}).locations
    assert {loc.location_id for loc in locations} == set(catalog.ZONES)
    assert tpu_client.get_location(request={"name": f"projects/p/locations/{ZONE}"}).location_id == ZONE
    with pytest.raises(gexc.NotFound):
        tpu_client.get_location(request={"name": "projects/p/locations/atlantis-1a"})


def test_catalogue_topologies_agree_with_tpuctl_sizes():
    for zone in catalog.ZONES:
        for accel in catalog.accelerator_types(zone):
            dims = [int(d) for d in catalog.topology(accel).split("x")]
            product = 1
            for d in dims:
                product *= d
            assert product == parse_accelerator_type(accel.name).chips, accel.name
            assert set(catalog.RUNTIME_VERSIONS[accel.generation]) <= set(catalog.runtime_versions(zone))
