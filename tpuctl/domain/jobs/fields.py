"""Checks of single fields of the agent protocol's objects: each returns the value it read or
raises Invalid with what is wrong, in a phrase (tpuctl/domain/jobs/protocol.py uses them)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any, Callable

from tpuctl.domain.times import parse_time

MAX_TEXT = 2000
MAX_INTERVAL = 3600.0
EARLIEST = datetime(2017, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2100, 1, 1, tzinfo=timezone.utc)

Check = Callable[[Any], Any]


class Invalid(ValueError):
    """What is wrong with one field, in a phrase."""


def show(value: Any) -> str:
    try:
        shown = json.dumps(value)
    except (TypeError, ValueError):
        shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def text(value: Any, most: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or len(value) > most:
        raise Invalid(f"is {show(value)}, not a text of at most {most} characters")
    return value


def matching(pattern: re.Pattern, what: str) -> Check:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not pattern.match(value):
            raise Invalid(f"is {show(value)}, not {what}")
        return value
    return check


def whole(low: int, high: int) -> Check:
    def check(value: Any) -> int:
        if type(value) is not int or not low <= value <= high:
            raise Invalid(f"is {show(value)}, not a whole number from {low} to {high}")
        return value
    return check


def seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_INTERVAL:
        raise Invalid(f"is {show(value)}, not a number of seconds from 0 to {MAX_INTERVAL:g}")
    return float(value)


def boolean(value: Any) -> bool:
    if type(value) is not bool:
        raise Invalid(f"is {show(value)}, not true or false")
    return value


def time(value: Any) -> datetime:
    try:
        when = parse_time(value)
    except ValueError:
        raise Invalid(f"is {show(value)}, not an RFC 3339 time") from None
    if not EARLIEST <= when < LATEST:
        raise Invalid(f"is {value}, outside {EARLIEST.year}-{LATEST.year}")
    return when


def one_of(*choices: str) -> Check:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise Invalid(f"is {show(value)}, not one of {', '.join(choices)}")
        return value
    return check


def optional(check: Check) -> Check:
    def maybe(value: Any) -> Any:
        return None if value is None else check(value)
    return maybe
