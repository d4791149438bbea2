"""The scripted month (tpuctl/services/sample_month.py) played against the test emulator."""

from __future__ import annotations

import pytest

from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import LocalStore
from tpuctl.adapters.tpu import RetryPolicy, TpuApi
from tpuctl.config import resolve_profile
from tpuctl.emulator.models import WorldSettings
from tpuctl.adapters.user_files import load_price_table
from tpuctl.services import sample_month

PROJECT = "local-project"


@pytest.fixture
def month(emulator, tmp_path):
    """May 2026 played into a folder store and a ledger view; the clock at June 1st noon."""
    emulator.reset(WorldSettings(boot_seconds=0))
    api = TpuApi(PROJECT, emulator.url, retry=RetryPolicy(initial=0.01), poll_interval=0.01)
    played = sample_month.Month(api=api, store=LocalStore(tmp_path / "store"), db=LedgerDB(tmp_path / "ledger.db"),
                                clock=emulator.clock, table=load_price_table(), profile=resolve_profile(),
                                preempt=lambda zone, node: emulator.preempt(zone, node, project=PROJECT))
    sample_month.play(played)
    yield played
    played.db.close()


@pytest.fixture
def month_env(month, emulator, monkeypatch, tmp_path):
    """The CLI pointed at the played month as its treasurer."""
    monkeypatch.setenv("TPUCTL_API_ENDPOINT", emulator.url)
    monkeypatch.setenv("TPUCTL_PROJECT", PROJECT)
    monkeypatch.setenv("TPUCTL_ZONE", "us-central2-b")
    monkeypatch.setenv("TPUCTL_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("TPUCTL_MEMBER", "tess")
    return month
