"""The real tools the report tests check against: Debian's chromium, hledger, jq and curl.

`.ci/run` installs them when they are missing. On Linux a missing tool fails the test (the
check must not pass by not running); elsewhere the test is skipped."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def tool(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    if sys.platform.startswith("linux"):
        pytest.fail(f"{names[0]} is not installed: `apt-get install -y {names[0]}` (.ci/run does it)")
    pytest.skip(f"{names[0]} is checked on Linux only")


def chromium(*args: str, timeout: float = 90) -> str:
    binary = tool("chromium", "chromium-browser")
    done = subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-dev-shm-usage", *args], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def hledger(journal: Path, *args: str) -> str:
    done = subprocess.run([tool("hledger"), "-f", str(journal), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
