"""A member passing 50 %, 90 % and 100 % of their allowance is told so once each, on their
next command (GCP Budgets only e-mails, and never says who).

A v4-8 on demand costs $12.88 an hour; alice may spend $100 this month. tpuctl and the
emulator share one clock, set mid-month.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.cli.conftest import start_group

HOUR = 3600


@pytest.fixture
def group(cli, shared_clock, monkeypatch, join):
    shared_clock.set(datetime(2026, 12, 10, 12, tzinfo=timezone.utc))
    start_group(cli, monkeypatch, join, "100")
    return monkeypatch


def test_spending_past_50_then_90_then_100_percent_says_each_once(cli, group, shared_clock):
    said = []

    def run(*args: str) -> str:
        result = cli(*args)
        assert result.code == 0, result.err
        said.extend(line for line in result.err.splitlines() if line.startswith("Note:"))
        return result.err

    run("create", "a1", "--type", "v4-8", "--hours", "7")
    assert run("spend") == ""
    shared_clock.advance(4 * HOUR)                              # $51.52
    assert run("spend", "--json") == "Note: You have used 50% of your 2026-12 allowance ($51.52 of $100.00).\n"
    assert run("list") == ""
    shared_clock.advance(3 * HOUR)                              # $90.16
    run("spend")
    run("spend")
    shared_clock.advance(HOUR)                                  # $103.04
    run("list")
    run("spend")
    assert said == ["Note: You have used 50% of your 2026-12 allowance ($51.52 of $100.00).",
                    "Note: You have used 90% of your 2026-12 allowance ($90.16 of $100.00).",
                    "Note: You have used all of your 2026-12 allowance ($103.04 of $100.00); new TPUs will be refused."]


def test_a_jump_past_two_thresholds_says_only_the_higher_and_others_are_not_told(cli, group, shared_clock):
    assert cli("create", "a1", "--type", "v4-8", "--hours", "7").code == 0
    shared_clock.advance(7 * HOUR)
    assert cli("spend").err == "Note: You have used 90% of your 2026-12 allowance ($90.16 of $100.00).\n"
    group.setenv("TPUCTL_MEMBER", "tess")
    assert cli("budget", "show").err == ""                       # the treasurer has no allowance of her own
