"""Queued resources end to end: wait for capacity, FIFO, expiry, suspension, forced delete."""

from __future__ import annotations

import pytest

from tests.conftest import ZONE
from tpuctl.errors import ExitCode


def states(cli) -> dict[str, str]:
    return {q["name"]: q["state"] for q in cli("queue", "list", "--json").json}


def node_names(cli) -> list[str]:
    return [n["name"] for n in cli("list", "--json").json]


@pytest.fixture
def full_zone(cli, remote_env):
    """Room for exactly one v4-8 in the zone, and it is taken."""
    remote_env.set_capacity(ZONE, "v4", 4)
    assert cli("create", "blocker", "--type", "v4-8").code == 0
    return remote_env


def test_requests_wait_then_are_served_in_order(cli, full_zone):
    first = cli("queue", "create", "first", "--type", "v4-8", "--json")
    assert first.code == 0, first.err
    assert first.json["state"] in ("ACCEPTED", "WAITING_FOR_RESOURCES")
    assert cli("queue", "create", "second", "--type", "v4-8").code == 0
    full_zone.advance_clock(60)
    assert states(cli) == {"first": "WAITING_FOR_RESOURCES", "second": "WAITING_FOR_RESOURCES"}

    assert cli("delete", "blocker", "--yes").code == 0
    full_zone.advance_clock(60)
    assert states(cli) == {"first": "ACTIVE", "second": "WAITING_FOR_RESOURCES"}
    node = cli("describe", "first", "--json").json
    assert (node["owner"], node["state"], node["queued_resource"] is not None) == ("alice", "READY", True)
    assert node["lease_until"] is not None, "a queued node's lease counts from its creation"

    assert cli("queue", "delete", "first", "--force", "--yes").code == 0
    full_zone.advance_clock(60)
    assert states(cli) == {"second": "ACTIVE"}
    assert node_names(cli) == ["second"]


def test_valid_for_expires_to_failed(cli, full_zone):
    assert cli("queue", "create", "patient", "--type", "v4-8", "--valid-for", "1h").code == 0
    full_zone.advance_clock(2 * 3600)
    described = cli("queue", "describe", "patient", "--json").json
    assert described["state"] == "FAILED"
    assert described["failure"]
    assert "patient" in cli("queue", "list").out, "a failed request is still shown: it holds its place"


def test_spot_preemption_suspends_the_request(cli, remote_env):
    assert cli("queue", "create", "cheap", "--type", "v4-8", "--spot").code == 0
    remote_env.advance_clock(60)
    assert states(cli) == {"cheap": "ACTIVE"}
    remote_env.preempt(ZONE, "cheap")
    remote_env.advance_clock(60)
    assert states(cli)["cheap"] in ("SUSPENDING", "SUSPENDED")


def test_delete_without_force_keeps_nodes_and_says_how(cli, remote_env):
    assert cli("queue", "create", "held", "--type", "v4-8").code == 0
    remote_env.advance_clock(60)
    assert states(cli) == {"held": "ACTIVE"}
    refused = cli("queue", "delete", "held", "--yes")
    assert refused.code == ExitCode.CONFLICT
    assert "--force" in refused.err
    assert node_names(cli) == ["held"]
    dry = cli("queue", "delete", "held", "--force", "--dry-run")
    assert dry.out == f"Would delete queued resource held (ACTIVE in {ZONE}) and its TPUs held.\n"
    assert cli("queue", "delete", "held", "--force", "--yes").code == 0
    remote_env.advance_clock(60)
    assert (states(cli), node_names(cli)) == ({}, [])


def test_count_makes_several_nodes(cli, remote_env):
    result = cli("queue", "create", "trio", "--type", "v4-8", "--count", "3", "--json")
    assert result.code == 0, result.err
    assert result.json["nodes"] == ["trio-0", "trio-1", "trio-2"]
    remote_env.advance_clock(60)
    assert node_names(cli) == ["trio-0", "trio-1", "trio-2"]


def test_create_queue_falls_back_to_queueing(cli, full_zone):
    result = cli("create", "eager", "--type", "v4-8", "--queue", "--no-wait", "--json")
    assert result.code == 0, result.err
    assert "No capacity for v4-8 in us-central2-b now: queueing eager." in result.err
    assert result.json["state"] in ("ACCEPTED", "WAITING_FOR_RESOURCES")
    assert node_names(cli) == ["blocker"]

    assert cli("delete", "blocker", "--yes").code == 0        # capacity frees: the queue makes the node
    full_zone.tick()
    observed = sorted((e["kind"], e["node"]) for e in cli("sync", "--json").json["observed"])
    # A new incarnation, billed from its creation, not the failed create's closed record started again.
    assert observed == [("node.created", "eager"), ("node.ready", "eager"), ("queued.provisioned", "eager")]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--type", "v9-8"], "Error: 'v9-8' is not a TPU accelerator type.\n"),
        (["--type", "v4-8", "--valid-for", "soon"], "Error: --valid-for 'soon' is not a duration.\n"),
        (["--type", "v4-8", "--count", "0"], "Error: --count must be at least 1, not 0.\n"),
        (["--type", "v4-8", "--spot", "--guaranteed"], "Error: A request is either --spot or --guaranteed, not both.\n"),
    ],
)
def test_bad_queue_input_creates_nothing(cli, remote_env, args, message):
    result = cli("queue", "create", "ok-name", *args)
    assert result.code == ExitCode.USAGE
    assert result.err.splitlines(keepends=True)[0] == message
    assert states(cli) == {}


def test_bad_queue_name(cli, remote_env):
    result = cli("queue", "create", "Not_Valid", "--type", "v4-8")
    assert result.code == ExitCode.USAGE
    assert result.err.startswith("Error: 'Not_Valid' is not a valid queued resource name.")
    assert states(cli) == {}


@pytest.mark.slow
def test_waited_stops_counting_once_the_request_is_active(cli, full_zone):
    assert cli("queue", "create", "patient", "--type", "v4-8").code == 0
    full_zone.advance_clock(600)
    assert cli("delete", "blocker", "--yes").code == 0              # capacity frees after ten minutes
    full_zone.tick()
    full_zone.advance_clock(3600)                                    # an hour later it still waited ten
    shown = cli("queue", "describe", "patient", "--json").json
    assert shown["state"] == "ACTIVE" and 600 <= shown["waited_seconds"] < 660
    listed = cli("queue", "list").out.splitlines()
    assert listed[0].split()[5] == "WAITED" and listed[1].split()[5].startswith("10m")
