"""Eight members ask at once, each from their own process, machine state and ledger, for
the last dollars of the group's budget: the admission log lets through only what fits,
on a local-folder store and on a GCS bucket (a real fake-gcs-server)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import PROJECT, ZONE
from tpuctl.errors import ExitCode

MEMBERS = [f"member{i}" for i in range(8)]
ENTRY_POINT = Path(__file__).with_name("race_members.py")
# A v4-8 for 15 minutes: 4 chips x $3.22 x 0.25 h = $3.22; three fit in $10, a fourth does not.
ASK = ["--type", "v4-8", "--hours", "0.25"]
REFUSAL = re.compile(r"^Error: Refused: the group's budget for (\d{4}-\d{2}) is \$10\.00: spent \$(\d+\.\d\d), "
                     r"committed \$(\d+\.\d\d), requested \$3\.22, left \$(\d+\.\d\d)\.$")


def race(tmp_path: Path, store: str, emulator_url: str) -> dict[str, subprocess.CompletedProcess]:
    """Start every member's `tpuctl create` in a process of its own, release them together, and collect the results."""
    go = tmp_path / "go"
    plans = []
    for member in MEMBERS:
        home = tmp_path / member
        home.mkdir(exist_ok=True)
        env = {"TPUCTL_CONFIG": str(home / "config.toml"), "TPUCTL_DATA_DIR": str(home / "data"),
               "TPUCTL_API_ENDPOINT": emulator_url, "TPUCTL_PROJECT": PROJECT, "TPUCTL_ZONE": ZONE,
               "TPUCTL_STORE": store, "TPUCTL_MEMBER": member}
        plans.append({"home": str(home), "env": env, "args": ["create", f"tpu-{member}", *ASK]})
    plan = tmp_path / "members.json"
    plan.write_text(json.dumps(plans))
    members = subprocess.Popen([sys.executable, str(ENTRY_POINT), str(plan), str(go)], env=dict(os.environ),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not all((tmp_path / m / "ready").exists() for m in MEMBERS):
        assert time.monotonic() < deadline, "the members did not get ready"
        assert members.poll() is None, members.communicate()
        time.sleep(0.02)
    go.touch()
    out, err = members.communicate(timeout=120)
    assert members.returncode == 0, out + err
    return {m: subprocess.CompletedProcess(p["args"], int((tmp_path / m / "code").read_text()),
                                           (tmp_path / m / "out").read_text(), (tmp_path / m / "err").read_text())
            for m, p in zip(MEMBERS, plans)}


def check(results: dict[str, subprocess.CompletedProcess], cli) -> None:
    month = f"{datetime.now(timezone.utc):%Y-%m}"
    admitted = [m for m, r in results.items() if r.returncode == 0]
    refused = [m for m, r in results.items() if r.returncode == ExitCode.BUDGET]
    assert sorted(admitted + refused) == sorted(MEMBERS), {m: r.stderr for m, r in results.items()}
    assert len(admitted) == 3, {m: r.stderr for m, r in results.items()}       # all that fit, and no more
    for member in refused:
        line = results[member].stderr.splitlines()[0]
        found = REFUSAL.match(line)
        assert found, line
        spent, committed, left = (Decimal(found.group(i)) for i in (2, 3, 4))
        assert found.group(1) == month and left < Decimal("3.22") and spent + committed > Decimal("6.70")
    listed = cli("list", "--json").json
    assert sorted(node["name"] for node in listed) == sorted(f"tpu-{m}" for m in admitted)
    shown = cli("budget", "show", "--json")
    assert shown.code == 0, shown.err
    group = next(x for x in shown.json["standings"] if x["who"] == "group")
    assert Decimal(group["spent"]) + Decimal(group["committed"]) <= Decimal(10), group


@pytest.fixture
def treasurer(cli, emulator, monkeypatch, tmp_path):
    """As treasurer tess: a group whose whole budget is $10 a month, every member added with
    the key made in their own config dir."""
    from tpuctl.adapters import keys

    def setup(store: str) -> None:
        for name, value in [("TPUCTL_API_ENDPOINT", emulator.url), ("TPUCTL_PROJECT", PROJECT),
                            ("TPUCTL_ZONE", ZONE), ("TPUCTL_STORE", store), ("TPUCTL_MEMBER", "tess")]:
            monkeypatch.setenv(name, value)
        assert cli("group", "init", "--treasurer", "tess").code == 0
        assert cli("budget", "set", "--group", "10").code == 0
        for member in MEMBERS:
            with monkeypatch.context() as own_machine:
                own_machine.setenv("TPUCTL_CONFIG", str(tmp_path / member / "config.toml"))
                public = keys.signing_key(member).public
            assert cli("group", "add", member, "--key", public).code == 0
    return setup


@pytest.mark.slow
def test_members_racing_on_a_folder_store_get_only_what_the_budget_holds(tmp_path, emulator, treasurer, cli):
    store = str(tmp_path / "store")
    treasurer(store)
    check(race(tmp_path, store, emulator.url), cli)
    assert len(list((tmp_path / "store" / "ledger" / "admissions").glob("*/*.json"))) == 3


@pytest.mark.slow
def test_members_racing_on_a_bucket_get_only_what_the_budget_holds(tmp_path, emulator, treasurer, cli, gcs_bucket):
    store = f"gs://{gcs_bucket}/group"
    treasurer(store)
    check(race(tmp_path, store, emulator.url), cli)
