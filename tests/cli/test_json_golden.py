"""Every `--json` shape, against a golden file: its fields, and the one form of every amount
(a decimal string to the millionth) and every time (UTC, six fractional digits, `Z`).

Values are replaced by what they are ("amount", "time", "str", "int", ...), so the golden file
holds shapes, not numbers that change from run to run. `UPDATE_GOLDEN=1 pytest ...` rewrites it
after a deliberate change (fields are only ever added: check the diff).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tpuctl.errors import ExitCode

GOLDEN = Path(__file__).parent / "golden" / "json_shapes.json"
AMOUNT = re.compile(r"^-?[0-9]+\.[0-9]{6,}$")
TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$")
FREE_FORM = {"labels", "values", "sources", "config", "env"}       # keys whose own keys are data


def shape(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        if key in FREE_FORM:
            return {k: shape(v) for k, v in sorted(value.items()) if not k.startswith("tpuctl-request")}
        return {k: shape(v, k) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0], key)] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, str):
        return "amount" if AMOUNT.match(value) else "time" if TIME.match(value) else "str"
    return value if value is None else type(value).__name__


@pytest.fixture
def shapes(cli, remote_env, monkeypatch, tmp_path, join):
    """Every command that takes --json, run once on a small group: {what: shape}."""
    found: dict[str, Any] = {}

    def as_(member: str) -> None:
        monkeypatch.setenv("TPUCTL_MEMBER", member)

    def take(what: str, *args: str, code: int = 0) -> Any:
        result = cli(*args, "--json")
        assert result.code == code, f"{what}: {result.err}"
        found[what] = shape(result.json)
        return result.json

    as_("tess")
    assert cli("group", "init", "--treasurer", "tess").code == 0
    assert cli("budget", "set", "--member", "alice", "60").code == 0
    join("alice", by="tess")
    as_("alice")
    take("config show", "config", "show")
    take("types", "types")
    take("versions", "versions")
    take("zones", "zones")
    take("create", "create", "a1", "--type", "v4-8", "--hours", "1")
    take("describe", "describe", "a1")
    take("list", "list")
    take("stop", "stop", "a1")
    take("start", "start", "a1")
    take("queue create", "queue", "create", "q1", "--type", "v4-8", "--hours", "1", "--valid-for", "1h")
    take("queue list", "queue", "list")
    take("queue describe", "queue", "describe", "q1")
    take("queue delete --dry-run", "queue", "delete", "q1", "--dry-run")
    take("queue delete", "queue", "delete", "q1", "--force", "--yes")
    take("spend", "spend")
    take("budget show", "budget", "show")
    take("sync", "sync")
    take("ledger verify", "ledger", "verify")
    take("ledger rebuild", "ledger", "rebuild")
    take("prices show", "prices", "show")
    take("group show", "group", "show")
    take("refused", "create", "big", "--type", "v4-32", "--hours", "8", code=ExitCode.BUDGET)
    take("error", "describe", "nope", code=ExitCode.NOT_FOUND)
    (tmp_path / "job.yaml").write_text("name: shape\ntpu: {type: v4-8}\nhours: 1\nrun: echo hi\n")
    monkeypatch.chdir(tmp_path)
    job = take("run", "run", "job.yaml")["id"]
    take("job", "job", job)
    take("jobs", "jobs")
    take("delete --dry-run", "delete", "a1", "--dry-run")
    take("delete", "delete", "a1", "--yes")
    return found


@pytest.mark.slow
def test_every_json_shape_matches_the_golden_file(shapes):
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(shapes, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert sorted(shapes) == sorted(golden)
    for what in golden:
        assert shapes[what] == golden[what], what


@pytest.mark.slow
def test_amounts_and_times_have_one_form_everywhere(shapes):
    text = json.dumps(shapes)
    for field in ("per_hour", "spot_per_hour", "lease", "left_after", "budget", "spent", "committed", "left",
                  "requested", "on_demand", "cost", "spent_chip_hours"):
        assert f'"{field}": "str"' not in text, f"{field} is not an amount in the one form"
    for field in ("created", "lease_until", "valid_until"):
        assert f'"{field}": "str"' not in text, f"{field} is not a time in the one form"
    assert shapes["create"]["cost"]["per_hour"] == shapes["create"]["cost"]["lease"] == "amount"
    assert shapes["describe"]["lease_until"] == shapes["queue describe"]["valid_until"] == "time"
