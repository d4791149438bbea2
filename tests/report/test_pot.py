"""The pot over the scripted month: contributions minus charges, the settlement rules, and
the hledger journal checked by the real hledger."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.report.tools import hledger
from tpuctl.domain.settlement import largest_remainder, settle_month
from tpuctl.services import pot


@pytest.mark.slow
def test_balance_settles_shared_costs_by_chip_hours_through_the_pot(month_env, cli):
    doc = cli("ledger", "balance", "--json").json
    assert {m["member"]: m["balance"] for m in doc["members"]} == {"alice": "13.83", "bob": "9.00", "carol": "3.83"}
    assert doc["pot"] == "26.66"                 # $200 paid in, $173.34 spent
    out = cli("ledger", "balance").out
    assert "alice   2026-05  $100.00      $86.17   $13.83" in out and "The pot holds $26.66." in out


@pytest.mark.slow
@pytest.mark.parametrize("rule, shares, to_pot", [
    ("chip_hours", {"alice": "12.57", "bob": "9.42", "carol": "3.77", "tess": "0"}, "0"),
    ("even", {"alice": "6.44", "bob": "6.44", "carol": "6.44", "tess": "6.44"}, "0"),
    ("pot", {"alice": "0", "bob": "0", "carol": "0", "tess": "0"}, "25.76"),
])
def test_the_rule_never_changes_the_total(month, rule, shares, to_pot):
    if rule != "chip_hours":
        pot.set_rule(month.store, month.db, month.clock, "tess", rule)
    books = pot.pot(month.db, month.store, month.clock, month.table)
    (may,) = books.months
    assert {m.member: m.shared for m in may.members} == {k: Decimal(v) for k, v in shares.items()}
    assert may.to_pot == Decimal(to_pot) and may.total == Decimal("173.34")


def test_largest_remainder_adds_up_to_the_cent():
    parts = largest_remainder(Decimal("10.00"), {"a": 1, "b": 1, "c": 1})
    assert parts == {"a": Decimal("3.34"), "b": Decimal("3.33"), "c": Decimal("3.33")}
    s = settle_month("2026-05", {"a": Decimal("0.005"), "b": Decimal("0.005"), "unattributed": Decimal("0.001")},
                     {"a": Decimal(1), "b": Decimal(1)}, ["a", "b"], "even")
    assert s.total == Decimal("0.01")


@pytest.mark.slow
def test_a_member_cannot_record_a_contribution(month_env, cli, monkeypatch):
    monkeypatch.setenv("TPUCTL_MEMBER", "bob")
    r = cli("ledger", "contribute", "bob", "1000")
    assert r.code == 6 and "bob is not a treasurer" in r.err


@pytest.mark.slow
def test_hledger_reads_the_journal_and_balances_to_the_same_totals(month_env, cli, tmp_path):
    cli("ledger", "contribute", "alice", "20.50", "--note", "top-up; thanks")
    journal = tmp_path / "pot.journal"
    assert cli("ledger", "export", "--format", "hledger", "--out", str(journal)).code == 0
    hledger(journal, "check")                   # parses, balances, and the balance assertion holds
    pot_total = hledger(journal, "balance", "assets:pot", "-N", "--layout=bare", "-O", "csv")
    assert '"assets:pot","$","47.16"' in pot_total          # 220.50 - 173.34
    doc = cli("ledger", "balance", "--json").json
    for member, balance in {m["member"]: m["balance"] for m in doc["members"]}.items():
        paid = hledger(journal, "balance", f"income:contributions:{member}$", f"expenses:.*:{member}$", "-N",
                       "--layout=bare", "-O", "csv")
        total = sum((-Decimal(line.split(",")[2].strip('"')) for line in paid.splitlines()[1:]), Decimal(0))
        assert total == Decimal(balance), (member, paid)
    assert "month:2026-05, generation:v4+v5e, chip-hours:30" in journal.read_text()
