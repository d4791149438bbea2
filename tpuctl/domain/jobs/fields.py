"""Checks of single fields of the agent protocol's objects: each returns the value it read or
raises Invalid with what is wrong, in a phrase (tpuctl/domain/jobs/protocol.py uses them).
Those the ledger's events need too (times, flags, choices) are the event schema's own."""

from __future__ import annotations

import json
import re
from typing import Any

from tpuctl.domain.event_schema import Check, Invalid, boolean, one_of, optional, time

MAX_TEXT = 2000
MAX_INTERVAL = 3600.0

__all__ = ["MAX_INTERVAL", "MAX_TEXT", "Check", "Invalid", "boolean", "matching", "one_of", "optional", "seconds",
           "show", "text", "time", "whole"]


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

