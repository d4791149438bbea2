"""A stand-in for a long training loop that must not lose work to a spot preemption.

Each step updates a running state and saves it atomically to `ckpt/state.json`; a run that
finds a checkpoint continues after its step. SIGTERM (the preemption notice the agent
passes on) saves and exits at once. The result is the same however often it was stopped.
Settings: STEPS, STEP_SECONDS.
"""

import json
import os
import signal
import sys
import time
from pathlib import Path

CKPT = Path(os.environ.get("TPUCTL_OUTPUTS", "ckpt"))
STEPS = int(os.environ.get("STEPS", "60"))
STEP_SECONDS = float(os.environ.get("STEP_SECONDS", "1"))


def save(state: dict) -> None:
    CKPT.mkdir(parents=True, exist_ok=True)
    temp = CKPT / "state.tmp"
    temp.write_text(json.dumps(state))
    temp.replace(CKPT / "state.json")


def main() -> None:
    path = CKPT / "state.json"
    state = json.loads(path.read_text()) if path.exists() else {"step": 0, "total": 0, "runs": 0}
    state["runs"] += 1
    if state["step"]:
        print(f"resumed from step {state['step']} (run {state['runs']})", flush=True)

    def stop(signum, frame):
        save(state)
        print(f"stopped at step {state['step']}: checkpoint saved", flush=True)
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    while state["step"] < STEPS:
        time.sleep(STEP_SECONDS)
        state["step"] += 1
        state["total"] += state["step"]
        save(state)
        print(f"step {state['step']}/{STEPS}", flush=True)
    (CKPT / "result.json").write_text(json.dumps({"steps": state["step"], "total": state["total"], "runs": state["runs"]}))
    print(f"done: total {state['total']} after {state['runs']} run(s)", flush=True)


if __name__ == "__main__":
    main()
