"""A first sync from a bucket reads many event objects at once and loses none of them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tpuctl.adapters import keys
from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import open_store
from tpuctl.domain.events import BUDGET_SET, EVENTS_PREFIX, budget_payload, new_event
from tpuctl.services import group as group_svc
from tpuctl.services import sync as svc
from tpuctl.domain.clock import ManualClock

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=timezone.utc)


def test_a_first_sync_from_a_bucket_reads_in_parallel_and_gets_every_event_in_order(gcs_bucket, tmp_path):
    store = open_store(f"gs://{gcs_bucket}/group")
    assert store.parallel_reads > 1
    clock = ManualClock(T0)
    genesis = group_svc.init_group(store, LedgerDB(tmp_path / "writer.db"), clock, "tess", ["tess"])
    for i in range(3 * store.parallel_reads):      # budget decisions, each replacing the one before
        event = new_event(BUDGET_SET, "tess", budget_payload(scope="member", member="bob", amount=i),
                          T0 + timedelta(seconds=i + 1)).signed(keys.signing_key("tess"), genesis.id)
        store.create(event.key, event.to_json())
    store.create(f"{EVENTS_PREFIX}2026/05/not-an-event.json", b"{}")

    fresh = LedgerDB(tmp_path / "reader.db")
    result = svc.sync_from_store(store, fresh)
    assert (result.listed, result.new_events, result.bad_objects) == (3 * store.parallel_reads + 1,
                                                                      3 * store.parallel_reads, 1)
    assert fresh.rules().budget_for("2026-05", "bob").amount == 3 * store.parallel_reads - 1
