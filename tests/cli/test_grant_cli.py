"""The group's TRC grant end to end: the treasurer records it, members' requests are priced by
it before anything is made, spend and reports agree, and everyone is warned before it ends.

tpuctl and the emulator share one clock, set to 2026-12-10 12:00 UTC. v4 lists at $3.22 per
chip-hour on demand and $0.92 spot; a v4-8 has 4 chips, a v4-32 16, a v4-64 32.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.cli.conftest import start_group
from tpuctl.errors import ExitCode

START = datetime(2026, 12, 10, 12, tzinfo=timezone.utc)
HOUR = 3600
GRANT = ("grant", "add", "--zone", "us-central2-b", "--type", "v4", "--chips", "32", "--model", "spot")


@pytest.fixture
def group(cli, shared_clock, monkeypatch, join):
    """Treasurer tess; alice and bob may each spend $100 a month; the clock at START."""
    shared_clock.set(START)
    start_group(cli, monkeypatch, join, "100")
    join("bob", by="tess")
    assert cli("budget", "set", "100").code == 0
    monkeypatch.setenv("TPUCTL_MEMBER", "alice")
    return monkeypatch


def as_member(group, name: str) -> None:
    group.setenv("TPUCTL_MEMBER", name)


def ok(result):
    assert result.code == 0, result.err
    return result


def spent(cli, member: str) -> str:
    return ok(cli("spend", "--member", member, "--json")).json["spent"]


def test_the_treasurer_records_the_grant_and_everyone_sees_it(cli, group, shared_clock):
    refused = cli(*GRANT, "--until", "2026-12-30")
    assert refused.code == ExitCode.PERMISSION
    assert refused.err.startswith("Error: alice is not a treasurer of this group, so cannot record the TRC grant.")

    as_member(group, "tess")
    added = ok(cli(*GRANT, "--until", "2026-12-30"))
    assert added.out == ("The group's TRC grant now gives 32 free spot v4 chips in us-central2-b "
                         "until 2026-12-31 00:00 UTC.\n")
    as_member(group, "alice")
    assert ok(cli("create", "a1", "--type", "v4-32", "--spot", "--hours", "4"))
    shown = ok(cli("grant", "show", "--json")).json["grants"]
    assert shown == [{"zone": "us-central2-b", "generation": "v4", "model": "spot", "chips": 32, "running_chips": 16,
                      "in_use_chips": 16, "free_chips": 16, "start": "2026-12-10T12:00:00.000000Z",
                      "until": "2026-12-31T00:00:00.000000Z", "days_left": 21, "status": "active", "set_by": "tess"}]
    table = ok(cli("grant", "show")).out
    assert "us-central2-b  v4    spot   32     16      16        2026-12-31 00:00  21" in table

    as_member(group, "tess")                                       # a new count and end replace it
    ok(cli(*GRANT[:7], "64", *GRANT[8:], "--until", "2027-01-15"))
    assert [(g["chips"], g["until"][:10]) for g in cli("grant", "show", "--json").json["grants"]] == \
        [(64, "2027-01-16")]
    assert cli(*GRANT, "--until", "2026-12-01").err == ("Error: --until 2026-12-01 has passed: a grant must end "
                                                         "in the future.\n")
    assert cli("grant", "add", "--zone", "us-central2-b", "--type", "v4-8", "--chips", "8", "--model", "spot",
               "--until", "2026-12-30").code == ExitCode.USAGE

    shared_clock.advance(HOUR)
    ended = ok(cli("grant", "end", "--zone", "us-central2-b", "--type", "v4", "--model", "spot"))
    assert ended.out == ("The group's TRC grant for spot v4 in us-central2-b has ended: those TPUs cost list "
                         "price now.\n")
    assert [(g["status"], g["days_left"]) for g in cli("grant", "show", "--json").json["grants"]] == [("ended", 0)]
    assert cli("grant", "end", "--zone", "us-central2-b", "--type", "v4", "--model", "spot").err.startswith(
        "Error: Not recorded: there is no grant for spot v4 in us-central2-b running at 2026-12-10 13:00.")


def test_a_request_partly_inside_the_grant_is_priced_for_the_part_outside(cli, group, shared_clock):
    as_member(group, "tess")
    ok(cli(*GRANT, "--until", "2026-12-30"))
    as_member(group, "alice")
    inside = ok(cli("create", "a1", "--type", "v4-32", "--spot", "--hours", "4"))
    assert "Inside the group's TRC grant: free until 2026-12-31 00:00 UTC.\n" in inside.err
    assert "$0.00/hour, up to $0.00 for the lease; $100.00 of your 2026-12 budget left after it." in inside.out

    shared_clock.advance(HOUR)
    as_member(group, "bob")
    partly = ok(cli("create", "b1", "--type", "v4-64", "--spot", "--hours", "4"))
    assert ("16 of its 32 chips are outside the group's TRC grant: $14.72/hour (16 chips free until "
            "2026-12-31 00:00 UTC).\n") in partly.err
    assert "$14.72/hour, up to $58.88 for the lease; $41.12 of your 2026-12 budget left after it." in partly.out
    outside = ok(cli("create", "b2", "--type", "v4-8", "--hours", "1"))     # on demand: not in a spot grant
    assert "Outside the group's TRC grant: $12.88/hour.\n" in outside.err

    shared_clock.advance(HOUR)                 # alice's TPU ends: bob's moves up to all 32 free chips
    as_member(group, "alice")
    ok(cli("delete", "a1", "--yes"))
    as_member(group, "bob")
    ok(cli("delete", "b2", "--yes"))
    shared_clock.advance(HOUR)
    assert spent(cli, "alice") == "0.000000"
    assert spent(cli, "bob") == "27.600000"             # 16 paid chips for an hour, then none; b2 an hour
    nodes = {n["node"]: n["cost"] for n in cli("spend", "--member", "bob", "--json").json["nodes"]}
    assert nodes == {"b1": "14.720000", "b2": "12.880000"}

    report = ok(cli("report", "--format", "json")).json
    lines = {line["key"]: line for line in report["lines"]}
    assert (lines["alice"]["free_chip_hours"], lines["alice"]["estimate"]) == ("32.000000", "0.000000")
    assert (lines["bob"]["free_chip_hours"], lines["bob"]["estimate"]) == ("48.000000", "27.600000")
    assert report["total"]["free_chip_hours"] == "80.000000" and report["total"]["estimate"] == "27.600000"
    csv_lines = ok(cli("report", "--format", "csv")).out.splitlines()
    assert csv_lines[0].split(",")[4:8] == ["chip_hours", "spot_chip_hours", "free_chip_hours", "estimate"]
    assert [row.split(",")[3:8] for row in csv_lines[1:]] == [
        ["alice", "32.000000", "32.000000", "32.000000", "0.000000"],
        ["bob", "68.000000", "64.000000", "48.000000", "27.600000"],
        ["tess", "0.000000", "0.000000", "0.000000", "0.000000"],
        ["total", "100.000000", "96.000000", "80.000000", "27.600000"]]
    md = ok(cli("report", "--format", "md")).out
    assert "| bob | 68.00 | 64.00 | 48.00 | $27.60 | $100.00 | 28% |" in md
    assert "| free chip-hours (grant) | 80.000000 |" in md
    by_day = ok(cli("report", "--by", "day", "--format", "json")).json
    assert by_day["total"]["free_chip_hours"] == "80.000000" and by_day["total"]["estimate"] == "27.600000"


def test_an_ended_grant_prices_at_list_and_metering_agrees(cli, group, shared_clock):
    as_member(group, "tess")
    ok(cli(*GRANT, "--until", "2026-12-10"))                          # through today: ends at midnight
    as_member(group, "alice")
    ok(cli("create", "a1", "--type", "v4-8", "--spot", "--hours", "24"))
    shared_clock.advance(14 * HOUR)                                    # 12 hours inside, 2 after
    assert spent(cli, "alice") == "7.360000"                          # 4 chips x 2 h x $0.92
    after = ok(cli("create", "a2", "--type", "v4-8", "--spot", "--hours", "1"))
    assert "Outside the group's TRC grant (it ended 2026-12-11 00:00 UTC): $3.68/hour.\n" in after.err
    assert "$3.68/hour, up to $3.68 for the lease" in after.out
    doc = ok(cli("report", "--format", "json")).json
    assert doc["total"]["free_chip_hours"] == "48.000000" and doc["total"]["estimate"] == "7.360000"


def test_everyone_is_warned_once_a_week_and_a_day_before_the_grant_ends(cli, group, shared_clock):
    as_member(group, "tess")
    ok(cli(*GRANT, "--until", "2026-12-16"))                          # ends 2026-12-17 00:00: 6.5 days
    week = ("Note: The group's TRC grant (32 spot v4 chips in us-central2-b) ends in 7 days, at 2026-12-17 00:00 "
            "UTC; after that those TPUs cost list price.\n")
    day = ("Note: The group's TRC grant (32 spot v4 chips in us-central2-b) ends in 22 hours, at 2026-12-17 00:00 "
           "UTC; after that those TPUs cost list price.\n")
    as_member(group, "alice")
    first = ok(cli("spend", "--json"))
    assert first.err == week
    assert first.json["who"] == "alice"                             # stdout stays JSON
    assert ok(cli("spend")).err == ""
    as_member(group, "bob")
    assert ok(cli("budget", "show")).err == week
    assert ok(cli("spend")).err == ""

    shared_clock.set(datetime(2026, 12, 16, 2, tzinfo=timezone.utc))
    as_member(group, "alice")
    assert ok(cli("spend")).err == day
    assert ok(cli("spend")).err == ""
    as_member(group, "bob")
    assert ok(cli("spend")).err == day


def test_extending_a_tpu_inside_the_grant_keeps_it_free(cli, group):
    as_member(group, "tess")
    ok(cli(*GRANT[:7], "16", *GRANT[8:], "--until", "2026-12-30"))
    as_member(group, "alice")
    ok(cli("create", "a1", "--type", "v4-32", "--spot", "--hours", "1"))
    extended = ok(cli("extend", "a1", "--hours", "2"))
    assert "Inside the group's TRC grant: free until 2026-12-31 00:00 UTC.\n" in extended.err
    assert "outside" not in extended.err.lower()
    assert ok(cli("spend", "--json")).json["committed"] == "0.000000"


def test_a_job_is_told_the_grants_part_before_its_tpu_is_made(cli, group, remote_env, tmp_path, monkeypatch):
    as_member(group, "tess")
    ok(cli(*GRANT, "--until", "2026-12-30"))
    as_member(group, "alice")
    remote_env.set_capacity("us-central2-b", "v4", 0)          # its TPU cannot be made
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.yaml").write_text("name: outside\ntpu: {type: v4-8}\nrun: echo hi\n")
    refused = cli("run", "job.yaml")
    assert refused.code == ExitCode.CAPACITY, refused.err
    assert "Outside the group's TRC grant: $12.88/hour.\n" in refused.err


def test_a_grant_a_member_writes_into_the_store_prices_nothing_and_is_named(cli, group, shared_clock):
    import os

    from tests.cli.test_forgery_cli import signed
    from tpuctl.adapters.store import open_store
    from tpuctl.domain.events import GRANT_SET
    from tpuctl.domain.times import format_time

    store = open_store(os.environ["TPUCTL_STORE"])
    payload = {"zone": "us-central2-b", "generation": "v4", "model": "spot", "chips": 64,
               "start": format_time(START), "until": format_time(datetime(2026, 12, 31, tzinfo=timezone.utc))}
    forged = signed(GRANT_SET, "alice", payload, store)        # alice's own key, but alice is no treasurer
    store.create(forged.key, forged.to_json())
    assert ok(cli("grant", "show", "--json")).json == {"grants": []}
    made = ok(cli("create", "a1", "--type", "v4-8", "--spot", "--hours", "1"))
    assert "TRC grant" not in made.err
    assert "$3.68/hour, up to $3.68 for the lease" in made.out                # 4 spot chips at list price
    shared_clock.advance(HOUR)
    assert spent(cli, "alice") == "3.680000"
    [problem] = cli("ledger", "verify", "--json").json
    assert problem["key"] == forged.key and "alice is not a treasurer" in problem["message"]
