"""The TPU VM lifecycle end to end: the `tpuctl` entry point, the real client, the emulator."""

from __future__ import annotations

import pytest

from tests.conftest import ZONE
from tpuctl.errors import ExitCode


def test_create_stop_start_delete_round_trip(cli, remote_env):
    created = cli("create", "alice-v4", "--type", "v4-8", "--hours", "2", "--json")
    assert created.code == 0, created.err
    node = created.json
    assert (node["name"], node["zone"], node["state"], node["chips"]) == ("alice-v4", ZONE, "READY", 4)
    assert node["owner"] == "alice" and node["lease_until"] is not None
    assert node["labels"]["tpuctl-managed"] == "true"

    stopped = cli("stop", "alice-v4", "--json")
    assert (stopped.code, stopped.json["state"]) == (0, "STOPPED")
    started = cli("start", "alice-v4")
    assert (started.code, started.out) == (0, "alice-v4: READY.\n")

    deleted = cli("delete", "alice-v4", "--yes")
    assert (deleted.code, deleted.out) == (0, "Deleted alice-v4.\n")
    assert cli("list", "--json").json == []


def test_create_prints_one_line_summary(cli, remote_env):
    result = cli("create", "sum-node", "--type", "v4-32")
    assert result.code == 0, result.err
    assert result.out.startswith(f"sum-node: READY in {ZONE}, v4-32 (16 chips, 4 workers), lease until 20")


def test_list_shows_owner_and_filters_mine(cli, remote_env, monkeypatch):
    assert cli("create", "a-node", "--type", "v4-8", "--no-wait").code == 0
    monkeypatch.setenv("TPUCTL_MEMBER", "bob")
    assert cli("create", "b-node", "--type", "v4-8", "--spot", "--no-wait").code == 0

    table = cli("list")
    lines = table.out.splitlines()
    assert lines[0].split() == ["NAME", "ZONE", "TYPE", "CHIPS", "STATE", "SPOT", "OWNER", "LEASE", "UNTIL"]
    assert [line.split()[0] for line in lines[1:]] == ["a-node", "b-node"]
    assert "alice" in lines[1] and "bob" in lines[2] and "yes" in lines[2]

    mine = cli("list", "--mine", "--json").json
    assert [n["name"] for n in mine] == ["b-node"]


def test_list_all_zones_and_unattributed(cli, remote_env, api):
    api.create_node("us-central1-b", "console-made", accelerator_type="v2-8", runtime_version="tpu-ubuntu2204-base",
                    spot=False, labels={})
    assert cli("create", "mine", "--type", "v4-8").code == 0
    everything = cli("list", "--all-zones", "--json").json
    assert {(n["zone"], n["name"], n["owner"]) for n in everything} == {
        ("us-central1-b", "console-made", None), (ZONE, "mine", "alice")}
    assert "unattributed" in cli("list", "-A").out


def test_describe_finds_node_in_another_zone(cli, remote_env, api):
    api.create_node("us-central1-b", "far-away", accelerator_type="v2-8", runtime_version="tpu-ubuntu2204-base",
                    spot=False, labels={})
    result = cli("describe", "far-away")
    assert result.code == 0, result.err
    assert "zone:            us-central1-b" in result.out
    assert "type:            v2-8" in result.out


def test_delete_needs_confirmation_without_a_terminal(cli, remote_env):
    cli("create", "keep-me", "--type", "v4-8")
    refused = cli("delete", "keep-me")
    assert refused.code == ExitCode.USAGE
    assert refused.err.startswith("Error: Refusing to act without confirmation: there is no terminal to ask on.\n")
    dry = cli("delete", "keep-me", "--dry-run")
    assert dry.out == f"Would delete keep-me (v4-8 in {ZONE}, owner alice).\n"
    assert [n["name"] for n in cli("list", "--json").json] == ["keep-me"]


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["create", "x1", "--type", "v9-8"], ExitCode.USAGE, "Error: 'v9-8' is not a TPU accelerator type.\n"),
        (["create", "Bad_Name", "--type", "v4-8"], ExitCode.USAGE, "Error: 'Bad_Name' is not a valid TPU name.\n"),
        (["create", "x2", "--type", "v4-8", "--hours", "0"], ExitCode.USAGE, "Error: --hours must be more than 0, not 0.\n"),
        (["create", "x3", "--type", "v4-8", "--label", "nokey"], ExitCode.USAGE, "Error: Label 'nokey' must be written key=value.\n"),
        (["create", "x4", "--type", "v4-8", "--label", "tpuctl-owner=bob"], ExitCode.USAGE,
         "Error: Label 'tpuctl-owner' is reserved: tpuctl sets the tpuctl-* labels itself.\n"),
        (["describe", "nothing-here"], ExitCode.NOT_FOUND, "Error: There is no TPU named 'nothing-here' in any zone of the project.\n"),
    ],
)
def test_bad_input_is_one_sentence_and_a_documented_code(cli, remote_env, args, code, message):
    result = cli(*args)
    assert result.code == code
    assert result.err.splitlines(keepends=True)[0] == message
    assert "Traceback" not in result.err
    assert cli("list", "--json").json == []


def test_type_the_zone_does_not_offer(cli, remote_env):
    result = cli("create", "x5", "--type", "v5p-8")
    assert result.code == ExitCode.USAGE
    assert result.err.startswith(f"Error: Could not create TPU 'x5' in {ZONE}: ")
    assert cli("list", "--json").json == []


def test_unknown_zone(cli, remote_env):
    result = cli("list", "--zone", "mars-central1-a")
    assert result.code in (ExitCode.USAGE, ExitCode.NOT_FOUND)
    assert result.err.startswith("Error: Could not list TPUs in mars-central1-a: ")


def test_name_taken(cli, remote_env):
    assert cli("create", "twice", "--type", "v4-8").code == 0
    again = cli("create", "twice", "--type", "v4-8")
    assert again.code == ExitCode.CONFLICT
    assert again.err.startswith(f"Error: Could not create TPU 'twice' in {ZONE}: the name is already taken")


def test_capacity_exhausted(cli, remote_env):
    remote_env.set_capacity(ZONE, "v4", 4)
    assert cli("create", "first", "--type", "v4-8").code == 0
    second = cli("create", "second", "--type", "v4-8")
    assert second.code == ExitCode.CAPACITY
    assert "Hint: Try another zone, a smaller type, or `tpuctl create --queue`" in second.err
    assert [n["name"] for n in cli("list", "--json").json] == ["first"]


def test_api_unreachable(cli, remote_env, monkeypatch):
    monkeypatch.setenv("TPUCTL_API_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("TPUCTL_RETRIES", "1")
    result = cli("list")
    assert result.code == ExitCode.UNAVAILABLE
    assert result.err.startswith("Error: Could not list TPUs in us-central2-b: the Cloud TPU API is unreachable")


@pytest.mark.slow
def test_injected_503s_are_retried(cli, remote_env, instant_waits):
    remote_env.inject_faults(status=503, count=2)
    result = cli("list", "--json")
    assert (result.code, result.json) == (0, [])


def test_lost_create_reply_makes_one_node(cli, remote_env, instant_waits):
    remote_env.inject_faults(status=503, count=1, method="POST", after_apply=True)
    result = cli("create", "once", "--type", "v4-8", "--json")
    assert result.code == 0, result.err
    assert result.json["state"] == "READY"
    assert [n["name"] for n in cli("list", "--json").json] == ["once"]


def test_errors_as_json_envelope(cli, remote_env):
    result = cli("describe", "ghost", "--json")
    assert result.code == ExitCode.NOT_FOUND
    assert result.json["error"]["code"] == "not_found"
    assert result.json["error"]["exit_code"] == ExitCode.NOT_FOUND


def test_types_show_chips_and_the_hourly_price(cli, remote_env):
    result = cli("types", "--json")
    assert result.code == 0
    by_name = {t["type"]: t for t in result.json}
    # v4 lists at $3.22 (spot $0.92) per chip-hour in the shipped price file; v4-8 has 4 chips.
    assert by_name["v4-8"] == {"type": "v4-8", "generation": "v4", "chips": 4, "hosts": 1, "currency": "USD",
                               "per_hour": "12.880000", "spot_per_hour": "3.680000"}
    assert by_name["v4-32"]["hosts"] == 4 and by_name["v4-32"]["per_hour"] == "51.520000"
    table = cli("types").out
    assert "PER HOUR" in table and "$12.88" in table and "$3.68" in table


def test_versions_and_zones(cli, remote_env):
    assert "tpu-ubuntu2204-base" in cli("versions", "--json").json
    assert ZONE in cli("zones", "--json").json


def test_a_type_the_zone_does_not_offer_points_at_tpuctl_types(cli, remote_env):
    result = cli("create", "zz", "--type", "v5p-8", "--hours", "1")
    assert result.code == ExitCode.USAGE
    assert result.err == ("Error: Could not create TPU 'zz' in us-central2-b: Accelerator type 'v5p-8' is not "
                          "available in zone us-central2-b.\n"
                          "Hint: `tpuctl types --zone us-central2-b` lists the types it offers.\n")


def test_describe_says_yes_or_no_and_dash_for_what_is_not_set(cli, remote_env):
    assert cli("create", "plain", "--type", "v4-8", "--hours", "1").code == 0
    lines = dict(line.split(":", 1) for line in cli("describe", "plain").out.splitlines())
    assert lines["spot"].strip() == "no" and lines["queued_resource"].strip() == "-"
