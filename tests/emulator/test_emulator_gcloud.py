"""The official CLI against the emulator (slow: a call takes 0.1-0.4 s of CPU, so few calls)."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import TEST_NOW
from tests.emulator.conftest import gcloud_runner

pytestmark = pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not installed")
ZONE = "us-central2-b"


@pytest.fixture
def gcloud(emulator, tmp_path_factory, gcloud_forks):
    """gcloud(*args) -> parsed JSON output; gcloud(*args, ok=False) -> the CompletedProcess."""
    return gcloud_runner(gcloud_forks, emulator, tmp_path_factory.mktemp("gcloud"), "compute", "tpus")


@pytest.mark.slow
def test_tpu_vm_lifecycle(gcloud):
    created = gcloud("tpu-vm", "create", "g1", f"--zone={ZONE}", "--accelerator-type=v4-8",
                     "--version=tpu-ubuntu2204-base", "--spot", "--labels=tpuctl-owner=alice")
    assert created["state"] == "READY" and created["schedulingConfig"]["spot"] is True
    listed = gcloud("tpu-vm", "list", "--zone=-")
    assert [(n["name"], n["labels"]) for n in listed] == [
        (f"projects/p/locations/{ZONE}/nodes/g1", {"tpuctl-owner": "alice"})]
    gcloud("tpu-vm", "stop", "g1", f"--zone={ZONE}")
    assert gcloud("tpu-vm", "describe", "g1", f"--zone={ZONE}")["state"] == "STOPPED"
    gcloud("tpu-vm", "start", "g1", f"--zone={ZONE}")
    gcloud("tpu-vm", "delete", "g1", f"--zone={ZONE}", "--quiet")
    gone = gcloud("tpu-vm", "describe", "g1", f"--zone={ZONE}", ok=False)
    assert gone.returncode == 1 and "NOT_FOUND" in gone.stderr


@pytest.mark.slow
def test_tpu_vm_create_errors_and_capacity(gcloud, emulator):
    bad = gcloud("tpu-vm", "create", "g2", f"--zone={ZONE}", "--accelerator-type=v5p-8",
                 "--version=tpu-ubuntu2204-base", ok=False)
    assert bad.returncode == 1 and "INVALID_ARGUMENT" in bad.stderr and "v5p-8" in bad.stderr
    emulator.set_capacity(ZONE, "v4", 0)
    full = gcloud("tpu-vm", "create", "g3", f"--zone={ZONE}", "--accelerator-type=v4-8",
                  "--version=tpu-ubuntu2204-base", ok=False)
    assert full.returncode == 1 and "no more capacity" in full.stderr


@pytest.mark.slow
def test_queued_resources(gcloud, emulator):
    emulator.set_capacity(ZONE, "v4", 4)
    active = gcloud("queued-resources", "create", "qr1", f"--zone={ZONE}", "--node-id=q1", "--accelerator-type=v4-8",
                    "--runtime-version=tpu-ubuntu2204-base", "--spot", "--valid-until-duration=1h")
    assert active["state"]["state"] == "ACTIVE" and active["spot"] == {}
    waiting = gcloud("queued-resources", "create", "qr2", f"--zone={ZONE}", "--node-prefix=ms", "--node-count=2",
                     "--accelerator-type=v4-8", "--runtime-version=tpu-ubuntu2204-base")
    assert waiting["state"]["state"] == "WAITING_FOR_RESOURCES"
    listed = gcloud("queued-resources", "list", "--zone=-")
    assert [(q["name"].rsplit("/", 1)[1], q["state"]["state"]) for q in listed] == [
        ("qr1", "ACTIVE"), ("qr2", "WAITING_FOR_RESOURCES")]
    refused = gcloud("queued-resources", "delete", "qr1", f"--zone={ZONE}", "--quiet", ok=False)
    assert refused.returncode == 1 and "FAILED_PRECONDITION" in refused.stderr
    emulator.set_capacity(ZONE, "v4", 8)  # qr2 fits only once qr1 is gone
    gcloud("queued-resources", "delete", "qr1", f"--zone={ZONE}", "--force", "--quiet")
    assert gcloud("queued-resources", "describe", "qr2", f"--zone={ZONE}")["state"]["state"] == "ACTIVE"
    assert [n["name"].rsplit("/", 1)[1] for n in gcloud("tpu-vm", "list", f"--zone={ZONE}")] == ["ms-0", "ms-1"]


@pytest.mark.slow
def test_a_node_made_and_deleted_with_gcloud_is_closed_once_whatever_its_create_time_fraction(gcloud, shared_clock,
                                                                                            cli, monkeypatch):
    monkeypatch.setenv("TPUCTL_PROJECT", "p")
    shared_clock.set(TEST_NOW.replace(microsecond=987_654))
    created = gcloud("tpu-vm", "create", "gc1", f"--zone={ZONE}", "--accelerator-type=v4-8",
                     "--version=tpu-ubuntu2204-base")
    assert created["createTime"].endswith(".987654Z")
    assert cli("sync").code == 0
    shared_clock.advance(30)
    gcloud("tpu-vm", "delete", "gc1", f"--zone={ZONE}", "--quiet")
    observed = [cli("sync", "--json").json["observed"] for _ in range(3)]
    assert observed == [[{"kind": "node.deleted", "node": "gc1", "owner": "unattributed"}], [], []]
    stray = next(s for s in cli("budget", "show", "--json").json["standings"] if s["who"] == "unattributed")
    assert (stray["committed"], stray["spent"]) == ("0.000000", "0.107333")      # 30 s of a v4-8 at $12.88/h
    assert cli("ledger", "verify").out == "The ledger is consistent.\n"
