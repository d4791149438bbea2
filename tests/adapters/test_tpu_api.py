"""The Cloud TPU adapter against the emulator, through google-cloud-tpu over HTTP."""

from __future__ import annotations

import pytest

from tests.conftest import PROJECT, ZONE
from tpuctl.adapters.tpu import RetryPolicy, TpuApi
from tpuctl.errors import CapacityError, NotFoundError, UnavailableError

BASE = "tpu-ubuntu2204-base"


def make(api: TpuApi, name: str, zone: str = ZONE, accelerator_type: str = "v4-8", **labels: str):
    return api.create_node(zone, name, accelerator_type=accelerator_type, runtime_version=BASE, spot=False,
                           labels=labels, wait=False)


@pytest.mark.slow
def test_paging_over_250_nodes(api, emulator):
    for i in range(250):
        make(api, f"n-{i:03d}")
    before = emulator.request_count
    nodes = api.list_nodes(ZONE)
    assert sorted(n.name for n in nodes) == [f"n-{i:03d}" for i in range(250)]
    assert emulator.request_count - before >= 2, "250 nodes must take more than one page"


def test_all_zones_listing(api):
    make(api, "central1", zone="us-central1-b", accelerator_type="v2-8")
    make(api, "central2", zone=ZONE)
    make(api, "europe", zone="europe-west4-a", accelerator_type="v6e-8")
    everywhere = {(n.zone, n.name) for n in api.list_nodes(None)}
    assert everywhere == {("us-central1-b", "central1"), (ZONE, "central2"), ("europe-west4-a", "europe")}
    assert [n.name for n in api.list_nodes(ZONE)] == ["central2"]


def test_node_info_reads_chips_workers_and_labels(api):
    make(api, "slice", accelerator_type="v4-32", **{"tpuctl-owner": "alice"})
    node = api.wait_for_state(ZONE, "slice", {"READY"})
    assert (node.chip_count, node.workers, node.owner, node.state) == (16, 4, "alice", "READY")
    assert node.create_time is not None and node.create_time.tzinfo is not None


def test_503s_are_retried_until_the_policy_gives_up(api, emulator):
    emulator.inject_faults(status=503, count=2)
    assert api.list_nodes(ZONE) == []
    emulator.inject_faults(status=503, count=10)
    impatient = TpuApi(PROJECT, emulator.url, retry=RetryPolicy(attempts=3, initial=0.01))
    with pytest.raises(UnavailableError):
        impatient.list_nodes(ZONE)


def test_429s_are_retried(api, emulator):
    emulator.inject_faults(status=429, count=2)
    make(api, "after-429")
    assert [n.name for n in api.list_nodes(ZONE)] == ["after-429"]


def test_retried_delete_after_a_lost_reply_succeeds(api, emulator):
    make(api, "gone-soon")
    emulator.inject_faults(status=503, count=1, method="DELETE", after_apply=True)
    api.delete_node(ZONE, "gone-soon")
    with pytest.raises(NotFoundError):
        api.get_node(ZONE, "gone-soon")


def test_failed_create_operation_says_why(api, emulator):
    emulator.configure(fail_operations=1.0)
    with pytest.raises(UnavailableError, match="An internal error has occurred while creating the TPU"):
        api.create_node(ZONE, "doomed", accelerator_type="v4-8", runtime_version=BASE, spot=False, labels={})


def test_capacity_failure_leaves_no_node(api, emulator):
    emulator.set_capacity(ZONE, "v4", 4)
    make(api, "fits")
    with pytest.raises(CapacityError, match="There is no more capacity in the zone"):
        api.create_node(ZONE, "too-many", accelerator_type="v4-8", runtime_version=BASE, spot=False, labels={})
    assert [n.name for n in api.list_nodes(ZONE)] == ["fits"]
