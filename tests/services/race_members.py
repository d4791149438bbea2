"""The members of an admission race: import everything once, then fork one process per member,
each with its own environment (config and data dir, so its own key and ledger). Each says it
is ready, waits for the start signal and runs the real `tpuctl` command line once; its output
and exit code go to files in its home. (python race_members.py PLAN GO; PLAN is a JSON list of
{"home", "env", "args"}.) Forked rather than started afresh: each member would otherwise spend
half a second of CPU importing the same modules while the others wait."""

import json
import os
import sys
import time
import traceback
from pathlib import Path

import google.cloud.tpu_v2  # noqa: F401  (imported before the start, so all start together)

import tpuctl.adapters.keys  # noqa: F401
import tpuctl.services.ledger  # noqa: F401
import tpuctl.services.nodes  # noqa: F401
from tpuctl.cli.app import main

if os.environ.get("STORAGE_EMULATOR_HOST"):
    import google.cloud.storage  # noqa: F401

    import tpuctl.adapters.gcs_store  # noqa: F401


def member(plan: dict, go: Path) -> int:
    home = Path(plan["home"])
    os.environ.update(plan["env"])
    for fd, name in ((1, "out"), (2, "err")):
        opened = os.open(home / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    (home / "ready").touch()
    deadline = time.monotonic() + 60
    while not go.exists():
        if time.monotonic() > deadline:
            print("the race never started", file=sys.stderr)
            return 3
        time.sleep(0.001)
    return main(plan["args"]) or 0


def run(plans: list[dict], go: Path) -> None:
    children = {}
    for plan in plans:
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                code = member(plan, go)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children[pid] = Path(plan["home"])
    for pid, home in children.items():
        _, status = os.waitpid(pid, 0)
        (home / "code").write_text(str(os.waitstatus_to_exitcode(status)))


if __name__ == "__main__":
    run(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
