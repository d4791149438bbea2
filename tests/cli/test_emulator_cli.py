"""`tpuctl emulator billing-export`: the emulator's Cloud Billing export, locally and from a served emulator."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from decimal import Decimal

from google.cloud import tpu_v2

from tests.conftest import PROJECT, ZONE
from tests.emulator.conftest import make_client
from tpuctl.adapters.local_emulator import world_path
from tpuctl.domain.clock import ManualClock
from tpuctl.emulator.models import WorldSettings
from tpuctl.emulator.server import EmulatorServer
from tpuctl.errors import ExitCode

MARCH_10 = datetime(2026, 3, 10, 10, 0, tzinfo=timezone.utc)


def rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_export_of_what_the_profiles_emulator_ran(cli, remote_env, tmp_path):
    remote_env.clock.set(MARCH_10)
    assert cli("create", "alice-v4", "--type", "v4-8", "--hours", "2").code == 0
    remote_env.clock.advance(1800)
    assert cli("delete", "alice-v4", "--yes").code == 0

    result = cli("emulator", "billing-export", "--month", "2026-03")
    assert result.code == 0, result.err
    [row] = rows(result.out)
    assert (row["usage_start_time"], row["project.id"], row["usage.amount"], row["cost"]) == (
        "2026-03-10 10:00:00", PROJECT, "7200", "6.44")                  # 4 chips x 0.5 h x $3.22
    assert '{"key": "tpuctl-owner", "value": "alice"}' in row["labels"]

    out = tmp_path / "march.csv"
    written = cli("emulator", "billing-export", "--month", "2026-03", "--endpoint", remote_env.url, "--out", str(out))
    assert (written.code, written.out, written.err) == (0, "", f"Wrote 1 row for 2026-03 to {out}.\n")
    assert out.read_text() == result.out
    assert rows(cli("emulator", "billing-export", "--month", "2026-04").out) == []


def test_export_of_the_local_profiles_world_on_disk(cli, isolated_env):
    path = world_path(isolated_env / "data")
    with EmulatorServer(path, clock=ManualClock(MARCH_10), settings=WorldSettings()) as world:
        client = make_client(world.url)
        client.create_node(parent=f"projects/local-project/locations/{ZONE}", node_id="mine", node=tpu_v2.Node(
            accelerator_type="v4-8", runtime_version="tpu-ubuntu2204-base"))
        world.advance_clock(3 * 3600)
        client.delete_node(name=f"projects/local-project/locations/{ZONE}/nodes/mine")

    result = cli("emulator", "billing-export", "--month", "2026-03")
    assert result.code == 0, result.err
    exported = rows(result.out)
    assert [r["usage_start_time"] for r in exported] == [
        "2026-03-10 10:00:00", "2026-03-10 11:00:00", "2026-03-10 12:00:00"]
    assert sum(Decimal(r["cost"]) for r in exported) == Decimal("38.64")   # 4 chips x 3 h x $3.22


def test_bad_month_and_a_profile_without_an_emulator_are_refused(cli, isolated_env, monkeypatch):
    bad = cli("emulator", "billing-export", "--month", "2026-3", "--endpoint", "http://127.0.0.1:9")
    assert (bad.code, bad.err) == (ExitCode.USAGE, "Error: '2026-3' is not a month like 2026-05.\n")

    (isolated_env / "config.toml").write_text(
        '[profiles.gcp]\nproject = "p"\nzone = "us-central2-b"\nstore = "gs://b"\nmember = "alice"\n')
    monkeypatch.setenv("TPUCTL_PROFILE", "gcp")
    google = cli("emulator", "billing-export", "--month", "2026-03")
    assert google.code == ExitCode.CONFIG
    assert google.err.startswith("Error: The gcp profile talks to Google's Cloud TPU API, which has no billing "
                                 "export here.\n")
