"""`tpuctl doctor` against the emulator and fake-gcs-server: all ok, and each failing line."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import _free_port
from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import LocalStore
from tpuctl.domain.clock import ManualClock, utcnow
from tpuctl.services.doctor import run_checks


def lines(result) -> dict[str, str]:
    return {line.split(":", 1)[0][5:]: line[:4].strip() for line in result.out.splitlines()}


def test_doctor_says_ok_to_every_line_when_all_hold(cli, remote_env):
    assert cli("group", "init", "--treasurer", "alice").code == 0
    result = cli("doctor")
    assert result.code == 0, result.out + result.err
    assert lines(result) == {"Cloud TPU API": "ok", "group store": "ok", "member": "ok", "clock": "ok", "reaper": "ok",
                             "outbox": "ok"}


def test_doctor_names_a_key_the_group_does_not_know_and_a_reaper_that_stopped(cli, remote_env, monkeypatch, tmp_path):
    from tpuctl.adapters.store import open_store
    from tpuctl.services.reap_lock import record_last_run

    assert cli("group", "init", "--treasurer", "alice").code == 0
    assert cli("group", "add", "bob").code == 0                     # listed, but no key given
    monkeypatch.setenv("TPUCTL_MEMBER", "bob")
    keyless = cli("doctor")
    assert keyless.code == 3 and lines(keyless)["member"] == "FIX"
    bobs = cli("whoami", "--json").json["key"]
    assert f"the group knows no key for them, so nothing they record counts: a treasurer runs " \
           f"`tpuctl group add bob --key {bobs}`." in keyless.out
    record_last_run(open_store(str(tmp_path / "store")), utcnow() - timedelta(hours=1), timedelta(minutes=5), "r1")
    stale = cli("doctor")
    assert lines(stale)["reaper"] == "FIX" and "The reaper has not run for 1h" in stale.out


def test_doctor_against_a_bucket(cli, remote_env, gcs_bucket, monkeypatch):
    monkeypatch.setenv("TPUCTL_STORE", f"gs://{gcs_bucket}/group")
    assert cli("group", "init", "--treasurer", "alice").code == 0
    assert cli("doctor").code == 0
    monkeypatch.setenv("TPUCTL_STORE", f"gs://{gcs_bucket}-gone/group")
    missing = cli("doctor")
    assert missing.code == 3 and lines(missing)["group store"] == "FIX"
    assert f"The bucket {gcs_bucket}-gone of the group store" in missing.out


def test_each_failing_line_says_what_to_fix(cli, remote_env, monkeypatch, tmp_path):
    assert cli("group", "init", "--treasurer", "alice").code == 0
    assert cli("create", "n1", "--type", "v4-8", "--hours", "1").code == 0

    monkeypatch.setenv("TPUCTL_MEMBER", "zed")
    stranger = cli("doctor")
    assert stranger.code == 3 and lines(stranger)["member"] == "FIX"
    assert "zed is not in the group: ask a treasurer to run `tpuctl group add zed`." in stranger.out
    monkeypatch.setenv("TPUCTL_MEMBER", "alice")

    folder = tmp_path / "store"
    folder.rename(tmp_path / "away")
    folder.write_text("gone")
    assert cli("delete", "n1", "--yes").code == 0                   # kept in the outbox
    away = cli("doctor")
    assert away.code == 3
    assert lines(away) == {"Cloud TPU API": "ok", "group store": "FIX", "outbox": "FIX"}
    assert "1 ledger event(s) wait in the local outbox" in away.out
    folder.unlink()
    (tmp_path / "away").rename(folder)
    assert cli("doctor").code == 0                                  # the outbox was written

    monkeypatch.setenv("TPUCTL_API_ENDPOINT", f"http://127.0.0.1:{_free_port()}")
    monkeypatch.setenv("TPUCTL_RETRIES", "1")
    no_api = cli("doctor")
    assert no_api.code == 3 and lines(no_api)["Cloud TPU API"] == "FIX"


def test_a_clock_ten_minutes_off_the_stores_is_named(tmp_path, api):
    store = LocalStore(tmp_path / "store")
    checks = run_checks(lambda: api, store, LedgerDB(tmp_path / "db"), ManualClock(utcnow() - timedelta(minutes=10)),
                        "alice", "us-central2-b")
    clock = next(c for c in checks if c.name == "clock")
    assert not clock.ok and clock.detail.startswith("This machine's clock is 60") and "behind the store's" in clock.detail
