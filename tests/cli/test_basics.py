"""What every user meets first: help, version, config, and a fast start."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tpuctl import __version__
from tpuctl.errors import ExitCode


@pytest.mark.slow
def test_help_does_not_import_google_or_yaml():
    code = (
        "import sys\n"
        "from tpuctl.cli.app import main\n"
        "assert main(['--help']) == 0\n"
        "heavy = sorted(m for m in sys.modules if m.startswith(('google', 'yaml', 'grpc', 'requests', 'cryptography')))\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_a_bug_is_one_sentence_and_exit_1_for_a_user(monkeypatch, capsys):
    """What a user sees of an unexpected exception; the tests' `cli` raises it with its traceback."""
    from tpuctl.cli.app import main

    def broken(profile):
        raise KeyError("zone")

    monkeypatch.setattr("tpuctl.config.profile_as_dict", broken)
    assert main(["config", "show"]) == ExitCode.INTERNAL
    assert capsys.readouterr().err == ("Error: tpuctl hit an internal error (KeyError: 'zone').\n"
                                       "Hint: run again with --debug for the traceback, and report it.\n")
    with pytest.raises(KeyError, match="zone"):
        main(["config", "show"], raise_internal=True)


def test_version(cli):
    result = cli("--version")
    assert (result.code, result.out) == (0, f"tpuctl {__version__}\n")


def test_unknown_flag_is_a_usage_error(cli):
    result = cli("list", "--bogus")
    assert result.code == ExitCode.USAGE
    assert "No such option: --bogus" in result.err


def test_config_show_reports_sources(cli, monkeypatch, isolated_env):
    monkeypatch.setenv("TPUCTL_ZONE", "europe-west4-a")
    result = cli("config", "show", "--json")
    assert result.code == 0
    data = result.json
    assert data["profile"] == "local"
    assert data["values"]["zone"] == "europe-west4-a"
    assert data["sources"]["zone"] == "env TPUCTL_ZONE"
    assert data["values"]["api_endpoint"] == "local"
    assert data["sources"]["project"] == "default"


def test_config_init_writes_a_file_that_loads(cli, isolated_env):
    made = cli("config", "init", "--project", "grp-proj", "--member", "carol", "--default", "group")
    assert made.code == 0
    shown = cli("config", "show", "--json").json
    assert shown["profile"] == "group"
    assert (shown["values"]["project"], shown["values"]["member"]) == ("grp-proj", "carol")
    assert shown["sources"]["project"].endswith("[profiles.group]")
    again = cli("config", "init")
    assert again.code == ExitCode.CONFLICT


def test_profile_flag_and_missing_profile(cli, isolated_env):
    (isolated_env / "config.toml").write_text('[profiles.lab]\nproject = "lab-p"\nzone = "us-central1-b"\nstore = "/tmp/s"\nmember = "dan"\n')
    assert cli("--profile", "lab", "config", "show", "--json").json["values"]["project"] == "lab-p"
    missing = cli("--profile", "nope", "config", "show")
    assert missing.code == ExitCode.CONFIG
    assert missing.err.startswith("Error: There is no profile 'nope' in ")


def test_broken_config_file_is_one_sentence(cli, isolated_env):
    (isolated_env / "config.toml").write_text("default_profile = \n")
    result = cli("config", "show")
    assert result.code == ExitCode.CONFIG
    assert result.err.startswith(f"Error: The config file {isolated_env / 'config.toml'} is not valid TOML")
    assert "Traceback" not in result.err


def test_unknown_key_in_profile(cli, isolated_env):
    (isolated_env / "config.toml").write_text('default_profile = "x"\n[profiles.x]\nprojet = "typo"\n')
    result = cli("config", "show")
    assert result.code == ExitCode.CONFIG
    assert "profile 'x' has unknown key 'projet'" in result.err


def test_bad_member_name(cli, monkeypatch):
    monkeypatch.setenv("TPUCTL_MEMBER", "Alice Smith")
    result = cli("config", "show")
    assert result.code == ExitCode.CONFIG
    assert result.err.startswith("Error: Member name 'Alice Smith' cannot be used as a label.")


@pytest.mark.slow
def test_real_profile_without_credentials(cli, isolated_env, monkeypatch):
    monkeypatch.setenv("TPUCTL_PROJECT", "real-proj")
    monkeypatch.setenv("TPUCTL_API_ENDPOINT", "https://tpu.googleapis.com")
    monkeypatch.setenv("HOME", str(isolated_env))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(isolated_env / "gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    result = cli("list")
    assert result.code == ExitCode.PERMISSION
    assert result.err.startswith("Error: No Google Cloud credentials were found on this machine.")
