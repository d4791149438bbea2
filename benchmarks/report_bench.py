"""Report benchmark: the treasurer's month report over 1,000,000 events on the materialised
view (goal: under 1 s), in every breakdown and with a TRC grant, against baselines measured in
the same run: `budget show` (the pre-summed spend every member sees), and a naive report that
reads every event of the events table and replays it in Python (no view).

    python benchmarks/report_bench.py              # 1,000,000 events (a few minutes, most of it materialising)
    python benchmarks/report_bench.py --quick      # 50,000 events
    python benchmarks/report_bench.py --events N
    python benchmarks/report_bench.py --view /tmp/view.db   # keep the materialised view and reuse it next time
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from ledger_bench import MONTH_START, generate, materialise
from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.user_files import load_price_table
from tpuctl.domain.clock import ManualClock
from tpuctl.domain.events import GRANT_SET, Event, new_event
from tpuctl.domain.intervals import node_histories
from tpuctl.domain.metering import month_usage, price_usage
from tpuctl.domain.prices import pricing_for
from tpuctl.domain.report import BY
from tpuctl.domain.times import format_time
from tpuctl.services.ledger import Books
from tpuctl.services import report as svc

MONTH = "2026-05"
GOAL_S = 1.0
RUNS = 3


def timed(run, runs: int = RUNS) -> tuple[float, object]:
    """Median seconds of `runs` calls, and the last result."""
    samples, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def naive_total(db: LedgerDB, clock, table) -> tuple[int, object]:
    """The month's chip-seconds and cost from every event body, replayed in Python."""
    events = [Event.from_trusted_json(body) for (body,) in db.conn.execute("SELECT body FROM events")]
    histories = node_histories(events)
    now = clock.now()
    intervals = [i for state, closed in histories.values() for i in closed]
    intervals += [i for state, _ in histories.values() if (i := state.open_interval(now)) is not None]
    usage = sum(month_usage(intervals, MONTH).values(), Counter())
    return sum(usage.values()), price_usage(usage, pricing_for(db.rules(), table))


def ensure_view(db: LedgerDB, n_events: int) -> None:
    if db.event_count() >= n_events * 0.99 and not db.rules().trc_grants:
        print(f"reusing the view {db.path}: {db.event_count():,} events")
        return
    db.reset()
    t = time.perf_counter()
    objects = [event.to_json() for event in generate(n_events)]
    print(f"generated {len(objects):,} events in {time.perf_counter() - t:.1f} s")
    seconds = materialise(db, objects)
    print(f"materialised {db.event_count():,} events in {seconds:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to generate (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="a quick run: 50,000 events")
    parser.add_argument("--view", type=Path, help="the view's file: kept, and reused when it holds the events")
    args = parser.parse_args(argv)
    n_events = 50_000 if args.quick else args.events
    table = load_price_table()
    clock = ManualClock(MONTH_START + timedelta(days=30, hours=12))     # the month's last day: TPUs still run
    took: dict[str, float] = {}

    def report(db: LedgerDB, by: str, name: str):
        took[name], result = timed(lambda: svc.month_report(db, None, clock, table, month=MONTH, by=by, sync=False))
        print(f"{name:<28} {took[name] * 1000:8.1f} ms  ({len(result.lines)} lines, total "
              f"{result.total.estimate:.2f}, free chip-hours {result.total.free_chip_hours:.0f})")
        return result

    with tempfile.TemporaryDirectory() as folder:
        with LedgerDB(args.view or Path(folder) / "view.db") as db:
            ensure_view(db, n_events)
            by_member = None
            for by in BY:
                result = report(db, by, f"report --by {by}")
                by_member = by_member or result
            spend_s, _ = timed(lambda: Books(None, db, clock, table, "bench").month(MONTH))
            print(f"{'baseline: budget show':<28} {spend_s * 1000:8.1f} ms  (the pre-summed spend)")
            naive_s, (chip_seconds, amount) = timed(lambda: naive_total(db, clock, table), runs=1)
            assert chip_seconds == by_member.total.chip_seconds, "the naive replay must meter the same chip-seconds"
            assert abs(amount.money - by_member.total.estimate) < 1, "and price them the same (to rounding)"
            print(f"{'baseline: naive replay':<28} {naive_s * 1000:8.0f} ms  (read and replay every event; "
                  f"total {amount.money:.2f})")
            granted = Path(folder) / "granted.db"
            db.conn.execute("VACUUM INTO ?", (str(granted),))
        with LedgerDB(granted) as db:            # a copy, so a kept view stays without the grant
            db.ingest([new_event(GRANT_SET, "member00", {
                "zone": "us-central2-b", "generation": "v4", "model": "on_demand", "chips": 16,
                "start": format_time(MONTH_START), "until": format_time(MONTH_START + timedelta(days=40))},
                MONTH_START + timedelta(seconds=3))])
            for by in ("member", "day"):
                report(db, by, f"report --by {by}, TRC grant")
    worst = max(took.values())
    print(f"slowest report {worst * 1000:.0f} ms (goal < {GOAL_S * 1000:.0f} ms: {'met' if worst < GOAL_S else 'MISSED'}); "
          f"naive replay / report --by member: {naive_s / took['report --by member']:.0f}x, / the slowest: "
          f"{naive_s / worst:.0f}x; report --by member / budget show: {took['report --by member'] / spend_s:.1f}x")
    return 0 if worst < GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
