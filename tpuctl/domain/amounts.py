"""Amounts people type or store: budgets and prices, in money or chip-hours.

One bound for all of them, so a slip of the finger (1e30, 1e400, nan) is refused where it
is typed, in a price file and in the ledger alike, before it reaches a report.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from tpuctl.errors import TpuctlError, UsageError

MAX_AMOUNT = Decimal(10) ** 9         # currency units or chip-hours: far above any group's month
MAX_PLACES = 12                       # with MAX_AMOUNT, 21 digits: exact in Decimal's 28


def amount_problem(number: Decimal) -> str | None:
    """What is wrong with an amount, completing "<what> <value> ...", or None if it is fine."""
    if not number.is_finite():
        return "is not a number"
    if number < 0:
        return "is negative"
    if number > MAX_AMOUNT:
        return f"is more than {MAX_AMOUNT:,}"
    if number and -number.normalize().as_tuple().exponent > MAX_PLACES:
        return f"has more than {MAX_PLACES} decimal places"
    return None


def check_amount(value: Any, what: str, noun: str = "an amount",
                 error: Callable[..., TpuctlError] = UsageError) -> Decimal:
    """`value` as a Decimal from 0 to MAX_AMOUNT, or `error` with one sentence, e.g.
    "The budget 1e30 is more than 1,000,000,000, the most tpuctl takes."."""
    try:
        number = Decimal(str(value).strip()) if not isinstance(value, bool) else Decimal("NaN")
    except (InvalidOperation, ValueError):
        number = Decimal("NaN")
    problem = amount_problem(number)
    if problem is None:
        return number
    if problem == "is not a number":
        raise error(f"{what} '{value}' is not a number.", hint="Write it like 120 or 12.50.")
    if problem == "is negative":
        raise error(f"{what} {value} is negative; {noun} is zero or more.")
    if problem.startswith("is more than"):
        raise error(f"{what} {value} {problem}, the most tpuctl takes.",
                    hint="Check the number of digits (and the unit).")
    raise error(f"{what} {value} {problem}.", hint=f"Round it to at most {MAX_PLACES} decimal places.")
