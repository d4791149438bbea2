"""`config init` on a newcomer's laptop: a profile that works with no account, made the
default, that says what it made; Google only with a real project and credentials."""

from __future__ import annotations

import re

import pytest

from tpuctl.errors import ExitCode


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)


def values(cli) -> dict:
    return cli("config", "show", "--json").json["values"]


def test_a_project_without_credentials_gets_the_built_in_emulator_and_is_the_default(cli, isolated_env, no_credentials):
    made = cli("config", "init", "--project", "my-group-project", "--member", "alice")
    assert made.code == 0, made.err
    path = isolated_env / "config.toml"
    assert made.out == (f"Wrote {path}: profile 'group' (member alice, on the built-in emulator: no cloud account "
                        f"needed, store {isolated_env / 'data' / 'store'}), now the default profile.\n")
    assert made.err.startswith("No Google Cloud credentials were found on this machine, so profile 'group' uses the "
                               "built-in emulator. After `gcloud auth application-default login`, run `tpuctl config "
                               "init --project my-group-project --store gs://BUCKET/PREFIX --force`.")
    shown = cli("config", "show", "--json").json
    assert shown["profile"] == "group"
    assert (shown["values"]["member"], shown["values"]["api_endpoint"]) == ("alice", "local")
    assert cli("list").code == 0                    # works with no account


def test_a_project_with_credentials_talks_to_google(cli, isolated_env, monkeypatch, tmp_path):
    key = tmp_path / "adc.json"
    key.write_text("{}")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    refused = cli("config", "init", "--project", "grp-proj", "--member", "carol")
    assert refused.code == ExitCode.USAGE and "A profile on Google Cloud needs the group store." in refused.err
    made = cli("config", "init", "--project", "grp-proj", "--member", "carol", "--store", "gs://grp-bucket/tpuctl")
    assert made.code == 0 and "on Google Cloud project grp-proj" in made.out and made.err == ""
    assert (values(cli)["api_endpoint"], values(cli)["store"]) == ("", "gs://grp-bucket/tpuctl")


def test_api_endpoint_and_store_are_written_as_given(cli, isolated_env, no_credentials, tmp_path):
    made = cli("config", "init", "--api-endpoint", "http://127.0.0.1:8470", "--store", str(tmp_path / "shared"),
               "--member", "dan")
    assert made.code == 0, made.err
    assert "on the emulator at http://127.0.0.1:8470" in made.out
    assert (values(cli)["api_endpoint"], values(cli)["store"]) == ("http://127.0.0.1:8470", str(tmp_path / "shared"))
    bad = cli("config", "init", "--api-endpoint", "ftp://x", "--force")
    assert bad.code == ExitCode.USAGE and "api_endpoint 'ftp://x' is not a URL." in bad.err


def test_default_local_keeps_the_built_in_profile(cli, isolated_env, no_credentials):
    made = cli("config", "init", "--member", "erin", "--default", "local")
    assert made.code == 0 and "not the default (the built-in 'local' is; use --profile group)" in made.out
    assert cli("config", "show", "--json").json["profile"] == "local"
    assert cli("--profile", "group", "config", "show", "--json").json["values"]["member"] == "erin"


def test_an_uppercase_member_name_is_refused_and_nothing_is_written(cli, isolated_env, no_credentials):
    refused = cli("config", "init", "--member", "Alice")
    assert refused.code == ExitCode.USAGE
    assert refused.err.startswith("Error: Member name 'Alice' cannot be used as a label.")
    assert not (isolated_env / "config.toml").exists()


def test_the_comments_in_the_written_file_line_up(cli, isolated_env, no_credentials):
    assert cli("config", "init", "--project", "a-rather-long-project-name", "--member", "al").code == 0
    settings = [line for line in (isolated_env / "config.toml").read_text().splitlines()
                if re.match(r"^[a-z_]+ = ", line)]
    assert len(settings) == 8                                   # default_profile and the seven keys
    columns = {line.index("  # ") for line in settings if "  # " in line}
    assert len(columns) == 1 and len([line for line in settings if "  # " in line]) == 7
