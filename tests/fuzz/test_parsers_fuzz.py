"""The three hand-written formats (config, job config, price file) never fail with anything but
a TpuctlError, whatever text or bytes they are given: a member always gets one sentence."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tpuctl.config import SETTINGS, parse_config
from tpuctl.domain.jobs import parse_job_config
from tpuctl.domain.prices import parse_price_table
from tpuctl.errors import TpuctlError

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values that have broken parsers before: huge and odd numbers, deep nesting, odd text.
NASTY_SCALARS = st.sampled_from([
    "nan", "inf", "-inf", "1e999999", "-1", "0", "9" * 5000, "true", "[]", "{}", '"\\ud800"', '"\\u0000"',
    "2026-13-45", "0x" + "f" * 50, "1_000", '"../../x"', '""', "[" * 200 + "]" * 200, "~", "null", ".nan", ".inf",
])
KEYS = st.sampled_from([*SETTINGS, "name", "tpu", "run", "node", "env", "hours", "type", "zone", "spot", "queue",
                        "outputs", "resume", "as_of", "source", "currency", "unit", "default", "region",
                        "on_demand", "v4", "profiles", "default_profile", "local", "g"])


def accepted_or_refused(parse, data) -> None:
    try:
        parse(data)
    except TpuctlError as exc:
        assert exc.message and exc.message.strip() == exc.message
    # any other exception fails the test: that would be an "internal error" for the member


def parse_job(data):
    return parse_job_config(data, "job.yaml", zone="us-central2-b", runtime="tpu-ubuntu2204-base", hours=4.0)


def parse_prices(data):
    return parse_price_table(data, "prices.toml")


def parse_profiles(data):
    return parse_config(data, "config.toml")


PARSERS = pytest.mark.parametrize("parse", [parse_profiles, parse_job, parse_prices], ids=["config", "job", "prices"])


@pytest.mark.slow
@PARSERS
@FUZZ
@given(data=st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_any_text_or_bytes(parse, data):
    accepted_or_refused(parse, data)


def toml_value(scalar: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.recursive(scalar, lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.dictionaries(KEYS, inner, max_size=3).map(
            lambda d: "{" + ", ".join(f"{json.dumps(k)} = {v}" for k, v in d.items()) + "}")), max_leaves=8)


TOML_SCALARS = st.one_of(NASTY_SCALARS, st.integers().map(str), st.floats().map(repr),
                         st.text(max_size=20).map(json.dumps), st.booleans().map(lambda b: "true" if b else "false"),
                         st.dates().map(str))

TOML_DOCS = st.lists(st.tuples(st.sampled_from(["", "[profiles.local]", "[profiles.g]", "[default.v4]",
                                                "[region.us-central2.v4]", "[type.v4-8]"]),
                               st.dictionaries(KEYS, toml_value(TOML_SCALARS), max_size=5)), max_size=4).map(
    lambda tables: "".join(f"{head}\n" + "".join(f"{json.dumps(k)} = {v}\n" for k, v in body.items())
                           for head, body in tables))

GOOD_PRICES = 'as_of = 2026-11-01\nsource = "s"\ncurrency = "USD"\nunit = "chip-hour"\n'


@pytest.mark.slow
@FUZZ
@given(doc=TOML_DOCS)
def test_structured_but_wrong_config_files(doc):
    accepted_or_refused(parse_profiles, doc)


@pytest.mark.slow
@FUZZ
@given(doc=TOML_DOCS)
def test_structured_but_wrong_price_files(doc):
    accepted_or_refused(parse_prices, doc)
    accepted_or_refused(parse_prices, GOOD_PRICES + doc)


YAML_SCALARS = st.one_of(NASTY_SCALARS, st.integers().map(str), st.floats().map(str), st.text(max_size=20).map(json.dumps),
                         st.sampled_from(["yes", "no", "!!binary AAAA", "!!set {a}", "&a x", "*a", "2026-01-01", "|\n  x"]))
YAML_VALUES = st.recursive(YAML_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
    st.dictionaries(KEYS, inner, max_size=3).map(lambda d: "{" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}")),
    max_leaves=8)


@pytest.mark.slow
@FUZZ
@given(doc=st.dictionaries(KEYS, YAML_VALUES, max_size=8))
def test_structured_but_wrong_job_configs(doc):
    accepted_or_refused(parse_job, "".join(f"{k}: {v}\n" for k, v in doc.items()))
    accepted_or_refused(parse_job, "name: a\ntpu: {type: v4-8}\nrun: echo\n" +
                        "".join(f"{k}: {v}\n" for k, v in doc.items() if k not in ("name", "tpu", "run")))
