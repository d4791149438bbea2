"""Start-up, listing and create speed of tpuctl, as ratios against baselines measured in the same run.

    python benchmarks/run.py [--runs 10] [--nodes 50]

Baselines: a bare `python -c pass` (the floor of any Python CLI) and the official gcloud CLI
doing the same against the same emulator (list; create, where tpuctl also syncs the ledger,
admits the request against a budget and records two events). The emulator runs as its own
warm process with `--nodes` nodes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ZONE = "us-central2-b"
PROJECT = "bench-project"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(cmd: list[str] | Callable[[int], list[str]], env: dict[str, str], runs: int) -> float:
    """Median wall time in ms of `runs` runs (after one warm-up run); `cmd(i)` for a new one each run."""
    samples = []
    for i in range(runs + 1):
        argv = cmd(i) if callable(cmd) else cmd
        start = time.perf_counter()
        proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = (time.perf_counter() - start) * 1000
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.decode()[-500:]}")
        if i:
            samples.append(elapsed)
    return statistics.median(samples)


def start_emulator(port: int, env: dict[str, str]) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "tpuctl", "emulator", "serve", "--port", str(port),
                             "--boot-seconds", "0"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v2/projects/{PROJECT}/locations"
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the emulator did not start")


def seed_nodes(port: int, count: int) -> None:
    for i in range(count):
        body = json.dumps({"acceleratorType": "v4-8", "runtimeVersion": "tpu-ubuntu2204-base",
                           "labels": {"tpuctl-owner": f"member{i % 5}"}}).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/v2/projects/{PROJECT}/locations/{ZONE}/nodes?nodeId=bench-{i}",
            data=body, headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(req, timeout=5).read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--nodes", type=int, default=50)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="tpuctl-bench-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TPUCTL_")}
    env.update(TPUCTL_CONFIG=str(tmp / "none.toml"), TPUCTL_DATA_DIR=str(tmp / "data"), NO_COLOR="1",
               TPUCTL_API_ENDPOINT=f"http://127.0.0.1:{port}", TPUCTL_PROJECT=PROJECT, TPUCTL_ZONE=ZONE,
               TPUCTL_STORE=str(tmp / "store"), TPUCTL_MEMBER="bench")
    emulator = start_emulator(port, env)
    rows: list[tuple[str, float, str | None]] = []       # (what, ms, the gcloud row it compares with)
    try:
        seed_nodes(port, args.nodes)
        tpuctl = [sys.executable, "-m", "tpuctl"]
        subprocess.run([*tpuctl, "group", "init", "--treasurer", "bench"], env=env, check=True, capture_output=True)
        subprocess.run([*tpuctl, "budget", "set", "--group", "100000"], env=env, check=True, capture_output=True)
        rows.append(("python -c pass", timed([sys.executable, "-c", "pass"], env, args.runs), None))
        rows.append(("tpuctl --help", timed([*tpuctl, "--help"], env, args.runs), "list"))
        rows.append((f"tpuctl list --json ({args.nodes} nodes)", timed([*tpuctl, "list", "--json"], env, args.runs),
                     "list"))
        rows.append(("tpuctl create --json (v4-8, admitted, recorded)",
                     timed(lambda i: [*tpuctl, "create", f"t-{i}", "--type", "v4-8", "--hours", "1", "--json"],
                           env, args.runs), "create"))
        gcloud = shutil.which("gcloud")
        if gcloud:
            genv = dict(env, CLOUDSDK_CONFIG=str(tmp / "gcloud"), CLOUDSDK_CORE_PROJECT=PROJECT,
                        CLOUDSDK_API_ENDPOINT_OVERRIDES_TPU=f"http://127.0.0.1:{port}/",
                        CLOUDSDK_AUTH_DISABLE_CREDENTIALS="true", CLOUDSDK_CORE_DISABLE_PROMPTS="1")
            tpu_vm = [gcloud, "compute", "tpus", "tpu-vm"]
            runs = max(3, args.runs // 2)
            rows.append((f"gcloud compute tpus tpu-vm list ({args.nodes} nodes)",
                         timed([*tpu_vm, "list", f"--zone={ZONE}", "--format=json"], genv, runs), "list"))
            rows.append(("gcloud compute tpus tpu-vm create (v4-8)",
                         timed(lambda i: [*tpu_vm, "create", f"g-{i}", f"--zone={ZONE}", "--accelerator-type=v4-8",
                                          "--version=tpu-ubuntu2204-base", "--format=json"], genv, runs), "create"))
    finally:
        emulator.terminate()
        emulator.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    base = rows[0][1]
    peers = {peer: ms for name, ms, peer in rows if name.startswith("gcloud")}
    print(f"{'what':<48} {'median ms':>10} {'x python':>9} {'x gcloud':>9}")
    for name, ms, peer in rows:
        vs_gcloud = f"{ms / peers[peer]:.2f}" if peer in peers else "-"
        print(f"{name:<48} {ms:>10.1f} {ms / base:>9.1f} {vs_gcloud:>9}")
    modules = subprocess.run([sys.executable, "-c", "import sys; sys.argv=['tpuctl','--help'];\n"
                              "from tpuctl.cli.app import main\ntry: main()\nexcept SystemExit: pass\n"
                              "print(sum(m.startswith('google') for m in sys.modules), file=sys.stderr)"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    print(f"google.* modules imported by `tpuctl --help`: {modules.stderr.strip()}")


if __name__ == "__main__":
    main()
