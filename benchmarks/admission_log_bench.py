"""Admission with the admission log against admission without it (the two-step check, then
write, that members racing could all pass), both measured in the same run.

The ledger view holds a month of a 50-member group (benchmarks/ledger_bench.py's events,
1,000,000 by default). Before each timed admission another member is admitted on another
machine, so each one reads one new entry, as in a busy group; the log grows by two entries a
call and every entry stays within the 15-minute grace, so all of them are weighed.

1. a local-folder store: median and p95 over `--calls` admissions (target < 50 ms);
2. a GCS bucket (a real fake-gcs-server) behind a proxy that adds `--rtt-ms` to every request.

    python benchmarks/admission_log_bench.py              # 1,000,000 events (a few minutes)
    python benchmarks/admission_log_bench.py --quick      # 50,000 events
    python benchmarks/admission_log_bench.py --ledger /tmp/tpuctl-admission-bench-*/ledger.db   # measure again
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from ledger_bench import MEMBERS, MONTH_START, TYPES, generate, materialise     # beside this file
from store_sync_bench import start_fake_gcs, start_latency_proxy

from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import LocalStore, open_store
from tpuctl.adapters.user_files import load_price_table
from tpuctl.domain.budgets import RequestRefused, UsageRequest, admit_request
from tpuctl.domain.clock import ManualClock
from tpuctl.domain.metering import committed_usage, merge, month_of, running_usage
from tpuctl.domain.prices import pricing_for
from tpuctl.services.ledger import Books
from tpuctl.services.sync import sync_from_store

TARGET_MS = 50.0


def without_log(store, db, clock, table, request):
    """Admission as it was before the log: sync, then decide from the ledger view alone."""
    sync_from_store(store, db)
    now = clock.now()
    month, rules, open_nodes = month_of(now), db.rules(), db.open_nodes()
    spent = merge(db.month_usage(month), running_usage(open_nodes, month, now))
    return admit_request(request, month=month, spent=spent,
                         committed=committed_usage(open_nodes, db.waiting_queued(), now), rules=rules,
                         pricing=pricing_for(rules, table))


def with_log(store, db, clock, table, request):
    return Books(store, db, clock, table, request.member).admit(request)


def measure(store, db, other_db, clock, table, calls: int) -> dict[str, list[float]]:
    """Alternate the two ways call by call (so drift hits both), another member first each time."""
    timings: dict[str, list[float]] = {"without the log": [], "with the log": []}
    for call in range(-1, calls):                # call -1 warms up (imports, clients, caches)
        zone, accelerator, _ = TYPES[call % len(TYPES)]
        other = UsageRequest.for_type("newcomer", zone, accelerator, False, 1, request_id=f"o{call}-{time.time_ns()}")
        with_log(store, other_db, clock, table, other)
        for name, admit in (("without the log", without_log), ("with the log", with_log)):
            request = UsageRequest.for_type(MEMBERS[call % len(MEMBERS)], zone, accelerator, False, 8,
                                            request_id=f"r{call}-{name[:4]}-{time.time_ns()}")
            start = time.perf_counter()
            try:
                admit(store, db, clock, table, request)
            except RequestRefused:
                pass
            if call >= 0:
                timings[name].append((time.perf_counter() - start) * 1000)
        clock.advance(1)
    return timings


def report(title: str, timings: dict[str, list[float]]) -> tuple[float, float]:
    print(title)
    stats = {}
    for name, samples in timings.items():
        samples.sort()
        stats[name] = statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]
        print(f"  {name:<18} median {stats[name][0]:8.2f} ms   p95 {stats[name][1]:8.2f} ms")
    (base_median, base_p95), (median, p95) = stats["without the log"], stats["with the log"]
    print(f"  {'ratio with/without':<18} median {median / base_median:7.2f}x    p95 {p95 / base_p95:7.2f}x"
          f"   (added: median {median - base_median:+.2f} ms)")
    return median, p95


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the ledger (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="a quick run: 50,000 events, fewer calls")
    parser.add_argument("--calls", type=int, default=200, help="timed admissions on the folder store")
    parser.add_argument("--gcs-calls", type=int, default=40, help="timed admissions on the bucket")
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    parser.add_argument("--ledger", type=Path, help="reuse the ledger database an earlier run built")
    args = parser.parse_args(argv)
    n_events, calls, gcs_calls = (50_000, 50, 10) if args.quick else (args.events, args.calls, args.gcs_calls)

    tmp = Path(tempfile.mkdtemp(prefix="tpuctl-admission-bench-"))
    t = time.perf_counter()
    if args.ledger:                  # a ledger an earlier run built (its admission log is forgotten)
        db = LedgerDB(args.ledger)
        for table in ("admission_log", "admission_log_read"):
            db.conn.execute(f"DELETE FROM {table}")
    else:
        db = LedgerDB(tmp / "ledger.db")
        objects = [event.to_json() for event in generate(n_events)]
        materialise(db, objects)
        del objects[:]
        gc.collect()
        print(f"(the ledger stays in {tmp / 'ledger.db'} for --ledger)")
    print(f"ledger: {db.event_count():,} events, {len(db.open_nodes()):,} nodes running "
          f"(built in {time.perf_counter() - t:.0f} s)")
    table = load_price_table()
    clock = ManualClock(MONTH_START + timedelta(days=30, hours=12))

    folder = LocalStore(tmp / "store")
    median, p95 = report(f"local-folder store, {calls} admissions each:",
                         measure(folder, db, LedgerDB(tmp / "other-folder.db"), clock, table, calls))
    met = median < TARGET_MS and p95 < TARGET_MS
    print(f"  target < {TARGET_MS:.0f} ms (median and p95) with the log: {'met' if met else 'MISSED'}")

    proc, url = start_fake_gcs(tmp / "gcs.log")
    try:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        storage.Client(project="bench", credentials=AnonymousCredentials(),
                       client_options={"api_endpoint": url}).create_bucket("bench-admission")
        os.environ["STORAGE_EMULATOR_HOST"] = start_latency_proxy(url, args.rtt_ms / 1000)
        bucket = open_store("gs://bench-admission/group")
        report(f"GCS bucket (fake-gcs-server, +{args.rtt_ms:g} ms RTT), {gcs_calls} admissions each:",
               measure(bucket, db, LedgerDB(tmp / "other-gcs.db"), clock, table, gcs_calls))
    finally:
        proc.terminate()
        proc.wait()
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
