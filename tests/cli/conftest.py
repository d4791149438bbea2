"""What the CLI tests share: a group whose treasurer is tess and whose member alice has an allowance."""

from __future__ import annotations

import pytest

# A job that asks for a v4-8 for two hours: $25.76 of on-demand v4 at the shipped prices.
TWO_HOUR_JOB = """\
name: train
tpu: {type: v4-8}
hours: 2
run: python -c "print('hi')"
"""


def start_group(cli, monkeypatch, join, allowance: str) -> None:
    """Treasurer tess starts the group, adds alice with her key and gives her `allowance`;
    then alice acts."""
    monkeypatch.setenv("TPUCTL_MEMBER", "tess")
    assert cli("group", "init", "--treasurer", "tess").code == 0
    join("alice", by="tess")
    assert cli("budget", "set", "--member", "alice", allowance).code == 0
    monkeypatch.setenv("TPUCTL_MEMBER", "alice")


def alice_makes_a1(cli, act_as) -> None:
    """alice creates TPU a1 (a v4-8 for an hour): a TPU another member does not own."""
    act_as("alice")
    assert cli("create", "a1", "--type", "v4-8", "--hours", "1").code == 0


@pytest.fixture
def act_as(monkeypatch):
    """Run the next commands as this member: `act_as("bob")`."""
    return lambda member: monkeypatch.setenv("TPUCTL_MEMBER", member)


@pytest.fixture
def trio(cli, join, act_as):
    """Treasurer tess; members alice and bob with $100 a month each, all with keys. Returns act_as."""
    act_as("tess")
    assert cli("group", "init", "--treasurer", "tess").code == 0
    join("alice", by="tess")
    join("bob", by="tess")
    assert cli("budget", "set", "100").code == 0
    return act_as


@pytest.fixture
def group(cli, remote_env, monkeypatch, join):
    """Treasurer tess; alice may spend $60 a month."""
    start_group(cli, monkeypatch, join, "60")
    return monkeypatch
