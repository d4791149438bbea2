"""Durations as people type them: 90s, 30m, 6h, 2d, 1h30m."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Callable

from tpuctl.errors import TpuctlError, UsageError

_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DURATION = timedelta(days=366)    # a queue wait or start delay longer than a year is a typo
MAX_LEASE_HOURS = 720.0               # 30 days: the longest lease a TPU (or a job) may ask for


def check_hours(hours: float, what: str, error: Callable[..., TpuctlError] = UsageError) -> float:
    """A lease in hours: more than 0 and at most MAX_LEASE_HOURS (never nan or inf)."""
    if not math.isfinite(hours):
        raise error(f"{what} must be a number of hours, not {hours}.", hint="Write it like 4 or 0.5.")
    if hours <= 0:
        raise error(f"{what} must be more than 0, not {hours:g}.")
    if hours > MAX_LEASE_HOURS:
        raise error(f"{what} must be at most {MAX_LEASE_HOURS:g} (30 days), not {hours:g}.")
    return float(hours)


def parse_duration(text: str, flag: str) -> timedelta:
    """Parse `6h`, `90m`, `1h30m`, `2d`; a bare number means hours."""
    raw = text.strip().lower()
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", raw):
        raw += "h"
    parts = _PART.findall(raw)
    if not raw or "".join(n + u for n, u in parts) != raw:
        raise UsageError(f"{flag} '{text}' is not a duration.", hint="Write it like 90m, 6h, 1h30m or 2d.")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    if seconds <= 0:
        raise UsageError(f"{flag} must be longer than zero, not '{text}'.")
    if seconds > MAX_DURATION.total_seconds():
        raise UsageError(f"{flag} must be at most {MAX_DURATION.days} days, not '{text}'.")
    return timedelta(seconds=seconds)


def parse_time_or_duration(text: str, flag: str, now: datetime) -> datetime:
    """`--start-after 2h` or `--start-after 2026-12-01T08:00Z`: an absolute UTC time."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return now + parse_duration(text, flag)
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    if abs(when - now) > MAX_DURATION:
        raise UsageError(f"{flag} must be within {MAX_DURATION.days} days of now, not '{text}'.")
    return when


def format_duration(delta: timedelta) -> str:
    """`1h05m`, `3m12s`, `2d4h`: short enough for a status line."""
    seconds = int(max(delta.total_seconds(), 0))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
