"""The official gcloud CLI, loaded once and forked for each call.

Each call still runs gcloud's own `gcloud_main.main()` with its arguments, environment and
working folder, in a process of its own; only the interpreter start and gcloud's imports
(about 0.3 s of CPU a call) are paid once. Started with `python gcloud_forks.py SOCKET LIB`
by `GcloudForks`, which falls back to starting `gcloud` for each call where this cannot run.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

TIMEOUT = 120


def serve(socket_path: str, lib: str) -> None:
    """Import gcloud as its launcher (lib/gcloud.py) does, then fork one child per request."""
    sys.path.insert(0, lib)
    import gcloud as launcher  # the SDK's lib/gcloud.py: puts its vendored packages first

    sys.path = launcher.reorder_sys_path(sys.path)
    launcher._fix_google_module()
    gcloud_main = launcher._import_gcloud_main()
    server = socket.socket(socket.AF_UNIX)
    server.bind(socket_path)
    server.listen(4)
    server.settimeout(5)
    parent = os.getppid()
    print("ready", flush=True)
    while True:
        try:
            conn, _ = server.accept()
        except socket.timeout:
            if os.getppid() != parent:          # the test worker is gone (killed): go too
                return
            continue
        conn.settimeout(None)
        with conn:
            request = json.loads(conn.makefile().readline())
            child = os.fork()
            if child == 0:
                server.close()
                _run_one(gcloud_main, request)
            _, status = os.waitpid(child, 0)
            conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())


def _run_one(gcloud_main, request: dict) -> None:
    """In the forked child: become `gcloud ARGS` run from `cwd` with `env`, then exit with its code."""
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
    sys.argv = ["gcloud", *request["args"]]
    code = 0
    try:
        gcloud_main.main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    except BaseException:  # what gcloud's launcher would print, then exit 1
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class GcloudForks:
    """run(args, env) -> CompletedProcess of `gcloud ARGS`, from one loaded gcloud per test worker."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.socket_path = str(folder / "gcloud.sock")
        self.server: subprocess.Popen | None = None
        root = Path(os.path.realpath(shutil.which("gcloud") or "gcloud")).parent.parent
        bundled = root / "platform" / "bundledpythonunix" / "bin" / "python3"
        self.python = os.environ.get("CLOUDSDK_PYTHON") or (str(bundled) if bundled.exists() else "python3")
        self.launch_env = {"CLOUDSDK_ROOT_DIR": str(root), "CLOUDSDK_PYTHON": self.python,
                           "CLOUDSDK_ENCODING": "UTF-8", "PYTHONIOENCODING": "UTF-8"}   # as bin/gcloud sets
        if hasattr(os, "fork") and (root / "lib" / "gcloud.py").exists():
            self._start(root / "lib")

    def _start(self, lib: Path) -> None:
        with open(self.folder / "server.log", "wb") as log:     # stdin: never the worker's (xdist talks on it)
            server = subprocess.Popen([self.python, __file__, self.socket_path, str(lib)], stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=log, env={**os.environ, **self.launch_env})
        if server.stdout.readline().strip() == b"ready":
            self.server = server
        else:
            server.kill()
            server.wait()

    def run(self, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
        if self.server is None or self.server.poll() is not None:
            return subprocess.run(["gcloud", *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=TIMEOUT, check=False)
        out = tempfile.mkdtemp(dir=self.folder)
        request = {"args": args, "env": {**env, **self.launch_env}, "cwd": os.getcwd(),
                   "stdout": f"{out}/stdout", "stderr": f"{out}/stderr"}
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(TIMEOUT)
            conn.connect(self.socket_path)
            conn.sendall((json.dumps(request) + "\n").encode())
            code = int(conn.makefile().readline())
        read = lambda name: Path(out, name).read_text(encoding="utf-8", errors="replace")  # noqa: E731
        return subprocess.CompletedProcess(["gcloud", *args], code, read("stdout"), read("stderr"))

    def close(self) -> None:
        if self.server is not None:
            self.server.kill()
            self.server.wait()
            self.server.stdout.close()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
