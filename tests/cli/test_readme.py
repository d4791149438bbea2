"""The README's quickstarts and command lines work as written, on a laptop with no account.

Every line of every ```sh block in the sections below is run, in order, by a shell with the
installed `tpuctl` first on PATH, in an empty config and data dir and with no Google
credentials. A line that ends with `# needs Google Cloud` is skipped (none do today).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
SECTIONS = ("Quickstart for a member", "Getting a TPU when none is free", "Quickstart for the treasurer")
SKIP_MARK = "# needs Google Cloud"


def sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## +(.+)$", text, flags=re.M)
    return {title.strip(): body for title, body in zip(parts[1::2], parts[2::2])}


def shell_lines(body: str) -> list[str]:
    lines: list[str] = []
    for block in re.findall(r"^```sh\n(.*?)^```", body, flags=re.M | re.S):
        lines.extend(line for line in block.splitlines() if line.strip() and not line.rstrip().endswith(SKIP_MARK))
    return lines


def readme_lines() -> list[str]:
    found = sections(README.read_text(encoding="utf-8"))
    missing = [title for title in SECTIONS if title not in found]
    assert not missing, f"README has no section {missing}"
    return [line for title in SECTIONS for line in shell_lines(found[title])]


@pytest.fixture
def shell(tmp_path):
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "tpuctl").exists(), "install tpuctl (pip install -e .) so its entry point is on PATH"
    home = tmp_path / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("TPUCTL_", "CLOUDSDK_", "GOOGLE_")) and key != "STORAGE_EMULATOR_HOST"}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", HOME=str(home), NO_COLOR="1",
               TPUCTL_CONFIG=str(tmp_path / "config" / "config.toml"), TPUCTL_DATA_DIR=str(tmp_path / "data"),
               XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local" / "share"))

    def run(line: str) -> subprocess.CompletedProcess:
        return subprocess.run(["sh", "-c", line], env=env, cwd=tmp_path, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=180)

    return run


@pytest.mark.slow
def test_every_quickstart_line_works_as_written(shell):
    lines = readme_lines()
    assert len(lines) >= 20 and lines[0].startswith("tpuctl config init")
    for line in lines:
        done = shell(line)
        assert done.returncode == 0, f"README line failed (exit {done.returncode}):\n  {line}\n{done.stdout}{done.stderr}"


@pytest.mark.slow
def test_config_init_in_the_quickstart_says_which_profile_it_made(shell):
    done = shell(readme_lines()[0])
    assert "profile 'group' (member alice, on the built-in emulator: no cloud account needed" in done.stdout
    assert "now the default profile" in done.stdout
    shown = shell("tpuctl config show")
    assert shown.stdout.startswith("Profile group ") and re.search(r"^member +alice ", shown.stdout, flags=re.M)


def test_every_emulator_flag_the_readme_names_exists(shell):
    body = sections(README.read_text(encoding="utf-8"))["The emulator"]
    usage = re.search(r"`tpuctl emulator serve (.*?)`", body, flags=re.S)
    flags = re.findall(r"(--[a-z][a-z-]*)", usage.group(1))
    helped = shell("tpuctl emulator serve --help").stdout
    assert len(flags) >= 6 and [flag for flag in flags if flag not in helped] == []
