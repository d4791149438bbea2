"""A bad price file (TPUCTL_PRICES) stops the commands that price, with one sentence and exit 3."""

from __future__ import annotations

import pytest

from tpuctl.errors import ExitCode

GOOD_HEAD = 'as_of = "2026-11-01"\nsource = "our invoice"\nunit = "chip-hour"\n'


@pytest.mark.parametrize("text, sentence", [
    ("as_of = [", "is not valid TOML"),
    (GOOD_HEAD + 'currency = "DOGE"\n[default.v4]\non_demand = 3.22\nspot = 0.92\n',
     "field 'currency' is 'DOGE', not one of"),
    (GOOD_HEAD.replace("chip-hour", "node-hour") + 'currency = "USD"\n[default.v4]\non_demand = 3.22\nspot = 0.92\n',
     "field 'unit' is 'node-hour', but prices must be per 'chip-hour'"),
    (GOOD_HEAD + 'currency = "USD"\n[default.v4]\non_demand = "cheap"\nspot = 0.92\n', "default.v4"),
], ids=["toml", "currency", "unit", "price"])
@pytest.mark.parametrize("command", [["types"], ["create", "x", "--type", "v4-8"], ["spend"]])
def test_a_bad_price_file_is_one_sentence_naming_the_file(cli, remote_env, monkeypatch, tmp_path, text, sentence,
                                                          command):
    prices = tmp_path / "prices.toml"
    prices.write_text(text)
    monkeypatch.setenv("TPUCTL_PRICES", str(prices))
    result = cli(*command)
    assert result.code == ExitCode.CONFIG
    first = result.err.splitlines()[0]
    assert first.startswith(f"Error: Price file {prices}") and sentence in first
    assert "Traceback" not in result.err
    assert cli("list", "--json").json == []           # nothing was created


def test_a_missing_price_file_is_said_plainly(cli, remote_env, monkeypatch, tmp_path):
    monkeypatch.setenv("TPUCTL_PRICES", str(tmp_path / "nope.toml"))
    result = cli("types")
    assert (result.code, result.err.splitlines()[0]) == (ExitCode.CONFIG,
                                                         f"Error: Price file {tmp_path / 'nope.toml'} does not exist.")


def test_a_generation_the_file_does_not_price_shows_no_price_never_zero(cli, remote_env, monkeypatch, tmp_path):
    prices = tmp_path / "prices.toml"
    prices.write_text(GOOD_HEAD + 'currency = "USD"\n[default.v3]\non_demand = 2.00\nspot = 0.51\n')
    monkeypatch.setenv("TPUCTL_PRICES", str(prices))
    shown = cli("types", "--zone", "us-central1-a", "--json")     # offers v2, v3 and v5e
    assert shown.code == 0
    by_type = {t["type"]: t for t in shown.json}
    assert by_type["v3-8"]["per_hour"] == "8.000000"
    unpriced = [t for t in shown.json if t["generation"] != "v3"]
    assert unpriced and all(t["per_hour"] is None and t["spot_per_hour"] is None for t in unpriced)
    table = cli("types", "--zone", "us-central1-a")
    assert "no price" in table.out and "Warning: There is no price for TPU generation 'v2'" in table.err
    refused = cli("create", "x", "--type", "v5litepod-8", "--zone", "us-central1-a")
    assert refused.code == ExitCode.CONFIG and "There is no price for TPU generation 'v5e'" in refused.err
