"""Reconciliation of the scripted month with the emulator's Cloud Billing export."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest

from tpuctl.emulator.billing import COLUMNS


def export(emulator, tmp_path, edit=None, name="billing.csv"):
    rows = list(csv.DictReader(io.StringIO(emulator.billing_export("2026-05"))))
    rows = edit(rows) if edit else rows
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / name
    path.write_text(out.getvalue())
    return path


@pytest.mark.slow
def test_the_bill_matches_the_estimate_and_goes_to_owners_by_label(month_env, emulator, cli, tmp_path):
    doc = cli("report", "reconcile", str(export(emulator, tmp_path)), "--month", "2026-05", "--json").json
    assert (doc["actual"], doc["estimate"], doc["gap"], doc["closed"]) == ("173.34", "173.34", "0.00", False)
    assert {m["member"]: m["actual"] for m in doc["members"]} == {
        "alice": "73.60", "bob": "41.58", "carol": "32.40", "unattributed": "25.76"}
    day = next(d for d in doc["days"] if d["day"] == "2026-05-05")
    assert day | {"zone": None} == {"day": "2026-05-05", "generation": "v5e", "spot": True, "zone": None,
                                    "metered_chip_hours": "20.000000", "billed_chip_hours": "20.000000",
                                    "estimate": "9.384000", "actual": "9.384000", "gap": "0.000000"}


@pytest.mark.slow
def test_a_known_gap_is_shown_per_day_and_spread_to_the_cent(month_env, emulator, cli, tmp_path):
    assert cli("prices", "set", "v4", "--on-demand", "3.00", "--spot", "0.92").code == 0    # the group guessed low
    doc = cli("report", "reconcile", str(export(emulator, tmp_path)), "--month", "2026-05", "--json").json
    assert (doc["actual"], doc["estimate"], doc["gap"]) == ("173.34", "165.86", "7.48")     # 3.52 + 1.76 + 2.20
    assert {d["day"]: d["gap"] for d in doc["days"] if d["gap"] != "0.000000"} == {
        "2026-05-04": "3.520000", "2026-05-12": "1.760000", "2026-05-25": "2.200000"}
    assert sum(Decimal(m["actual"]) for m in doc["members"]) == Decimal("173.34")


def _messy(rows):
    """No labels (spread by metered usage), two credits on one row, a late row nobody metered,
    another project's row and a network row."""
    for row in rows:
        row["labels"] = "[]"
        if row["usage_start_time"] == "2026-05-04 09:00:00":
            row["credits"] = json.dumps([{"name": "Research credits", "amount": -3.22, "type": "PROMOTION"},
                                         {"name": "Free tier", "amount": -1.0, "type": "FREE_TIER"}])
    first = rows[0]
    late = first | {"usage_start_time": "2026-04-30 20:00:00", "usage_end_time": "2026-04-30 21:00:00",
                    "sku.description": "Tpu-v4 Pod Chip running in Americas", "service.description": "Cloud TPU",
                    "cost": "5.005", "credits": "[]"}
    other = first | {"project.id": "someone-else", "cost": "999"}
    network = first | {"service.description": "Networking", "sku.description": "Network Egress", "cost": "2.5"}
    return rows + [late, other, network]


@pytest.mark.slow
def test_credits_late_rows_and_other_projects_are_handled(month_env, emulator, cli, tmp_path):
    doc = cli("report", "reconcile", str(export(emulator, tmp_path, _messy)), "--month", "2026-05", "--json").json
    assert doc["actual"] == "174.13" and doc["credits"] == "-4.22" and doc["late_rows"] == 1
    assert doc["left_out"] == {"another project": 1, "not a TPU": 1}
    assert {m["member"]: m["actual"] for m in doc["members"]} == {
        "alice": "69.38", "bob": "41.58", "carol": "32.40", "unattributed": "30.77"}


@pytest.mark.slow
def test_close_makes_reports_and_balances_use_the_bill_and_reopening_needs_a_reason(month_env, emulator, cli,
                                                                                    tmp_path):
    path = export(emulator, tmp_path, _messy)
    r = cli("report", "reconcile", str(path), "--month", "2026-05", "--close")
    assert r.code == 0 and "2026-05 is closed on these figures." in r.out
    doc = cli("report", "--month", "2026-05", "--format", "json").json
    assert doc["closed"]["actual"] == "174.130000"
    assert {x["key"]: x["actual"] for x in doc["lines"]}["alice"] == "69.380000"
    again = cli("report", "reconcile", str(path), "--month", "2026-05", "--close")
    assert again.code == 5 and "2026-05 is already closed." in again.err
    balance = cli("ledger", "balance", "--json").json
    assert balance["pot"] == "25.87"                          # 200 - 174.13
    assert cli("report", "reopen", "2026-05", "--reason", " ").code == 2
    assert cli("report", "reopen", "2026-05", "--reason", "credits were reissued").code == 0
    assert cli("report", "--month", "2026-05", "--format", "json").json["closed"] is None


@pytest.mark.slow
@pytest.mark.parametrize("content, message", [
    ("", "is empty"),
    ("name,score\nalice,3\n", "is not a Cloud Billing export"),
    ("service.description,sku.description,usage_start_time,usage_end_time,project.id,cost\n",
     "lacks the columns currency, invoice.month of a Cloud Billing export"),
])
def test_bad_files_are_one_sentence_and_nothing_is_saved(month_env, cli, tmp_path, content, message):
    path = tmp_path / "bill.csv"
    path.write_text(content)
    r = cli("report", "reconcile", str(path), "--month", "2026-05", "--close")
    assert r.code == 3 and message in r.err and r.err.count("Error:") == 1
    assert cli("report", "--month", "2026-05", "--format", "json").json["closed"] is None


def test_another_currency_or_month_is_refused(month_env, emulator, cli, tmp_path):
    euros = export(emulator, tmp_path, lambda rows: [r | {"currency": "EUR"} for r in rows], "eur.csv")
    r = cli("report", "reconcile", str(euros), "--month", "2026-05", "--close")
    assert r.code == 3 and "eur.csv bills in EUR; the group keeps its books in USD." in r.err
    r = cli("report", "reconcile", str(export(emulator, tmp_path)), "--month", "2026-04", "--close")
    assert r.code == 3 and "has no rows for invoice month 202604 (it holds 202605)." in r.err
    assert cli("report", "--month", "2026-05", "--format", "json").json["closed"] is None
