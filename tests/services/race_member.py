"""One member of an admission race: import everything, say so, wait for the start signal,
then run the real `tpuctl` command line once (python race_member.py READY GO ARGS...)."""

import os
import sys
import time
from pathlib import Path

import google.cloud.tpu_v2  # noqa: F401  (imported before the start, so all start together)

from tpuctl.cli.app import main

if os.environ.get("STORAGE_EMULATOR_HOST"):
    import google.cloud.storage  # noqa: F401

ready, go, args = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
ready.touch()
deadline = time.monotonic() + 60
while not go.exists():
    if time.monotonic() > deadline:
        sys.exit("the race never started")
    time.sleep(0.001)
sys.exit(main(args))
