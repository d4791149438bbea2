"""`tpuctl reap`, `extend` and `keep` against the emulator, with one settable clock for both."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import real_now
from tests.reap.conftest import ZONE, beat, ledger_payloads
from tpuctl.errors import ExitCode

HOUR = 3600


def names(cli) -> dict[str, str]:
    return {n["name"]: n["state"] for n in cli("list", "--json").json}




def create(cli, name: str, *extra: str, type_: str = "v4-8") -> None:
    result = cli("create", name, "--type", type_, *extra)
    assert result.code == 0, result.err


@pytest.mark.slow
def test_an_expired_lease_is_warned_then_deleted_and_the_owner_sees_why(cli, shared_clock, store):
    create(cli, "a1", "--hours", "1")
    shared_clock.advance(HOUR + 60)
    beat(store, "a1", busy=[("job", "j1")], at=shared_clock.now())

    first = cli("reap")
    assert first.code == 0, first.err
    assert " done warn us-central2-b/a1 (owner alice): lease ended at " in first.out
    act_at = shared_clock.now() + timedelta(hours=1)
    when = f"{act_at:%Y-%m-%d %H:%M} UTC"
    listed = cli("list")
    assert f"Warning: a1 will be deleted at {when}: lease ended (`tpuctl extend a1 --hours H` renews it)." in listed.err
    assert f"reaper:          will be deleted at {when}: lease ended" in cli("describe", "a1").out
    assert f"Reaper: a1: deleted at {when} unless acted on: lease ended" in cli("spend").out

    shared_clock.advance(30 * 60)                             # inside the window: nothing
    beat(store, "a1", busy=[("job", "j1")], at=shared_clock.now())
    assert "nothing to reap" in cli("reap").out
    assert names(cli) == {"a1": "READY"}

    shared_clock.advance(31 * 60)
    beat(store, "a1", busy=[("job", "j1")], at=shared_clock.now())
    second = cli("reap")
    assert " done delete us-central2-b/a1 (owner alice): lease ended" in second.out
    assert names(cli) == {}
    spent = cli("spend", "--json").json
    assert [(n["kind"], n["action"], n["rule"]) for n in spent["reaper"]] == [("warned", "delete", "lease"),
                                                                             ("acted", "delete", "lease")]
    assert "a1: deleted by the reaper at " in cli("spend").out
    deleted = ledger_payloads(store, "node.deleted")
    assert [d["reason"][:26] for d in deleted] == ["reaper: lease ended at 202"]


def test_what_the_reaper_ends_is_billed_as_the_emulator_ran_it(cli, shared_clock, remote_env, store):
    create(cli, "a1", "--hours", "1")
    shared_clock.advance(HOUR + 90)
    assert " done delete us-central2-b/a1 " in cli("reap", "--warn", "0").out
    [ran] = [u for u in remote_env.usage() if u["node"].endswith("/a1")]
    ran_seconds = sum(float(i["chipSeconds"]) for i in ran["intervals"]) / ran["chips"]
    [billed] = cli("spend", "--json").json["nodes"]
    assert billed["status"] == "deleted" and abs(billed["seconds"] - ran_seconds) <= 1


def test_a_heartbeat_a_member_wrote_by_hand_says_nothing(cli, shared_clock, store):
    """Garbage, or a report from the future, neither crashes the reaper nor keeps a TPU alive;
    the TPU counts as silent, so idle only after the grace from creation."""
    create(cli, "junk", "--hours", "24")
    create(cli, "future", "--hours", "24")
    shared_clock.advance(20 * 60)
    store.write(f"agents/{ZONE}/junk/beat/w0.json", b"{not json")
    beat(store, "future", busy=[("job", "j1")], at=shared_clock.now() + timedelta(days=30))
    assert "nothing to reap" in cli("reap").out                  # inside the grace and --idle: kept
    shared_clock.advance(30 * 60)
    result = cli("reap")
    assert result.code == 0, result.err
    assert names(cli) == {"junk": "STOPPED", "future": "STOPPED"}


def test_warn_0_deletes_an_expired_lease_at_once(cli, shared_clock, store):
    create(cli, "a1", "--hours", "0.002")
    shared_clock.advance(60)
    assert cli("reap", "--warn", "0").code == 0
    assert names(cli) == {}


def test_extend_renews_through_admission_and_clears_the_warning(cli, group, shared_clock, store):
    create(cli, "a1", "--hours", "1")                         # $12.88 of alice's $30
    shared_clock.advance(HOUR + 60)
    beat(store, "a1", busy=[("ssh", "alice from 10.0.0.2")], at=shared_clock.now())
    assert cli("reap").code == 0
    refused = cli("extend", "a1", "--hours", "2")             # $25.76 more: over her month
    assert refused.code == ExitCode.BUDGET
    assert refused.err.startswith("Error: Refused: alice's budget for ")
    done = cli("extend", "a1", "--hours", "0.5")
    assert done.code == 0, done.err
    assert "; the reaper's warning (deleted at " in done.out
    assert "Warning: a1" not in cli("list").err
    until = shared_clock.now() + timedelta(minutes=30)
    assert cli("describe", "a1", "--json").json["lease_until"] == f"{until:%Y-%m-%dT%H:%M:%S}.000000Z"
    shared_clock.advance(2 * HOUR)                            # a new expiry is warned afresh, not deleted
    beat(store, "a1", busy=[("ssh", "alice")], at=shared_clock.now())
    assert " done warn " in cli("reap").out
    assert names(cli) == {"a1": "READY"}
    assert len(ledger_payloads(store, "node.lease_extended")) == 1


@pytest.mark.slow
def test_idle_comes_from_the_heartbeats(cli, shared_clock, store):
    for name, extra in [("idle-od", ()), ("idle-spot", ("--spot",)), ("busy-old", ()), ("ssh", ()), ("young", ())]:
        create(cli, name, "--hours", "24", *extra)
    shared_clock.advance(2 * HOUR)
    create(cli, "fresh", "--hours", "24")
    now = shared_clock.now()
    beat(store, "idle-od", at=now, idle_since=now - timedelta(minutes=45))
    beat(store, "idle-spot", at=now, idle_since=now - timedelta(minutes=45))
    beat(store, "busy-old", busy=[("device", "pid 4242 holds /dev/accel0")], at=now)
    beat(store, "ssh", busy=[("ssh", "alice from 10.0.0.2")], at=now)
    beat(store, "young", at=now, idle_since=now - timedelta(minutes=10))
    result = cli("reap")
    assert result.code == 0, result.err
    assert " done stop us-central2-b/idle-od (owner alice): idle for 45 min (its agents report nothing" in result.out
    assert " done delete us-central2-b/idle-spot " in result.out
    assert names(cli) == {"idle-od": "STOPPED", "busy-old": "READY", "ssh": "READY", "young": "READY",
                          "fresh": "READY"}
    shared_clock.advance(40 * 60)                              # agents of the others stop reporting
    beat(store, "busy-old", busy=[("job", "j1")], at=shared_clock.now())
    cli("reap")
    assert names(cli) == {"idle-od": "STOPPED", "busy-old": "READY", "ssh": "STOPPED", "young": "STOPPED",
                          "fresh": "READY"}


def test_a_kept_tpu_survives_idleness_until_its_date_but_never_its_lease(cli, shared_clock, store):
    create(cli, "a1", "--hours", "48")
    create(cli, "a2", "--hours", "2")
    kept = cli("keep", "a1", "--until", "1d", "--reason", "debugging")
    assert kept.code == 0, kept.err
    assert "kept from the idle and budget rules until " in kept.out
    assert cli("keep", "a2", "--until", "3d").code == 0
    shared_clock.advance(3 * HOUR)                             # silent: idle by now, a2's lease over too
    out = cli("reap").out
    assert " done warn us-central2-b/a2 " in out and "a1" not in out
    assert names(cli) == {"a1": "READY", "a2": "READY"}
    assert ledger_payloads(store, "keep.set")[0]["node"] == "a1"
    shared_clock.advance(22 * HOUR)
    cli("reap")
    assert names(cli) == {"a1": "STOPPED"}


def test_an_unmanaged_tpu_survives_unless_asked(cli, shared_clock, api):
    api.create_node(ZONE, "console", accelerator_type="v4-8", runtime_version="tpu-ubuntu2204-base", spot=True,
                    labels={})
    shared_clock.advance(2 * HOUR)
    assert "nothing to reap" in cli("reap").out
    assert names(cli) == {"console": "READY"}
    assert " done delete us-central2-b/console (owner unattributed): idle " in cli("reap", "--include-unmanaged").out


def test_preempted_tpus_and_failed_requests_are_deleted(cli, shared_clock, remote_env):
    create(cli, "p1", "--spot", "--hours", "4")
    assert cli("queue", "create", "q1", "--type", "v4-8", "--valid-for", "1h", "--hours", "1").code == 0
    remote_env.set_capacity(ZONE, "v4", 0)
    assert cli("queue", "create", "q2", "--type", "v4-8", "--valid-for", "1h", "--hours", "1").code == 0
    remote_env.preempt(ZONE, "p1")
    shared_clock.advance(2 * HOUR)                             # q2 waited past its validity: FAILED
    result = cli("reap", "--json")
    assert result.code == 0, result.err
    done = {(o["action"], o["name"]): o["status"] for o in result.json["outcomes"]}
    assert done == {("delete", "p1"): "done", ("delete_queued", "q2"): "done", ("warn", "q1"): "done"}
    assert "p1" not in names(cli)
    assert [q["name"] for q in cli("queue", "list", "--json").json] == ["q1"]


def test_a_zone_whose_listing_failed_is_untouched(cli, shared_clock, remote_env):
    create(cli, "a1", "--spot", "--hours", "4")
    create(cli, "b1", "--spot", "--hours", "4", "--zone", "us-east1-d", type_="v6e-1")
    remote_env.preempt(ZONE, "a1")
    remote_env.preempt("us-east1-d", "b1")
    remote_env.configure(unreachable_zones=["us-east1-d"])
    result = cli("reap")
    assert "Warning: us-east1-d could not be listed; nothing there was touched." in result.err
    assert " done delete us-central2-b/a1 " in result.out and "b1" not in result.out
    remote_env.configure(unreachable_zones=[])
    assert {n["name"] for n in cli("list", "-A", "--json").json} == {"b1"}


def test_a_second_reaper_does_nothing_and_names_the_holder(cli, shared_clock, remote_env, store):
    from tpuctl.services.reap_lock import ReaperLock

    create(cli, "a1", "--spot", "--hours", "4")
    remote_env.preempt(ZONE, "a1")
    other = ReaperLock(store, shared_clock, "bob")
    assert other.acquire() is None
    result = cli("reap")
    assert result.code == 0
    assert result.out.startswith("Another reaper is running: bob@")
    assert names(cli) == {"a1": "PREEMPTED"}
    shared_clock.advance(16 * 60)                              # bob's reaper died: its lease ran out
    assert " done delete us-central2-b/a1 " in cli("reap").out


def test_the_cap_stops_a_mass_deletion(cli, shared_clock, remote_env):
    for i in range(3):
        create(cli, f"p{i}", "--spot", "--hours", "4")
        remote_env.preempt(ZONE, f"p{i}")
    result = cli("reap", "--max-actions", "2")
    assert result.code == ExitCode.ABORTED
    assert "Error: The reaper planned 3 actions, more than --max-actions 2; it did nothing." in result.err
    assert result.out.count(" would delete ") == 3
    assert names(cli) == {"p0": "PREEMPTED", "p1": "PREEMPTED", "p2": "PREEMPTED"}


def test_dry_run_changes_nothing(cli, shared_clock, remote_env, store):
    create(cli, "p1", "--spot", "--hours", "4")
    remote_env.preempt(ZONE, "p1")
    result = cli("reap", "--dry-run")
    assert result.code == 0
    assert " would delete us-central2-b/p1 (owner alice): preempted; it holds quota and its name" in result.out
    assert names(cli) == {"p1": "PREEMPTED"}
    assert ledger_payloads(store, "reap.acted") == [] and ledger_payloads(store, "reap.ran") == []


def test_list_spend_and_budget_show_warn_when_the_reaper_stopped_running(cli, group, shared_clock):
    assert cli("reap", "--every", "10m").code == 0
    assert "reaper" not in cli("list").err
    shared_clock.advance(31 * 60)
    for args in (("list",), ("spend",), ("budget", "show"), ("list", "--json")):
        err = cli(*args).err
        assert "Warning: the reaper has not run for 31m00s (last run " in err, args
        assert "every 10m00s): expired and idle TPUs are not being torn down." in err
    assert cli("reap", "--every", "10m").code == 0
    assert cli("list").err == ""


def test_cron_line(cli, remote_env, monkeypatch, tmp_path):
    line = cli("reap", "--cron-line", "--every", "10m").out.strip()
    assert line.startswith("*/10 * * * * PATH=")
    assert " TPUCTL_PROFILE=default " in line or " TPUCTL_PROFILE=" in line
    assert line.endswith(f" reap --every 10m >> {tmp_path / 'data' / 'reap.log'} 2>&1")


def test_over_budget_policy_stops_a_spent_members_tpus_after_the_window(cli, group, shared_clock, store):
    create(cli, "a1", "--hours", "2")                          # $25.76 of $30
    shared_clock.advance(HOUR * 2 + 1800)                     # spent $32.20: over, and the lease ended
    assert cli("extend", "a1", "--hours", "1", "--override", "x").code == ExitCode.BUDGET
    monkey = group
    monkey.setenv("TPUCTL_MEMBER", "tess")
    assert cli("extend", "a1", "--hours", "3", "--override", "demo day").code == 0
    monkey.setenv("TPUCTL_MEMBER", "alice")
    beat(store, "a1", busy=[("job", "j1")], at=shared_clock.now())
    first = cli("reap", "--over-budget", "stop", "--warn", "30m")
    assert " done warn us-central2-b/a1 (owner alice): alice's budget for the month is spent; stopped at " in first.out
    shared_clock.advance(31 * 60)
    beat(store, "a1", busy=[("job", "j1")], at=shared_clock.now())
    assert " done stop us-central2-b/a1 " in cli("reap", "--over-budget", "stop", "--warn", "30m").out
    assert names(cli) == {"a1": "STOPPED"}


@pytest.mark.parametrize("reaper", ["alice", "tess"])
def test_in_a_signed_group_what_the_reaper_ends_is_billed_as_the_emulator_ran_it(cli, group, shared_clock, remote_env,
                                                                                 reaper):
    create(cli, "a1", "--hours", "1")
    create(cli, "a2", "--hours", "1", "--spot")
    shared_clock.advance(HOUR + 90)
    group.setenv("TPUCTL_MEMBER", reaper)
    reaped = cli("reap", "--warn", "0", "--over-budget", "stop")
    assert " done delete us-central2-b/a1 " in reaped.out and " done delete us-central2-b/a2 " in reaped.out, reaped.out
    shared_clock.advance(HOUR)                                 # billed on, were the deletions not counted
    verified = cli("ledger", "verify", "--json")
    assert verified.code == 0 and verified.json == [], verified.out
    group.setenv("TPUCTL_MEMBER", "alice")
    billed = {n["node"]: n for n in cli("spend", "--json").json["nodes"]}
    for usage in remote_env.usage():
        name = usage["node"].rsplit("/", 1)[1]
        ran_seconds = sum(float(i["chipSeconds"]) for i in usage["intervals"]) / usage["chips"]
        assert billed[name]["status"] == "deleted" and abs(billed[name]["seconds"] - ran_seconds) <= 1, billed[name]


def test_the_reaper_seals_old_events_and_a_new_laptops_first_sync_reads_them(cli, shared_clock, store, tmp_path,
                                                                             monkeypatch):
    from tests.services.test_segments import write_usage

    shared_clock.set(real_now())                                            # sealing asks the store the time
    write_usage(store, shared_clock.now() - timedelta(hours=30), 520)      # 1,040 events a day old
    create(cli, "a1", "--hours", "3")                                       # and young ones
    reaped = cli("reap", "--json")
    assert reaped.code == 0 and reaped.json["sealed"]["events"] == 1040, reaped.out
    assert len(list(store.list("ledger/segments/"))) == reaped.json["sealed"]["segments"] >= 1
    assert cli("reap", "--json").json["sealed"] == {"events": 0, "segments": 0, "problem": None}
    mine = cli("spend", "--json").json
    monkeypatch.setenv("TPUCTL_DATA_DIR", str(tmp_path / "new-laptop"))
    assert cli("sync").code == 0
    assert cli("spend", "--json").json == mine and cli("ledger", "verify", "--json").json == []


def test_a_reaper_whose_clock_is_off_still_reaps_and_says_it_did_not_seal(cli, shared_clock, store):
    from tests.services.test_segments import write_usage

    shared_clock.set(real_now())
    write_usage(store, shared_clock.now() - timedelta(hours=30), 520)
    shared_clock.advance(600)                                   # ten minutes ahead of the store
    reaped = cli("reap")
    assert reaped.code == 0 and "nothing to reap" in reaped.out
    assert reaped.err.startswith("Warning: Your clock is ") and " s ahead of the group store's, so tpuctl will not " \
        "seal events. (the next run tries to seal again)" in reaped.err
    assert list(store.list("ledger/segments/")) == []


def test_a_reaper_whose_key_the_group_does_not_know_is_refused_before_it_touches_anything(cli, group, shared_clock,
                                                                                         api):
    create(cli, "a1", "--hours", "1")
    shared_clock.advance(HOUR + 90)
    group.setenv("TPUCTL_MEMBER", "dave")                     # never added: what he records would not count
    refused = cli("reap", "--warn", "0")
    assert refused.code == ExitCode.PERMISSION
    assert refused.err.startswith("Error: The group knows no key for dave, so nothing dave records would count.")
    assert [(n.name, n.state) for n in api.list_nodes(None)] == [("a1", "READY")]
    assert cli("reap", "--dry-run").code == 0                 # looking is fine
