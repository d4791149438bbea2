"""NO_COLOR on a terminal: no escape codes at all, bold table headers and live lines included."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest


def on_a_terminal(args: list[str], env: dict[str, str]) -> bytes:
    """Run tpuctl with stdout and stderr on a pseudo-terminal; everything it wrote."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "tpuctl", *args], stdin=subprocess.DEVNULL,
                               stdout=follower, stderr=follower, env=env)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:            # the terminal closed: the process is done
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert process.wait(timeout=60) == 0, out.decode(errors="replace")
    return out


@pytest.mark.slow
def test_no_color_output_on_a_terminal_carries_no_escape_codes(isolated_env):
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    coloured = on_a_terminal(["config", "show"], {k: v for k, v in env.items() if k != "NO_COLOR"})
    assert b"\x1b[" in coloured                      # a terminal does get rich's bold headers
    plain = on_a_terminal(["config", "show"], {**env, "NO_COLOR": "1"})
    assert b"KEY" in plain and b"\x1b" not in plain
    listed = on_a_terminal(["types"], {**env, "NO_COLOR": "1"})
    assert b"v4-8" in listed and b"\x1b" not in listed
