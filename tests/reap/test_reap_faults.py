"""The reaper under faults: 503s on a fifth of the calls, and a reaper killed mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from tests.conftest import real_now
from tests.reap.conftest import ZONE, ledger_payloads
from tpuctl.services.nodes import owner_labels


def preempted_fleet(api, emulator, shared_clock, count: int) -> list[str]:
    """`count` spot TPUs of alice's, made as tpuctl makes them, all preempted."""
    names = [f"p{i:03d}" for i in range(count)]
    for name in names:
        api.create_node(ZONE, name, accelerator_type="v4-8", runtime_version="tpu-ubuntu2204-base", spot=True,
                        labels=owner_labels("alice", shared_clock.now(), f"r{name}"), wait=False)
    for name in names:
        emulator.preempt(ZONE, name)
    return names




@pytest.mark.slow
def test_with_a_fifth_of_calls_failing_every_decided_action_happens_once(cli, shared_clock, api, remote_env, store,
                                                                          monkeypatch):
    names = preempted_fleet(api, remote_env, shared_clock, 15)
    monkeypatch.setenv("TPUCTL_RETRIES", "10")
    remote_env.configure(fail_rate=0.2, seed=11)
    before = remote_env.request_count
    result = cli("reap", "--json", "--max-actions", "50")
    remote_env.configure(fail_rate=0.0)
    assert result.code == 0, result.err
    assert result.json["counts"] == {"done": 15, "gone": 0, "skipped": 0, "failed": 0}
    assert remote_env.request_count - before > 2 * 15                 # retries happened
    assert api.list_nodes(None) == []
    assert sorted(Counter(e["node"] for e in ledger_payloads(store, "reap.acted")).items()) == [(n, 1) for n in names]
    reaped = [e["node"] for e in ledger_payloads(store, "node.deleted") if (e.get("reason") or "").startswith("reaper:")]
    assert sorted(reaped) == names


@pytest.mark.slow
def test_a_reaper_killed_mid_run_is_completed_by_the_next_with_nothing_done_twice(cli, shared_clock, api, remote_env,
                                                                                  store, tmp_path):
    shared_clock.set(real_now())                    # the killed reaper is another process, on the real clock
    names = preempted_fleet(api, remote_env, shared_clock, 70)
    remote_env.configure(latency_ms=150)
    env = {**os.environ, "TPUCTL_RETRIES": "3"}
    killed = subprocess.Popen([sys.executable, "-m", "tpuctl", "reap", "--max-actions", "100"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline, seen = time.monotonic() + 60, set()

    def acted_yet() -> bool:            # reads only the events new since the last look: quick even under load
        fresh = [key for key in store.list("ledger/events/") if key not in seen]
        seen.update(fresh)
        return any(b'"reap.acted"' in store.read(key) for key in fresh)

    while not acted_yet() and time.monotonic() < deadline and killed.poll() is None:
        time.sleep(0.02)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    remote_env.configure(latency_ms=0)
    first = Counter(e["node"] for e in ledger_payloads(store, "reap.acted"))
    left = {n.name for n in api.list_nodes(None)}
    assert first and left, "the kill should land mid-run"

    held = cli("reap")                                          # the dead reaper's lock still holds
    assert held.code == 0 and held.out.startswith("Another reaper is running: alice@")
    shared_clock.advance(16 * 60)                               # until its lease runs out
    second = cli("reap", "--max-actions", "100")
    assert second.code == 0, second.err
    assert api.list_nodes(None) == []
    acted = Counter(e["node"] for e in ledger_payloads(store, "reap.acted"))
    assert max(acted.values()) == 1                             # nothing done twice
    assert set(acted) <= set(names) and set(acted) >= left      # what was left, the second run did
    assert "nothing to reap" in cli("reap").out


def test_a_store_gone_mid_run_keeps_the_reapers_events_in_the_outbox_and_every_tpu_is_still_reaped(
        cli, group, shared_clock, remote_env, api, store, tmp_path):
    for name in ("a1", "a2"):                            # alice's $30 in a signed group
        assert cli("create", name, "--type", "v4-8", "--hours", "1").code == 0
    shared_clock.advance(2 * 3600)
    folder, aside = tmp_path / "store", tmp_path / "store-unmounted"

    def unmount(node):                                   # the first deletion takes the store away
        if not aside.exists():
            folder.rename(aside)
            folder.write_text("the mount is gone")

    remote_env.hooks["gone"] = unmount
    try:
        reaped = cli("reap", "--warn", "0")
    finally:
        remote_env.hooks["gone"] = None
    assert reaped.code == 0, reaped.err
    assert reaped.out.count(" done delete ") == 2 and api.list_nodes(None) == []
    assert reaped.err.count("keeps its ledger events in the local outbox") == 1
    assert list(tmp_path.rglob("*.outbox/*.json"))

    folder.unlink()
    aside.rename(folder)
    assert cli("sync").code == 0
    assert list(tmp_path.rglob("*.outbox/*.json")) == []
    assert sorted(Counter(e["node"] for e in ledger_payloads(store, "reap.acted")).items()) == [
        ("a1", 1), ("a2", 1)]
    assert sorted(e["node"] for e in ledger_payloads(store, "node.deleted")) == ["a1", "a2"]
    assert cli("ledger", "verify", "--json").json == []
    ran = {u["node"].rsplit("/", 1)[1]: sum(float(i["chipSeconds"]) for i in u["intervals"]) / u["chips"]
           for u in remote_env.usage()}
    billed = {n["node"]: n["seconds"] for n in cli("spend", "--json").json["nodes"]}
    assert billed.keys() == ran.keys() and all(abs(billed[n] - ran[n]) <= 1 for n in ran), (billed, ran)

