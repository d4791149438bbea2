"""The pot as a plain-text-accounting journal (hledger), so a group can keep its books there.

Contributions go into `assets:pot`; each member's month is one transaction (tags: month,
generation, chip-hours) charging their own spend and their share of shared costs to the
pot; the pot's part of shared costs is its own transaction; the journal ends with a balance
assertion on `assets:pot`, so `hledger check` fails if the books and tpuctl ever disagree.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Iterable, Mapping

from tpuctl.domain.metering import month_bounds
from tpuctl.domain.settlement import RULE_WORDS, Contribution, MonthSettlement, to_cents

_UNSAFE = re.compile(r"[;\n\r\t|]+")


def money(value: Decimal, currency: str) -> str:
    """An hledger amount: `$12.50`, `-$12.50`, or `12.50 EUR`."""
    value = to_cents(value)
    if currency == "USD":
        return f"-${-value}" if value < 0 else f"${value}"
    return f"{value} {currency}"


def _hours(value: Decimal) -> str:
    text = f"{value.quantize(Decimal('0.000001')):f}".rstrip("0").rstrip(".")
    return text or "0"


def _last_day(month: str) -> str:
    _, end = month_bounds(month)
    return f"{end.date().fromordinal(end.date().toordinal() - 1)}"


def hledger_journal(currency: str, contributions: Iterable[Contribution], months: Iterable[MonthSettlement],
                    generations: Mapping[str, Mapping[str, Mapping[str, Decimal]]], held: Decimal) -> str:
    """The journal text; `generations` is month -> member -> generation -> chip-hours."""
    lines = ["; The group's pot, written by `tpuctl ledger export --format hledger`.",
             f"; Amounts in {currency}; a month is settled at its end (closed months: the real bill).", ""]
    entries: list[tuple[str, int, list[str]]] = []
    for c in contributions:
        note = _UNSAFE.sub(" ", c.note).strip()
        entries.append((f"{c.time:%Y-%m-%d}", 0, [
            f"{c.time:%Y-%m-%d} * {c.member} paid into the pot{': ' + note if note else ''}  ; member:{c.member}",
            f"    assets:pot    {money(c.amount, currency)}",
            f"    income:contributions:{c.member}"]))
    for s in months:
        day = _last_day(s.month)
        for m in s.members:
            if not m.charge:
                continue
            gens = generations.get(s.month, {}).get(m.member, {})
            tags = [f"member:{m.member}", f"month:{s.month}", f"generation:{'+'.join(sorted(gens)) or '-'}",
                    f"chip-hours:{_hours(m.chip_hours)}", f"settled:{'bill' if s.closed else 'estimate'}"]
            body = [f"{day} * {m.member}'s TPUs, {s.month}  ; {', '.join(tags)}"]
            if m.own:
                body.append(f"    expenses:tpu:{m.member}    {money(m.own, currency)}")
            if m.shared:
                body.append(f"    expenses:shared:{m.member}    {money(m.shared, currency)}  ; "
                            f"shared costs, {RULE_WORDS[s.rule]}")
            body.append("    assets:pot")
            entries.append((day, 1, body))
        if s.to_pot:
            entries.append((day, 2, [f"{day} * shared costs the pot bears, {s.month}  ; month:{s.month}",
                                     f"    expenses:shared:pot    {money(s.to_pot, currency)}", "    assets:pot"]))
    for _, _, body in sorted(entries, key=lambda e: (e[0], e[1])):
        lines += [*body, ""]
    last = max((e[0] for e in entries), default=None)
    if last:
        lines += [f"{last} * what the pot holds, as tpuctl reckons it", f"    assets:pot    {money(Decimal(0), currency)} = "
                  f"{money(held, currency)}", ""]
    return "\n".join(lines)
