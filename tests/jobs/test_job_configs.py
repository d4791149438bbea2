"""Stored configs: versions are kept, and a push from an older version than the newest is refused."""

from __future__ import annotations

import re
import shutil

import pytest

from job_helpers import EXAMPLES
from tpuctl.errors import ExitCode


@pytest.fixture
def digits(isolated_env, monkeypatch):
    """A member's copy of the digits config, in the current folder (local profile, member alice)."""
    monkeypatch.setenv("TPUCTL_MEMBER", "alice")
    work = isolated_env / "work"
    shutil.copytree(EXAMPLES / "digits", work)
    monkeypatch.chdir(work)
    shutil.copy("job.yaml", "digits.yaml")
    return work / "digits.yaml"


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
    digits.write_text(digits.read_text().replace("EPOCHS: 40", "EPOCHS: 41"))
    assert cli("configs", "push", "digits.yaml").out == "Pushed digits@v2.\n"     # alice: v2
    refused = cli("configs", "push", "bob.yaml")                               # bob started from v1
    assert refused.code == ExitCode.CONFLICT
    assert refused.err == ("Error: Config 'digits' is at v2 in the store, but bob.yaml started from v1.\n"
                           "Hint: `tpuctl configs pull digits` gets v2; merge your change into it and push again.\n")
    shutil.copy("job.yaml", "fresh.yaml")
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


def test_a_pushed_config_carries_its_code_and_lists_it(cli, digits, tmp_path):
    assert cli("configs", "push", "digits.yaml").out == "Pushed digits@v1.\n"
    stored = digits.read_text().splitlines()
    assert re.fullmatch(r"# tpuctl-code: sha256:[0-9a-f]{64} \(4 files, \d+\.\d KB\)", stored[1])
    shown = cli("configs", "show", "digits")
    digest = stored[1].split("sha256:")[1].split()[0]
    assert shown.err.splitlines()[0] == f"Its code, sha256:{digest}, 4 files:"
    assert [line.split()[0] for line in shown.err.splitlines()[1:]] == [
        "digits.yaml", "job.yaml", "requirements.txt", "train.py"]
    data = cli("configs", "show", "digits", "--json").json
    assert data["code"]["digest"] == f"sha256:{digest}" and len(data["code"]["files"]) == 4
    pulled = cli("configs", "pull", "digits", "-o", tmp_path / "copy.yaml", "--code", tmp_path / "code")
    assert pulled.out == (f"Unpacked 4 files of digits@v1's code to {tmp_path / 'code'}.\n"
                          f"Wrote digits@v1 to {tmp_path / 'copy.yaml'}.\n")
    assert (tmp_path / "code" / "train.py").read_text() == (digits.parent / "train.py").read_text()
    again = cli("configs", "pull", "digits", "-o", tmp_path / "copy.yaml", "--code", tmp_path / "code")
    assert (again.code, again.err) == (ExitCode.USAGE, f"Error: {tmp_path / 'code'} is not an empty folder.\n"
                                                       "Hint: Give --code a new or empty folder.\n")


def test_an_unchanged_push_makes_no_new_version_but_changed_code_does(cli, digits):
    assert cli("configs", "push", "digits.yaml").out == "Pushed digits@v1.\n"
    same = cli("configs", "push", "digits.yaml")
    assert (same.code, same.out) == (0, "digits@v1 already holds this config and its code: no new version.\n")
    assert [c["version"] for c in cli("configs", "list", "--json").json] == [1]
    (digits.parent / "train.py").write_text((digits.parent / "train.py").read_text() + "\n# tuned\n")
    assert cli("configs", "push", "digits.yaml").out == "Pushed digits@v2.\n"


def as_member(monkeypatch, isolated_env, who: str) -> None:
    """Member `who` on their own machine: their own data dir, the group's one store."""
    monkeypatch.setenv("TPUCTL_MEMBER", who)
    monkeypatch.setenv("TPUCTL_DATA_DIR", str(isolated_env / f"{who}-data"))
    monkeypatch.setenv("TPUCTL_STORE", str(isolated_env / "group-store"))


def test_a_stale_push_is_refused_with_or_without_the_header_line(cli, digits, isolated_env, monkeypatch):
    as_member(monkeypatch, isolated_env, "alice")
    assert cli("configs", "push", "digits.yaml").out == "Pushed digits@v1.\n"
    as_member(monkeypatch, isolated_env, "bob")
    assert cli("configs", "pull", "digits", "-o", "bob.yaml").out == "Wrote digits@v1 to bob.yaml.\n"
    as_member(monkeypatch, isolated_env, "alice")
    digits.write_text(digits.read_text().replace("EPOCHS: 40", "EPOCHS: 50"))
    assert cli("configs", "push", "digits.yaml").out == "Pushed digits@v2.\n"

    as_member(monkeypatch, isolated_env, "bob")
    bob = digits.parent / "bob.yaml"
    text = bob.read_text().replace("SEED: 0", "SEED: 1")
    bob.write_text(text.split("\n", 2)[2])                          # bob's editor dropped the tpuctl lines
    refused = cli("configs", "push", "bob.yaml")
    assert (refused.code, refused.err) == (ExitCode.CONFLICT, (
        "Error: Config 'digits' is at v2 in the store, but bob.yaml started from no version (the file has no "
        "`# tpuctl-config:` line; you last pulled or pushed v1 here).\n"
        "Hint: `tpuctl configs pull digits` gets v2; merge your change into it and push again.\n"))
    bob.write_text(text.replace("digits@v1", "digits@v2"))          # or edited the line past what he saw
    forged = cli("configs", "push", "bob.yaml")
    assert (forged.code, forged.err.splitlines()[0]) == (ExitCode.CONFLICT, (
        "Error: Config 'digits' is at v2 in the store, but bob.yaml says it started from v2, which you never "
        "pulled (you last pulled or pushed v1 here)."))
    assert [c["version"] for c in cli("configs", "list", "--json").json] == [2]


def test_configs_show_masks_secret_values_and_pull_keeps_them(cli, digits):
    digits.write_text(digits.read_text().replace("  SEED: 0\n", "  SEED: 0\n  WANDB_KEY: wandb-value-42\n")
                      + "secrets: [WANDB_KEY]\n")
    assert cli("configs", "push", "digits.yaml").out == "Pushed digits@v1.\n"
    shown = cli("configs", "show", "digits")
    assert "WANDB_KEY: ***\n" in shown.out and "wandb-value-42" not in shown.out + shown.err
    assert "wandb-value-42" not in cli("configs", "show", "digits", "--json").out
    cli("configs", "pull", "digits", "-o", "mine.yaml")
    assert "WANDB_KEY: wandb-value-42\n" in (digits.parent / "mine.yaml").read_text()
