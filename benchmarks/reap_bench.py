"""The reaper at scale: 500 TPUs across 10 zones, every API reply 100 ms late, all to be
deleted (preempted, or past their lease with `--warn 0`). The reap acts in parallel; the
baseline does the same work one call at a time (the same reap with one worker). Both run in
one run, against the same emulator (its own process, as Cloud TPU is), on worlds built the
same way; before each, the ledger has seen the TPUs (as the previous cron run's sync would).

    python benchmarks/reap_bench.py [--tpus 500] [--latency-ms 100] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import LocalStore
from tpuctl.adapters.tpu import RetryPolicy, TpuApi
from tpuctl.adapters.user_files import load_price_table
from tpuctl.domain.clock import SystemClock
from tpuctl.domain.reaping import ReapPolicy
from tpuctl.services.ledger import Books
from tpuctl.services.nodes import owner_labels
from tpuctl.services.reap import WORKERS, reap

# ten zones and a small type each offers (the emulator's catalogue)
ZONES = {"us-central1-a": "v5litepod-1", "us-central1-b": "v2-8", "us-central1-c": "v3-8", "us-central1-f": "v2-8",
         "us-central2-b": "v4-8", "us-east1-d": "v6e-1", "us-east5-a": "v5p-8", "us-west4-a": "v5litepod-1",
         "europe-west4-a": "v6e-1", "europe-west4-b": "v5p-8"}
PROJECT = "bench"

sys.path.insert(0, str(Path(__file__).parent))
from run import free_port, start_emulator  # noqa: E402  (benchmarks/run.py, beside this file)


def control(url: str, verb: str, body: dict) -> None:
    """The emulator's control surface: POST /emulator/v1/<verb>."""
    request = urllib.request.Request(f"{url}/emulator/v1/{verb}", json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=30).read()


def build_world(url: str, api: TpuApi, clock: SystemClock, count: int) -> None:
    """`count` tpuctl TPUs spread over the zones: half preempted spot ones, half past their lease."""
    control(url, "reset", {"boot_seconds": 0})
    zones = list(ZONES)
    for i in range(count):
        zone = zones[i % len(zones)]
        spot = i % 2 == 0
        lease = clock.now() + (timedelta(hours=4) if spot else timedelta(minutes=-5))
        api.create_node(zone, f"n{i:04d}", accelerator_type=ZONES[zone], runtime_version="tpu-ubuntu2204-base",
                        spot=spot, labels=owner_labels("alice", lease, f"r{i:04d}"), wait=False)
        if spot:
            control(url, "preempt", {"zone": zone, "node": f"n{i:04d}"})


def one_reap(url: str, count: int, latency_ms: float, workers: int, folder: Path) -> tuple[float, int]:
    clock = SystemClock()
    api = TpuApi(PROJECT, url, retry=RetryPolicy(initial=0.05), poll_interval=0.01)
    build_world(url, api, clock, count)
    store = LocalStore(folder / "store")
    with LedgerDB(folder / "ledger.sqlite", store_url=store.url) as db:
        Books(store, db, clock, None, "reaper").observe(api)          # what the last run's sync saw
        control(url, "configure", {"latency_ms": latency_ms})
        books = Books(store, db, clock, load_price_table(), "reaper")
        start = time.perf_counter()
        result = reap(api, books, ReapPolicy(warn=timedelta(0)), max_actions=10 * count, workers=workers)
        elapsed = time.perf_counter() - start
    control(url, "configure", {"latency_ms": 0})
    if result.failed or result.count("done") != count:
        raise SystemExit(f"the reap did not finish cleanly: {result.count('done')} done, {len(result.failed)} failed")
    return elapsed, result.count("done")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tpus", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--quick", action="store_true", help="100 TPUs (a smoke run)")
    args = parser.parse_args(argv)
    count = 100 if args.quick else args.tpus
    port = free_port()
    with tempfile.TemporaryDirectory() as temp:
        emulator = start_emulator(port, {**os.environ, "TPUCTL_DATA_DIR": temp})
        url = f"http://127.0.0.1:{port}"
        try:
            parallel, done = one_reap(url, count, args.latency_ms, WORKERS, Path(temp) / "parallel")
            serial, _ = one_reap(url, count, args.latency_ms, 1, Path(temp) / "serial")
        finally:
            emulator.terminate()
            emulator.wait()
    ratio = parallel / serial
    print(f"{done} TPUs in {len(ZONES)} zones, {args.latency_ms:g} ms per API reply")
    print(f"| reap | wall time |\n|---|---|\n| {WORKERS} at a time | {parallel:.1f} s |\n"
          f"| one call at a time | {serial:.1f} s |")
    print(f"parallel / serial = {ratio:.3f} (target <= 0.1): {'met' if ratio <= 0.1 else 'MISSED'}")
    return 0 if ratio <= 0.1 else 1


if __name__ == "__main__":
    sys.exit(main())
