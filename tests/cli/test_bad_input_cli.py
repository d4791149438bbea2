"""Bad input a member can type, set or save: one sentence, the documented exit code, and
nothing written. Each case used to end as an internal error (or was silently taken)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpuctl.errors import ExitCode

DIGITS = "9" * 5000
DEEP = "[" * 3000 + "]" * 3000


def refused(result, code: int, sentence: str) -> None:
    """Exactly one `Error:` sentence first, the exit code, and no internal error."""
    assert (result.code, result.err.splitlines()[0]) == (code, f"Error: {sentence}"), result.err
    assert "internal error" not in result.err and "Traceback" not in result.err


def nothing_written(data_dir: Path) -> None:
    assert not (data_dir / "store").exists() and not (data_dir / "ledger").exists()


# -- the config file (exit 3) ------------------------------------------------------------------
@pytest.mark.parametrize("content, sentence", [
    (b'default_profile = "\xff\xfe"\n', "The config file {path} is not UTF-8 text (byte 20 is 0xff)."),
    (b'default_profile = ["g"]\n', "In {path}, 'default_profile' must be a profile's name, not a list."),
    (b'[profiles.local]\nproject = 1\n', "In {path}, 'project' of profile 'local' must be text in quotes, not the number 1."),
    (b'[profiles.local]\nzone = ["a"]\n', "In {path}, 'zone' of profile 'local' must be text in quotes, not a list."),
    (b'[profiles.local]\nhours = "4"\n', "In {path}, 'hours' of profile 'local' must be a number of hours, not '4'."),
    (b'[profiles.local]\nhours = true\n', "In {path}, 'hours' of profile 'local' must be a number of hours, not true."),
    (f"x = {DEEP}\n".encode(), "The config file {path} nests its values too deeply to be read."),
    (b"[profiles.local]\nhours = nan\n", "'hours' ({path} [profiles.local]) must be a number of hours, not nan."),
    (b"[profiles.local]\nhours = inf\n", "'hours' ({path} [profiles.local]) must be a number of hours, not inf."),
    (b"[profiles.local]\nhours = 1e400\n", "'hours' ({path} [profiles.local]) must be a number of hours, not inf."),
    (b"[profiles.local]\nhours = 721\n", "'hours' ({path} [profiles.local]) must be at most 720 (30 days), not 721."),
    (f"[profiles.local]\nhours = {DIGITS}\n".encode(), "The config file {path} has a number with more than 4300 digits."),
    (b'[profiles.local]\nzone = "../../x"\n', "Zone '../../x' ({path} [profiles.local]) is not a zone like us-central2-b."),
    (b'[profiles.local]\napi_endpoint = "http://[::1"\n',
     "api_endpoint 'http://[::1' ({path} [profiles.local]) is not a URL with a host."),
    (b'[profiles.local]\nstore = ""\n', "'store' ({path} [profiles.local]) is empty."),
    (b'[profiles.local]\nstore = "a\\u0000b"\n', "'store' of profile 'local' ({path} [profiles.local]) holds a control character."),
    (b'[profiles."../up"]\nproject = "p"\n', "In {path}, '../up' cannot be a profile's name."),
], ids=["not-utf8", "default-list", "project-number", "zone-list", "hours-text", "hours-bool", "deep", "hours-nan",
        "hours-inf", "hours-huge", "hours-too-long", "hours-digits", "zone-path", "bad-url", "store-empty",
        "store-nul", "profile-name"])
def test_a_bad_config_file_is_one_sentence(cli, isolated_env, content, sentence):
    path = isolated_env / "config.toml"
    path.write_bytes(content)
    refused(cli("list"), ExitCode.CONFIG, sentence.format(path=path))
    nothing_written(isolated_env / "data")


# -- environment variables (exit 3) --------------------------------------------------------------
@pytest.mark.parametrize("name, value, sentence", [
    ("TPUCTL_HOURS", "nan", "'hours' (env TPUCTL_HOURS) must be a number of hours, not nan."),
    ("TPUCTL_HOURS", "inf", "'hours' (env TPUCTL_HOURS) must be a number of hours, not inf."),
    ("TPUCTL_ZONE", "../../x", "Zone '../../x' (env TPUCTL_ZONE) is not a zone like us-central2-b."),
    ("TPUCTL_PROJECT", "../x", "Project '../x' (env TPUCTL_PROJECT) is not a Google Cloud project id."),
    ("TPUCTL_API_ENDPOINT", "http://", "api_endpoint 'http://' (env TPUCTL_API_ENDPOINT) is not a URL with a host."),
    ("TPUCTL_API_ENDPOINT", "http://x:99999",
     "api_endpoint 'http://x:99999' (env TPUCTL_API_ENDPOINT) is not a URL with a host."),
    ("TPUCTL_RETRIES", DIGITS, f"TPUCTL_RETRIES must be a whole number from 1 to 100, not '{DIGITS}'."),
], ids=["hours-nan", "hours-inf", "zone", "project", "no-host", "bad-port", "retries-digits"])
def test_a_bad_environment_variable_is_one_sentence(cli, isolated_env, monkeypatch, name, value, sentence):
    monkeypatch.setenv(name, value)
    refused(cli("list"), ExitCode.CONFIG, sentence)
    nothing_written(isolated_env / "data")


def test_a_data_dir_that_is_a_file_is_refused(cli, isolated_env, monkeypatch):
    data = isolated_env / "data"
    data.write_text("not a folder")
    refused(cli("list"), ExitCode.CONFIG, f"The data folder {data} is a file, not a folder.")
    assert data.read_text() == "not a folder"


def test_job_timing_of_nan_is_refused(cli, isolated_env, monkeypatch):
    monkeypatch.setenv("TPUCTL_JOB_TIMING", "poll=nan")
    job = isolated_env / "job.yaml"
    job.write_text("name: a\ntpu: {type: v4-8}\nrun: echo hi\n")
    refused(cli("run", str(job)), ExitCode.CONFIG, "TPUCTL_JOB_TIMING has 'poll=nan'; write NAME=SECONDS with NAME "
                                                  "one of poll, heartbeat, flush, sync, grace, follow, start.")
    assert not (isolated_env / "data" / "store" / "jobs").exists()


# -- flags and arguments (exit 2) ----------------------------------------------------------------
@pytest.mark.parametrize("args, sentence", [
    (["create", "n1", "-t", "v4-8", "--hours", "nan"], "--hours must be a number of hours, not nan."),
    (["create", "n1", "-t", "v4-8", "--hours", "inf"], "--hours must be a number of hours, not inf."),
    (["queue", "create", "q1", "-t", "v4-8", "--hours", "1e308"], "--hours must be at most 720 (30 days), not 1e+308."),
    (["create", "n1", "-t", f"v4-{DIGITS}"], f"'v4-{DIGITS}' is not a TPU accelerator type."),
    (["list", "--zone", "../../x"], "--zone '../../x' is not a zone like us-central2-b."),
    (["create", "n1", "-t", "v4-8", "--zone", "../../x"], "--zone '../../x' is not a zone like us-central2-b."),
    (["queue", "create", "q1", "-t", "v4-8", "--valid-for", "99999999999d"],
     "--valid-for must be at most 366 days, not '99999999999d'."),
    (["queue", "create", "q1", "-t", "v4-8", "--start-after", "99999999999d"],
     "--start-after must be at most 366 days, not '99999999999d'."),
    (["queue", "create", "q1", "-t", "v4-8", "--count", "101"], "--count must be at most 100, not 101."),
    (["spend", "--month", "0000-01"], "'0000-01' is not a month tpuctl can report on: the year must be 2000 to 2100."),
    (["spend", "--month", "0001-01"], "'0001-01' is not a month tpuctl can report on: the year must be 2000 to 2100."),
    (["budget", "show", "--month", "9999-12"],
     "'9999-12' is not a month tpuctl can report on: the year must be 2000 to 2100."),
], ids=["hours-nan", "hours-inf", "hours-huge", "type-digits", "zone-list", "zone-create", "valid-for", "start-after",
        "count", "month-0", "month-1", "month-9999"])
def test_a_bad_flag_is_one_sentence(cli, isolated_env, args, sentence):
    refused(cli(*args), ExitCode.USAGE, sentence)
    nothing_written(isolated_env / "data")


@pytest.fixture
def treasurer(cli, isolated_env, monkeypatch):
    """A started group on the local profile with tess as its treasurer; returns a count of its events."""
    monkeypatch.setenv("TPUCTL_MEMBER", "tess")
    assert cli("group", "init", "--treasurer", "tess").code == 0
    events = isolated_env / "data" / "store" / "ledger" / "events"
    return lambda: sum(1 for p in events.rglob("*") if p.is_file())


@pytest.mark.parametrize("args, sentence", [
    (["budget", "set", "--group", "1e30"], "The budget 1e30 is more than 1,000,000,000, the most tpuctl takes."),
    (["budget", "set", "--group", "1e400"], "The budget 1e400 is more than 1,000,000,000, the most tpuctl takes."),
    (["budget", "set", "--group", "nan"], "The budget 'nan' is not a number."),
    (["budget", "set", "--group", "inf"], "The budget 'inf' is not a number."),
    (["budget", "set", "--member", "tess", "--", "-5"], "The budget -5 is negative; a budget is zero or more."),
    (["budget", "set", "--member", "tess", "--chip-hours", "1e10"],
     "The chip-hour budget 1e10 is more than 1,000,000,000, the most tpuctl takes."),
    (["budget", "set", "--group", "1e-30"], "The budget 1e-30 has more than 12 decimal places."),
    (["budget", "set", "--group", "100", "--month", "0000-01"],
     "'0000-01' is not a month tpuctl can report on: the year must be 2000 to 2100."),
    (["prices", "set", "v4", "--on-demand", "1e999", "--spot", "1"],
     "The on-demand price 1e999 is more than 1,000,000,000, the most tpuctl takes."),
    (["prices", "set", "v4", "--on-demand", "1", "--spot", "1e-400"],
     "The spot price 1e-400 has more than 12 decimal places."),
], ids=["budget-1e30", "budget-1e400", "budget-nan", "budget-inf", "budget-negative", "chip-hours", "budget-tiny",
        "budget-month", "price-huge", "price-tiny"])
def test_an_absurd_amount_is_refused_before_it_is_recorded(cli, treasurer, args, sentence):
    before = treasurer()
    refused(cli(*args), ExitCode.USAGE, sentence)
    assert treasurer() == before


def test_config_init_refuses_a_value_it_could_not_read_back(cli, isolated_env):
    refused(cli("config", "init", "--project", 'a"b'), ExitCode.USAGE, "Project 'a\"b' (flag) is not a Google Cloud project id.")
    refused(cli("config", "init", "--default", "nope"), ExitCode.USAGE, "--default must be 'local' or 'group', not 'nope'.")
    assert not (isolated_env / "config.toml").exists()
    assert cli("config", "init", "--store", "C:\\groups\\\"ours\"").code == 0
    assert cli("--profile", "group", "config", "show", "--json").json["values"]["store"] == 'C:\\groups\\"ours"'


# -- files: job configs and price files (exit 3) -----------------------------------------------
JOB = "name: a\ntpu: {type: v4-8}\nrun: echo hi\n"


@pytest.mark.parametrize("content, sentence", [
    ((JOB + f"hours: {DIGITS}\n").encode(),
     "{path}, line 4: this value cannot be read (a number of more than 4300 digits, or a date that does not exist)."),
    ((JOB + f"env: {{N: {DIGITS}}}\n").encode(),
     "{path}, line 4: this value cannot be read (a number of more than 4300 digits, or a date that does not exist)."),
    pytest.param(f"name: {DEEP}\n".encode(), "{path} nests its values too deeply to be read.", marks=pytest.mark.slow),
    ((JOB + 'env: {X: "\\ud800"}\n').encode(), "{path}, line 4: this text holds an escaped half of a character (\\uD800 to \\uDFFF), which is not text."),
    (b"name: \xff\n", "{path} is not UTF-8 text (byte 7 is 0xff)."),
    ((JOB + "setup: a\x1fb\n").encode(), "{path}, line 4: this is not valid YAML (character U+001F is not allowed)."),
], ids=["hours-digits", "env-digits", "deep", "surrogate", "not-utf8", "control-character"])
def test_a_bad_job_config_is_one_sentence(cli, isolated_env, content, sentence):
    path = isolated_env / "job.yaml"
    path.write_bytes(content)
    refused(cli("run", str(path)), ExitCode.CONFIG, sentence.format(path=path))
    refused(cli("configs", "push", str(path)), ExitCode.CONFIG, sentence.format(path=path))
    assert not (isolated_env / "data" / "store" / "configs").exists()


PRICES = 'as_of = "2026-11-01"\nsource = "our invoice"\nunit = "chip-hour"\ncurrency = "USD"\n'


@pytest.mark.parametrize("content, sentence", [
    (PRICES + "[default.v4]\non_demand = 1e999999\nspot = 1\n",
     "Price file {path}: 'default.v4.on_demand' is 1E+999999, which is more than 1,000,000,000."),
    (PRICES + f"[default.v4]\non_demand = {DIGITS}\nspot = 1\n", "Price file {path} has a number with more than 4300 digits."),
    (PRICES + f"x = {DEEP}\n", "Price file {path} nests its values too deeply to be read."),
    (PRICES.replace('"2026-11-01"', "2026-11-01T10:00:00") + "[default.v4]\non_demand = 1\nspot = 1\n",
     "Price file {path}: field 'as_of' is not a date like 2026-11-01."),
], ids=["huge", "digits", "deep", "datetime"])
def test_a_bad_price_file_is_one_sentence(cli, isolated_env, monkeypatch, content, sentence):
    path = isolated_env / "prices.toml"
    path.write_text(content)
    monkeypatch.setenv("TPUCTL_PRICES", str(path))
    refused(cli("spend"), ExitCode.CONFIG, sentence.format(path=path))
