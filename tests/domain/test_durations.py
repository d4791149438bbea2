from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from tpuctl.domain.durations import format_duration, parse_duration, parse_time_or_duration
from tpuctl.errors import UsageError


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("30m", 1800), ("6h", 21600), ("1h30m", 5400), ("2d", 172800), ("1.5", 5400)])
def test_durations_people_type(text, seconds):
    assert parse_duration(text, "--valid-for").total_seconds() == seconds


@pytest.mark.parametrize("text", ["soon", "6 hours", "h", "-1h", "0h", "", "1x"])
def test_not_a_duration_names_the_flag(text):
    with pytest.raises(UsageError, match="--valid-for"):
        parse_duration(text, "--valid-for")


def test_start_after_takes_a_time_or_a_duration():
    now = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    assert parse_time_or_duration("2h", "--start-after", now) == now + timedelta(hours=2)
    assert parse_time_or_duration("2026-12-01T08:00Z", "--start-after", now) == datetime(2026, 12, 1, 8, tzinfo=timezone.utc)


@given(st.integers(min_value=1, max_value=10**6))
def test_formatted_durations_parse_back_to_at_most_the_same(seconds):
    text = format_duration(timedelta(seconds=seconds))
    back = parse_duration(text, "x").total_seconds()
    assert back <= seconds and seconds - back < 3600  # days drop minutes, hours drop seconds
