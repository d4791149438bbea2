"""Operations through the official client: cancel and delete as google.longrunning documents them,
and the times a queued resource's queueing policy resolves to."""

from __future__ import annotations

from datetime import timedelta

import pytest
from google.api_core import exceptions as gexc
from google.cloud import tpu_v2
from google.protobuf import duration_pb2

PARENT = "projects/p/locations/us-central2-b"
QR = tpu_v2.QueuedResource


def make(tpu_client, node_id="n1"):
    return tpu_client.create_node(parent=PARENT, node_id=node_id, node=tpu_v2.Node(
        accelerator_type="v4-8", runtime_version="tpu-ubuntu2204-base"))


def test_a_cancelled_create_leaves_no_node_and_ends_cancelled(tpu_client, emulator):
    emulator.configure(boot_seconds=60)
    op = make(tpu_client)
    tpu_client.cancel_operation(request={"name": op.operation.name})

    done = tpu_client.get_operation(request={"name": op.operation.name})
    assert done.done and done.error.code == 1                          # CANCELLED
    with pytest.raises(gexc.Cancelled):
        op.result(timeout=5)
    assert list(tpu_client.list_nodes(parent=PARENT)) == []
    assert [u["intervals"] for u in emulator.usage()] == [[]]          # it never ran, nothing billed


def test_cancel_is_best_effort_and_a_finished_operation_is_left_as_it_was(tpu_client, emulator):
    node = make(tpu_client).result(timeout=5)
    emulator.configure(delete_seconds=60)
    deleting = tpu_client.delete_node(name=node.name)
    tpu_client.cancel_operation(request={"name": deleting.operation.name})
    emulator.advance_clock(60)
    deleting.result(timeout=5)                                        # the delete went on
    with pytest.raises(gexc.NotFound):
        tpu_client.get_node(name=node.name)

    finished = make(tpu_client, "n2")
    finished.result(timeout=5)
    tpu_client.cancel_operation(request={"name": finished.operation.name})
    again = tpu_client.get_operation(request={"name": finished.operation.name})
    assert again.done and not again.error.code


def test_a_deleted_operation_is_forgotten_but_what_it_started_goes_on(tpu_client, emulator):
    emulator.configure(boot_seconds=60)
    op = make(tpu_client)
    tpu_client.delete_operation(request={"name": op.operation.name})
    with pytest.raises(gexc.NotFound):
        tpu_client.get_operation(request={"name": op.operation.name})
    emulator.advance_clock(60)
    assert tpu_client.get_node(name=f"{PARENT}/nodes/n1").state == tpu_v2.Node.State.READY
    with pytest.raises(gexc.NotFound):
        tpu_client.delete_operation(request={"name": op.operation.name})


def test_valid_until_duration_comes_back_as_valid_until_time(tpu_client, emulator):
    spec = QR.Tpu.NodeSpec(parent=PARENT, node_id="q", node=tpu_v2.Node(
        accelerator_type="v4-8", runtime_version="tpu-ubuntu2204-base"))
    queued = tpu_client.create_queued_resource(parent=PARENT, queued_resource_id="q1", queued_resource=QR(
        tpu=QR.Tpu(node_spec=[spec]),
        queueing_policy=QR.QueueingPolicy(valid_until_duration=duration_pb2.Duration(seconds=6 * 3600)))).result()
    policy = tpu_client.get_queued_resource(name=queued.name).queueing_policy
    assert policy.valid_until_time - queued.create_time == timedelta(hours=6)
    assert "valid_until_duration" not in policy                         # one of a oneof, resolved to a time
