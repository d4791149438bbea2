"""`gcloud alpha compute tpus` (the v2alpha1 API) against the emulator (slow: a call takes 0.1-0.4 s of CPU, so few calls)."""

from __future__ import annotations

import shutil

import pytest

from tests.emulator.conftest import gcloud_runner

pytestmark = pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not installed")
ZONE = "us-central2-b"


@pytest.fixture
def alpha(emulator, tmp_path_factory, gcloud_forks):
    """alpha(*args) -> parsed JSON of `gcloud alpha compute tpus ARGS`; alpha(*args, ok=False) -> the process."""
    return gcloud_runner(gcloud_forks, emulator, tmp_path_factory.mktemp("gcloud"), "alpha", "compute", "tpus", zone=ZONE)


@pytest.mark.slow
def test_alpha_tpu_vm_lifecycle_and_maintenance(alpha, emulator):
    emulator.configure(maintenance_seconds=600)
    created = alpha("tpu-vm", "create", "a1", "--accelerator-type=v4-8", "--version=tpu-ubuntu2204-base")
    assert (created["state"], created["apiVersion"]) == ("READY", "V2_ALPHA1")
    assert [n["name"] for n in alpha("tpu-vm", "list")] == [f"projects/p/locations/{ZONE}/nodes/a1"]

    started = alpha("tpu-vm", "simulate-maintenance-event", "a1", "--workers=0", "--async")
    assert started["done"] is False and started["metadata"]["verb"] == "simulateMaintenanceEvent"
    during = alpha("tpu-vm", "describe", "a1")
    assert (during["state"], during["health"]) == ("REPAIRING", "UNHEALTHY_MAINTENANCE")
    assert during["upcomingMaintenance"]["maintenanceStatus"] == "ONGOING"
    emulator.advance_clock(600)
    after = alpha("tpu-vm", "describe", "a1")
    assert (after["state"], after["health"], "upcomingMaintenance" in after) == ("READY", "HEALTHY", False)

    emulator.configure(maintenance_seconds=0)
    alpha("tpu-vm", "perform-maintenance", "a1")                      # waits for its operation
    states = [s["state"] for s in emulator.usage()[0]["states"]]
    assert states == ["CREATING", "READY", "REPAIRING", "READY", "REPAIRING", "READY"]
    assert len(emulator.usage()[0]["intervals"]) == 3                 # REPAIRING is not billed

    alpha("tpu-vm", "delete", "a1", "--quiet")
    gone = alpha("tpu-vm", "describe", "a1", ok=False)
    assert gone.returncode == 1 and "NOT_FOUND" in gone.stderr


@pytest.mark.slow
def test_alpha_queued_resources_with_best_effort_multi_node_and_maintenance(alpha, emulator):
    best = alpha("queued-resources", "create", "q1", "--node-id=qn1", "--accelerator-type=v4-8",
                 "--runtime-version=tpu-ubuntu2204-base", "--best-effort", "--valid-until-duration=1h")
    assert best["state"]["state"] == "ACTIVE" and best["bestEffort"] == {}
    assert best["queueingPolicy"] == {"validUntilTime": best["queueingPolicy"]["validUntilTime"]}
    many = alpha("queued-resources", "create", "q2", "--node-prefix=ms", "--node-count=2", "--accelerator-type=v4-8",
                 "--runtime-version=tpu-ubuntu2204-base")
    assert many["tpu"]["nodeSpec"][0]["multiNodeParams"] == {"nodeCount": 2, "nodeIdPrefix": "ms"}
    assert [(q["name"].rsplit("/", 1)[1], q["state"]["state"]) for q in alpha("queued-resources", "list")] == [
        ("q1", "ACTIVE"), ("q2", "ACTIVE")]
    assert alpha("queued-resources", "describe", "q2")["state"]["state"] == "ACTIVE"
    assert alpha("tpu-vm", "describe", "qn1")["schedulingConfig"]["preemptible"] is True   # best effort

    alpha("queued-resources", "perform-maintenance", "q2", "--node-names=ms-0")
    maintained = {u["node"].rsplit("/", 1)[1]: [s["state"] for s in u["states"]] for u in emulator.usage()}
    assert maintained["ms-0"] == ["CREATING", "READY", "REPAIRING", "READY"]
    assert maintained["ms-1"] == ["CREATING", "READY"]
    stranger = alpha("queued-resources", "perform-maintenance", "q2", "--node-names=qn1", ok=False)
    assert stranger.returncode == 1 and "do not belong" in stranger.stderr

    alpha("queued-resources", "delete", "q1", "--force", "--quiet")
    alpha("queued-resources", "delete", "q2", "--force", "--quiet")
    assert alpha("queued-resources", "list") == [] and alpha("tpu-vm", "list") == []
