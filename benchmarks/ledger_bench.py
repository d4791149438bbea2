"""Ledger benchmark: a month of a 50-member group, 100,000 usage intervals, 1,000,000 events.

Measures (1) materialising the events into a fresh SQLite ledger (as a first `tpuctl sync`
does) and an incremental sync of late events, and (2) budget admission latency, median and
p95 over 200 calls, against a baseline in the same run that answers the same question by
scanning every interval row of the month (no pre-summed table, no index).

    python benchmarks/ledger_bench.py              # full size (about a minute or two)
    python benchmarks/ledger_bench.py --quick      # 50,000 events
    python benchmarks/ledger_bench.py --events N
    python benchmarks/ledger_bench.py --signatures [--events N]   # unsigned vs signed, same run
    python benchmarks/ledger_bench.py --segments [--objects] [--before REF]   # bulk load against the old paths
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import LocalStore
from tpuctl.adapters.user_files import load_price_table
from tpuctl.domain.budgets import RequestRefused, UsageRequest
from tpuctl.domain.clock import ManualClock
from tpuctl.domain.events import (
    BUDGET_SET, GROUP_INITIALIZED, Event, NODE_CREATED, NODE_DELETED, NODE_READY, QUEUED_CREATED, QUEUED_PROVISIONED,
    budget_payload, new_event, node_payload, queued_payload,
)
from tpuctl.domain.metering import PriceKey
from tpuctl.services import sync as svc
from tpuctl.services.ledger import Books

MONTH_START = datetime(2026, 5, 1, tzinfo=timezone.utc)
MONTH_SECONDS = 31 * 86400
MEMBERS = [f"member{i:02d}" for i in range(50)]
TYPES = [("us-central2-b", "v4-8", 4), ("us-central1-a", "v5litepod-8", 8), ("europe-west4-a", "v6e-8", 8),
         ("us-central1-b", "v2-8", 4), ("us-east5-a", "v5p-8", 4)]
EVENTS_PER_INTERVAL = 10      # queue created/provisioned, created, ready, 5 sightings by syncs, deleted
ADMISSION_CALLS = 200
REBUILD_ROUNDS = 2
TARGET_MS = 50.0


def generate(n_events: int, seed: int = 1) -> list:
    """Every event of the month, in recording order, with 1% arriving late (out of order)."""
    rnd = random.Random(seed)
    n_intervals = n_events // EVENTS_PER_INTERVAL
    events = [new_event(GROUP_INITIALIZED, "member00", {"treasurers": ["member00"], "currency": "USD"}, MONTH_START)]
    events += [new_event(BUDGET_SET, "member00", budget_payload(scope="member", member=m, amount=10**6),
                         MONTH_START + timedelta(seconds=1)) for m in MEMBERS]
    events.append(new_event(BUDGET_SET, "member00", budget_payload(scope="group", amount=10**8),
                            MONTH_START + timedelta(seconds=2)))
    for i in range(n_intervals):
        owner = MEMBERS[i % len(MEMBERS)]
        zone, accelerator, chips = TYPES[i % len(TYPES)]
        start = MONTH_START + timedelta(seconds=60 + rnd.randrange(MONTH_SECONDS - 8 * 3600))
        length = timedelta(seconds=rnd.randrange(600, 6 * 3600))
        running = i >= n_intervals - 500                  # the last few still run at month's end
        lease = start + length + timedelta(hours=2)
        queued = queued_payload(zone=zone, name=f"q{i}", node=f"n{i}", accelerator_type=accelerator, chips=chips,
                                spot=i % 3 == 0, owner=owner, lease_hours="4", request_id=f"r{i}")
        node = node_payload(zone=zone, node=f"n{i}", accelerator_type=accelerator, chips=chips, spot=i % 3 == 0,
                            owner=owner, lease_until=lease, request_id=f"r{i}")
        seen = {**node, "source": "observed"}
        steps = [(QUEUED_CREATED, queued, start - timedelta(seconds=50)),
                 (QUEUED_PROVISIONED, queued, start - timedelta(seconds=20)),
                 (NODE_CREATED, node, start - timedelta(seconds=20)), (NODE_READY, node, start)]
        steps += [(NODE_READY, seen, start + length * (k + 1) / 6) for k in range(5)]
        steps.append((NODE_DELETED, node, start + length))
        for kind, payload, when in steps[:-1] if running else steps:
            events.append(new_event(kind, owner, payload, when))
    events.sort(key=lambda e: e.id)
    arrival = [i + (rnd.randrange(1, 50_000) if rnd.random() < 0.01 else 0) for i in range(len(events))]
    return [event for _, event in sorted(zip(arrival, events, strict=True), key=lambda pair: pair[0])]


def materialise(db: LedgerDB, objects: list[bytes], batch: int = svc.SYNC_BATCH) -> float:
    """What a sync does once it has read the objects: decode them and ingest in batches."""
    start = time.perf_counter()
    for offset in range(0, len(objects), batch):
        db.ingest([Event.from_json(data) for data in objects[offset:offset + batch]])
    return time.perf_counter() - start


def as_segments(objects: list[bytes], size: int = 100_000) -> list[tuple[str, bytes]]:
    """The same events sealed into segments as `tpuctl ledger compact` writes them."""
    from tpuctl.domain.segments import encode, segment_key

    events = sorted((Event.from_json(data) for data in objects), key=lambda e: e.id)
    sealed = []
    for offset in range(0, len(events), size):
        run = events[offset:offset + size]
        start, end = run[0].recorded, run[-1].recorded + timedelta(milliseconds=1)
        sealed.append((segment_key(start), encode(start, end, [(e.key, e.to_json()) for e in run])))
    return sealed


def materialise_segments(db: LedgerDB, sealed: list[tuple[str, bytes]]) -> float:
    """The old path from segments: decode, check every event, ingest batch by batch (each
    batch reads and writes the replay state of its nodes in the view)."""
    from tpuctl.domain.segments import decode
    from tpuctl.services.segments import SEGMENT_BATCH, _parse_entries

    start = time.perf_counter()
    for key, data in sealed:
        entries = decode(key, data).entries
        for offset in range(0, len(entries), SEGMENT_BATCH):
            events, again, _ = _parse_entries(key, entries[offset:offset + SEGMENT_BATCH])
            assert not again
            db.ingest(events)
    return time.perf_counter() - start


def sealed_store(folder: Path, sealed: list[tuple[str, bytes]]) -> LocalStore:
    """A folder store holding only these segments (no event objects)."""
    store = LocalStore(folder)
    for key, data in sealed:
        store.create(key, data)
    return store


def materialise_bulk(db: LedgerDB, store: LocalStore) -> float:
    """The new path: a first `tpuctl sync` of a store of segments, which fills the fresh view
    in one bulk load (tpuctl/adapters/ledger_load.py)."""
    start = time.perf_counter()
    svc.sync_from_store(store, db, readers=1)
    return time.perf_counter() - start


def size_mib(path: Path) -> float:
    """The view's file and its write-ahead log."""
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20


class FullScanLedger(LedgerDB):
    """The baseline: month usage summed from every interval row, no index, no pre-sums."""

    def month_usage(self, month, owner=None):
        usage: dict[str, Counter] = {}
        rows = self.conn.execute(
            "SELECT owner, zone, generation, accelerator_type, spot, chips * (end - start) * charged "
            "FROM intervals NOT INDEXED WHERE month = ?", (month,))
        for member, zone, generation, accelerator, spot, chip_seconds in rows:
            if owner in (None, member):
                usage.setdefault(member, Counter())[PriceKey(zone, generation, accelerator, bool(spot))] += chip_seconds
        return usage


def admission_latency(db: LedgerDB, store: LocalStore, table, clock) -> tuple[float, float, object]:
    """Each admission also writes its entry to the admission log in a fresh folder store."""
    timings, result = [], None
    books = {member: Books(store, db, clock, table, member).sync() for member in MEMBERS}     # admission alone is timed
    for call in range(ADMISSION_CALLS):
        zone, accelerator, _ = TYPES[call % len(TYPES)]
        request = UsageRequest.for_type(MEMBERS[call % len(MEMBERS)], zone, accelerator, spot=False, hours=8,
                                        request_id=f"bench-{call}")
        start = time.perf_counter()
        try:
            result = books[request.member].admit(request)
        except RequestRefused as refused:
            result = refused.admission
        timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1], result


def signed_copies(events: list) -> tuple[bytes, list[bytes]]:
    """The genesis and every event signed by its actor, each member given a key by member00."""
    from tpuctl.adapters.keys import signing_key
    from tpuctl.domain.events import MEMBER_ADDED

    keys = {member: signing_key(member) for member in MEMBERS}      # this machine's, as admission checks
    genesis = new_event(GROUP_INITIALIZED, "member00", {"treasurers": ["member00"], "currency": "USD",
                                                        "keys": {"member00": keys["member00"].public}},
                        MONTH_START - timedelta(seconds=1))
    genesis = genesis.signed(keys["member00"], genesis.id)
    added = [new_event(MEMBER_ADDED, "member00", {"member": m, "key": keys[m].public}, MONTH_START)
             for m in MEMBERS[1:]]
    body = [e for e in events if e.kind != GROUP_INITIALIZED]
    return genesis.to_json(), [e.signed(keys[e.actor], genesis.id).to_json() for e in added + body]


def admission_p(db: LedgerDB, folder: str, name: str, table, clock) -> tuple[float, float]:
    median, p95, _ = admission_latency(db, LocalStore(Path(folder) / name), table, clock)
    return median, p95


class CountingChecks:
    """Counts the Ed25519 checks the view makes (a rebuild should make none: they are cached)."""

    def __init__(self):
        from tpuctl.adapters import trust_db

        self.module, self.original, self.calls = trust_db, trust_db._check, 0

    def __enter__(self) -> CountingChecks:
        def counted(event, key):
            self.calls += 1
            return self.original(event, key)

        self.module._check = counted
        return self

    def __exit__(self, *exc) -> None:
        self.module._check = self.original


def compare_signatures(n_events: int) -> int:
    """Before (an unsigned legacy group) and after (a signed group), in one run: a first sync
    on a new laptop (every signature checked), a rebuild that finds every signature in the
    view's cache, an incremental sync of the last 1% of events, and admission."""
    events = generate(n_events)
    plain = [event.to_json() for event in events]
    t = time.perf_counter()
    keys_home = tempfile.TemporaryDirectory()        # members' keys made for this run, not in the user's config
    os.environ["TPUCTL_CONFIG"] = str(Path(keys_home.name) / "config.toml")
    genesis, signed = signed_copies(events)
    print(f"signed {len(signed):,} events in {time.perf_counter() - t:.1f} s")
    del events
    table = load_price_table()
    clock = ManualClock(MONTH_START + timedelta(days=30, hours=12))
    tail = len(signed) // 100
    with tempfile.TemporaryDirectory() as folder:
        before_db, after_db = LedgerDB(Path(folder) / "before.db"), LedgerDB(Path(folder) / "after.db")
        before = materialise(before_db, plain[:-tail])
        before_tail = materialise(before_db, plain[-tail:])
        before_admit = admission_p(before_db, folder, "s1", table, clock)
        after_db.set_genesis(genesis)
        with CountingChecks() as first_checks:
            first = materialise(after_db, signed[:-tail])
            first_tail = materialise(after_db, signed[-tail:])
        counted, aside = after_db.event_count(), len(after_db.rejected.reasons())
        after_admit = admission_p(after_db, folder, "s2", table, clock)
        rebuilds: dict[str, list[float]] = {"before": [], "after": []}
        with CountingChecks() as rebuild_checks:
            for _ in range(REBUILD_ROUNDS):          # alternated, best of each: the machine's noise hits both
                for name, db, objects in (("before", before_db, plain), ("after", after_db, signed)):
                    db.reset()
                    if name == "after":
                        db.set_genesis(genesis)
                    rebuilds[name].append(materialise(db, objects))
        before_rebuild, rebuilt = min(rebuilds["before"]), min(rebuilds["after"])
        before_db.close()
        after_db.close()
    print(f"events: {len(signed):,}; {counted:,} counted, {aside} set aside")
    print(f"first sync on a new laptop: before {before:.1f} s, after {first:.1f} s: {first / before:.2f}x "
          f"({first_checks.calls:,} signatures checked)")
    print(f"incremental sync of the last {tail:,}: before {before_tail * 1000:.0f} ms, after "
          f"{first_tail * 1000:.0f} ms: {first_tail / before_tail:.2f}x")
    print(f"ledger rebuild (best of {REBUILD_ROUNDS}, alternated): before {before_rebuild:.1f} s, after {rebuilt:.1f} s: "
          f"{rebuilt / before_rebuild:.2f}x (limit 1.50x; {rebuild_checks.calls:,} signatures checked again)")
    print(f"admission median/p95: before {before_admit[0]:.2f}/{before_admit[1]:.2f} ms, "
          f"after {after_admit[0]:.2f}/{after_admit[1]:.2f} ms: {after_admit[0] / before_admit[0]:.2f}x median")
    compare_signed_segments(plain, genesis, signed)
    return 0 if rebuilt <= 1.5 * before_rebuild and aside == 0 and rebuild_checks.calls == 0 else 1


def compare_signed_segments(plain: list[bytes], genesis: bytes, signed: list[bytes]) -> None:
    """A first sync from sealed segments (a bulk load), in one run: the unsigned group, and the
    signed one with every signature checked by the loader alone or shared with a second process."""
    from tpuctl.domain.events import GENESIS_KEY
    from tpuctl.services import segments

    results = {}
    with tempfile.TemporaryDirectory() as folder:
        unsigned = sealed_store(Path(folder) / "unsigned", as_segments(plain))
        results["unsigned"] = timed(lambda: materialise_bulk(LedgerDB(Path(folder) / "unsigned.db"), unsigned))
        store = sealed_store(Path(folder) / "signed", as_segments(signed))
        store.create(GENESIS_KEY, genesis)
        for name, cores in (("signed, one process", False), ("signed, a second process helps", True)):
            second_core, segments.second_core = segments.second_core, lambda cores=cores: cores
            results[name] = timed(lambda: materialise_bulk(LedgerDB(Path(folder) / f"{cores}.db"), store))
            segments.second_core = second_core
    base = results["unsigned"][0]
    for name, (wall, cpu, own) in results.items():
        print(f"first sync from segments, {name}: {wall:.1f} s ({wall / base:.2f}x unsigned; CPU {cpu:.1f} s, "
              f"{own:.1f} s in the loader)")


def cpu_now() -> float:
    """CPU seconds of this process and of its children that have ended (a load's workers)."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(work) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds of this process and its workers, CPU seconds of this process."""
    gc.collect()
    wall, cpu, own = time.perf_counter(), cpu_now(), time.process_time()
    work()
    return time.perf_counter() - wall, cpu_now() - cpu, time.process_time() - own


def before_code(ref: str | None) -> tuple[str, Path] | None:
    """The tree of `ref` (default: where this branch left main), unpacked in a temporary folder."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        ref = ref or subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=root, check=True, capture_output=True,
                                    text=True).stdout.strip()
        folder = Path(tempfile.mkdtemp(prefix="tpuctl-before-"))
        archive = subprocess.run(["git", "archive", ref, "tpuctl", "benchmarks"], cwd=root, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"  (no old code to compare with: {exc})")
        return None
    return ref, folder


def run_before(ref: str | None, n_events: int) -> dict[str, tuple[float, float]]:
    """The old code's own `--segments` run (its bulk load and batch by batch), same size, this run."""
    import re
    import shutil
    import subprocess

    found = before_code(ref)
    if found is None:
        return {}
    ref, folder = found
    try:
        out = subprocess.run([sys.executable, str(folder / "benchmarks" / "ledger_bench.py"), "--segments", "--events",
                              str(n_events)], env={**os.environ, "PYTHONPATH": str(folder)},
                             capture_output=True, text=True, check=True).stdout
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    times = {}
    labels = (("bulk", ("bulk load:", "bulk load (new):")), ("batches", ("batch by batch (before):",
                                                                       "batch by batch (new):")))
    for name, names in labels:          # (the labels older versions of this benchmark print)
        for label in names:
            line = re.search(rf"{re.escape(label)}\s+([0-9.]+) s .*?CPU\s+([0-9.]+) s", out)
            if line:
                times[f"{name} ({ref[:7]})"] = (float(line.group(1)), float(line.group(2)), float(line.group(2)))
                break
    return times


def compare_segments(objects: list[bytes], args) -> int:
    """The bulk load of a fresh view from segments, against, in the same run: this code's
    batch-by-batch ingest, and the old code's bulk load and batch-by-batch ingest (a checkout of
    `--before`, run as its own benchmark on the same number of events)."""
    from tpuctl.services import segments

    n = len(objects)
    sealed = as_segments(objects)
    results: dict[str, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        store = sealed_store(Path(folder) / "store", sealed)
        results["bulk load (new)"] = timed(lambda: materialise_bulk(LedgerDB(Path(folder) / "bulk.db"), store))
        size = size_mib(Path(folder) / "bulk.db")
        for name, free in (("one process", lambda: False), ("a second checks", lambda: True)):
            second_core, segments.second_core = segments.second_core, free      # whatever the machine has
            results[f"bulk load, {name} (new)"] = timed(
                lambda: materialise_bulk(LedgerDB(Path(folder) / f"bulk-{name}.db"), store))
            segments.second_core = second_core
        if not args.no_before:
            results["batch by batch (new)"] = timed(
                lambda: materialise_segments(LedgerDB(Path(folder) / "segments.db"), sealed))
        if args.objects:
            results["one object each (new)"] = timed(lambda: materialise(LedgerDB(Path(folder) / "objects.db"), objects))
    sealed = None                   # its memory back before the old code runs
    if not args.no_before:
        results.update(run_before(args.before, args.events))
    print(f"materialise {n:,} events from {n // 100_000 + bool(n % 100_000)} segments, database {size:.0f} MiB "
          "(CPU: all processes, and the loading process alone):")
    new_wall, new_cpu, _ = results["bulk load (new)"]
    for name, (wall, cpu, own) in results.items():
        print(f"  {name + ':':35} {wall:6.1f} s wall ({n / wall:9,.0f} events/s), CPU {cpu:6.1f} s ({own:5.1f} s);"
              f" {wall / new_wall:4.1f}x wall, {cpu / new_cpu:4.1f}x CPU of the new bulk load")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to generate (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="a quick run: 50,000 events")
    parser.add_argument("--signatures", action="store_true", help="compare an unsigned and a signed group")
    parser.add_argument("--segments", action="store_true",
                        help="only: materialise from segments by the bulk load and the old batch-by-batch path")
    parser.add_argument("--no-before", action="store_true", help="skip the old path (the full-size run is long)")
    parser.add_argument("--before", default=None, metavar="REF",
                        help="with --segments: the git revision whose code is the old path (default: the merge base "
                             "with main)")
    parser.add_argument("--objects", action="store_true",
                        help="with --segments: also the old path from one object per event")
    args = parser.parse_args(argv)
    n_events = 50_000 if args.quick else args.events
    if args.signatures:
        return compare_signatures(n_events)

    t = time.perf_counter()
    objects = [event.to_json() for event in generate(n_events)]
    print(f"generated {len(objects):,} events ({n_events // EVENTS_PER_INTERVAL:,} intervals, {len(MEMBERS)} "
          f"members) in {time.perf_counter() - t:.1f} s")
    if args.segments:
        return compare_segments(objects, args)
    table = load_price_table()
    clock = ManualClock(MONTH_START + timedelta(days=30, hours=12))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.db"
        tail = len(objects) // 100
        store = sealed_store(Path(folder) / "sealed", as_segments(objects[:-tail]))
        old = None
        if not args.no_before:
            with LedgerDB(Path(folder) / "before.db") as before:
                old = materialise_segments(before, [(k, store.read(k)) for k in store.list("ledger/segments/")])
            gc.collect()
        with LedgerDB(path) as db:
            cpu = time.process_time()
            seconds = materialise_bulk(db, store)
            cpu = time.process_time() - cpu
            n = len(objects) - tail
            print(f"materialise {n:,} events from segments: {seconds:.1f} s ({n / seconds:,.0f} events/s, CPU "
                  f"{cpu:.1f} s); database {size_mib(path):.0f} MiB")
            if old is not None:
                print(f"batch by batch (before, same run): {old:.1f} s ({n / old:,.0f} events/s): {old / seconds:.1f}x")
            seconds = materialise(db, objects[-tail:])
            print(f"incremental sync of the last {tail:,} events: {seconds * 1000:.0f} ms")
            intervals = db.conn.execute("SELECT count(DISTINCT subject || '/' || seq) FROM intervals").fetchone()[0]
            print(f"ledger: {db.event_count():,} events, {intervals:,} closed intervals, "
                  f"{len(db.open_nodes()):,} nodes running")
            del objects[:]               # admission runs in a small CLI process, not next to 1M objects
            gc.collect()
            median, p95, result = admission_latency(db, LocalStore(Path(folder) / "store"), table, clock)
        with FullScanLedger(path) as naive:
            naive.conn.execute("DELETE FROM admission_log")          # the same log, from its start again
            naive.conn.execute("DELETE FROM admission_log_read")
            base_median, base_p95, base_result = admission_latency(naive, LocalStore(Path(folder) / "store-2"),
                                                                   table, clock)
    assert result == base_result, "the baseline must give the same answer"
    print(f"admission over {ADMISSION_CALLS} calls: median {median:.2f} ms, p95 {p95:.2f} ms "
          f"(target < {TARGET_MS:.0f} ms: {'met' if p95 < TARGET_MS else 'MISSED'})")
    print(f"baseline (full scan of the month's intervals): median {base_median:.2f} ms, p95 {base_p95:.2f} ms")
    print(f"ratio baseline / ledger: median {base_median / median:.1f}x, p95 {base_p95 / p95:.1f}x")
    return 0 if p95 < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
