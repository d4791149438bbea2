"""Any JSON a member could write at a job object's key is read or refused with a BadObject that
names it, never another exception (which would crash `tpuctl job` or the agent on a TPU VM)."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings, strategies as st

from tpuctl.domain.jobs.protocol import KINDS, PHASES, WORKER_STATES, BadObject, Exit, Spec, dump, load, version_key

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SCALARS = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=30)
           | st.sampled_from(["2026-11-30T12:00:00Z", "v4-8", "us-central2-b", "alice", "demo-abc123", "run",
                              "succeeded", "job", "0001-01-01T00:00:00Z", "../../x", ""]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


@st.composite
def bodies(draw):
    """A class of the protocol and an object that has (some of) its fields, with any values."""
    cls = draw(st.sampled_from(KINDS))
    names = [f.name for f in fields(cls)] + [version_key(cls), "name", "run", "type", "kind", "detail"]
    body = draw(st.dictionaries(st.sampled_from(names), VALUES, max_size=len(names)))
    if cls is Spec and draw(st.booleans()):
        body["config"] = draw(st.dictionaries(st.sampled_from(["name", "run", "tpu", "node", "env", "hours", "setup",
                                                               "secrets", "resume", "outputs"]), VALUES))
    return cls, body


@FUZZ
@given(bodies())
def test_any_json_is_read_or_refused_with_its_key(drawn):
    cls, body = drawn
    try:
        obj = load(cls, json.dumps(body).encode(), "jobs/x/some.json")
    except BadObject as exc:
        assert exc.message.startswith("jobs/x/some.json is ignored: it ") and exc.message.endswith(".")
        return
    assert load(cls, dump(obj)) == obj              # what was read is written back the same


@FUZZ
@given(st.sampled_from(WORKER_STATES), st.datetimes(datetime(2017, 1, 1), datetime(2099, 12, 31), timezones=st.just(timezone.utc)),
       st.none() | st.integers(-2**31, 2**31), st.sampled_from(PHASES), st.text(max_size=300))
def test_every_exit_the_agent_can_write_reads_back(status, when, code, phase, reason):
    exit_ = Exit(status, when, code, phase, reason)
    assert load(Exit, dump(exit_)) == exit_
