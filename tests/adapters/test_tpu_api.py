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


def test_an_all_zones_listing_names_the_zones_it_could_not_reach(api, emulator):
    make(api, "here")
    emulator.configure(unreachable_zones=["us-east1-d"])
    everywhere = api.list_nodes(None)
    queued = api.list_queued_resources(None)
    one_zone = api.list_nodes(ZONE)
    assert [n.name for n in everywhere] == ["here"]
    assert everywhere.unreachable == queued.unreachable == (f"projects/{PROJECT}/locations/us-east1-d",)
    assert one_zone.unreachable == ()       # a later listing does not change what an earlier one said


def test_retries_wait_on_the_adapters_clock_not_for_real(emulator):
    import time
    from datetime import timedelta

    from tpuctl.domain.clock import ManualClock

    clock = ManualClock()
    start = clock.now()
    waits = []
    api = TpuApi(PROJECT, emulator.url, clock=clock, on_retry=lambda why, attempt, attempts, delay: waits.append(delay))
    emulator.inject_faults(status=503, count=3)
    began = time.monotonic()
    assert api.list_nodes(ZONE) == []
    assert waits == [0.5, 1.0, 2.0]
    assert clock.now() - start == timedelta(seconds=3.5)
    assert time.monotonic() - began < 3.5


def test_a_wait_gives_up_at_its_deadline_on_the_same_clock(emulator):
    import time

    from tpuctl.domain.clock import ManualClock

    emulator.configure(boot_seconds=3600)          # the emulator's clock stands still: never READY
    api = TpuApi(PROJECT, emulator.url, clock=ManualClock())
    began = time.monotonic()
    with pytest.raises(UnavailableError, match=r"Could not create TPU 'slow' in us-central2-b: still running after 600 s"):
        api.create_node(ZONE, "slow", accelerator_type="v4-8", runtime_version=BASE, spot=False, labels={}, timeout=600)
    assert time.monotonic() - began < 30


def test_retries_stop_at_their_deadline_on_the_adapters_clock(emulator):
    from tpuctl.domain.clock import ManualClock

    waits = []
    api = TpuApi(PROJECT, emulator.url, retry=RetryPolicy(attempts=10, deadline=2), clock=ManualClock(),
                 on_retry=lambda why, attempt, attempts, delay: waits.append(delay))
    emulator.inject_faults(status=503, count=10)
    with pytest.raises(UnavailableError, match="Could not list TPUs in us-central2-b: the Cloud TPU API is unavailable"):
        api.list_nodes(ZONE)
    assert waits == [0.5, 1.0]          # a third wait (2 s) would end past the deadline


def test_on_the_local_profiles_pace_a_create_returns_within_a_quarter_second_of_ready(emulator):
    """Cloud TPU's pace (0.5 s, then 1.5x) would first see a 3 s boot after 4.06 s."""
    from datetime import timedelta

    from tpuctl.adapters.local_emulator import LOCAL_BOOT_SECONDS, LOCAL_POLL

    emulator.configure(boot_seconds=LOCAL_BOOT_SECONDS)
    api = TpuApi(PROJECT, emulator.url, clock=emulator.clock, **LOCAL_POLL)     # its waits move the world's time
    start = emulator.clock.now()
    node = api.create_node(ZONE, "demo", accelerator_type="v4-8", runtime_version=BASE, spot=False, labels={})
    assert node.state == "READY"
    assert timedelta(seconds=LOCAL_BOOT_SECONDS) <= emulator.clock.now() - start <= timedelta(seconds=LOCAL_BOOT_SECONDS + 0.25)
