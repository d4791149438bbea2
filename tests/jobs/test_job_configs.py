"""Stored configs: versions are kept, and a push from an older version than the newest is refused."""

from __future__ import annotations

import shutil

import pytest

from job_helpers import EXAMPLES
from tpuctl.errors import ExitCode


@pytest.fixture
def digits(isolated_env, monkeypatch):
    """A member's copy of the digits config, in the current folder (local profile, member alice)."""
    monkeypatch.setenv("TPUCTL_MEMBER", "alice")
    monkeypatch.chdir(isolated_env)
    shutil.copy(EXAMPLES / "digits" / "job.yaml", "digits.yaml")
    return isolated_env / "digits.yaml"


def test_push_keeps_versions_and_marks_the_file(cli, digits):
    assert cli("configs", "push", "digits.yaml").out == "Pushed digits@v1.\n"
    assert digits.read_text().startswith("# tpuctl-config: digits@v1 (pushed by alice at 20")
    digits.write_text(digits.read_text().replace("EPOCHS: 40", "EPOCHS: 50"))
    assert cli("configs", "push", "digits.yaml").out == "Pushed digits@v2.\n"
    assert "EPOCHS: 40" in cli("configs", "show", "digits", "--version", "1").out
    shown = cli("configs", "show", "digits").out
    assert shown.startswith("# tpuctl-config: digits@v2 ") and "EPOCHS: 50" in shown and shown.count("tpuctl-config") == 1
    listed = cli("configs", "list", "--json").json
    assert [(c["name"], c["version"], c["pushed_by"]) for c in listed] == [("digits", 2, "alice")]
    assert cli("configs", "list").out.splitlines()[1].split()[:3] == ["digits", "v2", "alice"]


def test_a_push_from_an_older_version_is_refused_naming_both(cli, digits, monkeypatch):
    cli("configs", "push", "digits.yaml")
    assert cli("configs", "pull", "digits", "-o", "bob.yaml").out == "Wrote digits@v1 to bob.yaml.\n"
    cli("configs", "push", "digits.yaml")                                      # alice: v2
    refused = cli("configs", "push", "bob.yaml")                               # bob started from v1
    assert refused.code == ExitCode.CONFLICT
    assert refused.err == ("Error: Config 'digits' is at v2 in the store, but bob.yaml started from v1.\n"
                           "Hint: `tpuctl configs pull digits` gets v2; merge your change into it and push again.\n")
    shutil.copy(EXAMPLES / "digits" / "job.yaml", "fresh.yaml")
    fresh = cli("configs", "push", "fresh.yaml")
    assert fresh.err.startswith("Error: Config 'digits' is at v2 in the store, but fresh.yaml started from no version")
    assert cli("configs", "push", "bob.yaml", "--from-version", "2").out == "Pushed digits@v3.\n"
    assert cli("configs", "push", "fresh.yaml", "--name", "digits-copy").out == "Pushed digits-copy@v1.\n"


def test_pull_show_and_errors(cli, digits):
    cli("configs", "push", "digits.yaml")
    assert cli("configs", "pull", "digits").out == "Wrote digits@v1 to digits.yaml.\n"   # the same text: fine
    (digits.parent / "digits.yaml").write_text("changed\n")
    kept = cli("configs", "pull", "digits")
    assert (kept.code, kept.err.splitlines()[0]) == (ExitCode.USAGE, "Error: digits.yaml exists and differs from digits@v1.")
    assert cli("configs", "pull", "digits", "--force").code == 0
    missing = cli("configs", "show", "nope")
    assert (missing.code, missing.err.splitlines()[0]) == (ExitCode.NOT_FOUND, "Error: There is no stored config named 'nope'.")
    assert cli("configs", "show", "digits", "--version", "7").err.startswith(
        "Error: Config 'digits' has no version v7 (it has v1 to v1).")
    (digits.parent / "bad.yaml").write_text("name: bad\ntpu: {type: v4-8}\nrun: x\nhours: -1\n")
    bad = cli("configs", "push", "bad.yaml")
    assert (bad.code, bad.err) == (ExitCode.CONFIG, "Error: bad.yaml, line 4: 'hours' must be more than 0 and at most 720, not -1.\n")
    assert cli("configs", "push", "digits.yaml", "--name", "Bad Name").code == ExitCode.USAGE
    assert cli("configs", "list").out.splitlines()[0].split() == ["NAME", "VERSION", "PUSHED", "BY", "PUSHED", "AT"]
