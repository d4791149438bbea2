"""Play the scripted month of May 2026 (tpuctl/services/sample_month.py) into the local
profile's group store, and write the Cloud Billing export the emulator makes of it.

    .venv/bin/python examples/month-end/make_month.py            # the local profile's store
    .venv/bin/tpuctl report --month 2026-05
    .venv/bin/tpuctl report reconcile examples/month-end/billing-2026-05.csv --month 2026-05
    TPUCTL_MEMBER=tess .venv/bin/tpuctl report reconcile examples/month-end/billing-2026-05.csv --month 2026-05 --close
    .venv/bin/tpuctl ledger balance

The month runs on an emulator of its own with a clock that only moves when told, so the
figures are the same on every machine; billing-2026-05.csv is what this script writes with
--export-only. The group's treasurer is tess (TPUCTL_MEMBER=tess for --close).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import LocalStore
from tpuctl.adapters.tpu import TpuApi
from tpuctl.adapters.user_files import load_price_table
from tpuctl.config import resolve_profile
from tpuctl.emulator.models import WorldSettings
from tpuctl.emulator.server import EmulatorServer
from tpuctl.services import sample_month

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="group store folder (default: the local profile's)")
    parser.add_argument("--export-only", action="store_true", help="play into a throwaway store; write the CSV only")
    args = parser.parse_args()
    profile = resolve_profile()
    scratch = Path(tempfile.mkdtemp(prefix="tpuctl-month-"))
    store = scratch / "store" if args.export_only else Path(args.store or profile.store)
    if not args.export_only and any((store / "ledger").glob("**/*.json")):
        raise SystemExit(f"{store} already holds a ledger; pass --store with an empty folder.")
    with EmulatorServer(settings=WorldSettings(boot_seconds=0), manual_clock=True) as server:
        month = sample_month.Month(api=TpuApi(profile.project, server.url), store=LocalStore(store),
                                   db=LedgerDB(scratch / "ledger.db"), clock=server.clock,
                                   table=load_price_table(), profile=profile,
                                   preempt=lambda zone, node: server.preempt(zone, node, project=profile.project))
        sample_month.play(month)
        (HERE / "billing-2026-05.csv").write_text(server.billing_export("2026-05"), encoding="utf-8")
    print(f"May 2026 played into {store}; the bill is in {HERE / 'billing-2026-05.csv'}.")


if __name__ == "__main__":
    main()
