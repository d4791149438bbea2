"""The scripted month's report, hand-checked: every figure below is worked out in
tpuctl/services/sample_month.py's table (list prices x chips x hours)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tpuctl.services import report as svc


@pytest.mark.slow
def test_the_month_by_member_gives_the_hand_checked_totals(month):
    r = svc.month_report(month.db, month.store, month.clock, month.table, month="2026-05")
    got = {line.key: (line.chip_hours, line.estimate, line.budget) for line in r.lines}
    assert got == {
        "alice": (Decimal(40), Decimal("73.60"), Decimal(150)),
        "bob": (Decimal(30), Decimal("41.584"), Decimal(100)),
        "carol": (Decimal(12), Decimal("32.40"), Decimal(100)),
        "tess": (Decimal(0), Decimal(0), Decimal(100)),
        "unattributed": (Decimal(8), Decimal("25.76"), None),
    }
    assert (r.total.chip_hours, r.total.estimate, r.total.budget) == (Decimal(90), Decimal("173.344"), Decimal(500))
    assert (r.total.spot_chip_hours, r.total.spot_estimate) == (Decimal(44), Decimal("31.464"))
    assert r.unattributed.estimate == Decimal("25.76")
    assert r.total.forecast == Decimal("173.344")              # the month is over
    assert [(j.job, j.member, j.estimate) for j in r.top_jobs] == [("digits-k3x9q2", "alice", Decimal("22.08"))]
    assert [(p.node, p.member, p.estimate) for p in r.preemptions] == [("bob-v5e", "bob", Decimal("9.384"))]
    assert [(e.node, e.member, e.by, e.reason) for e in r.ended] == [
        ("carol-v6e", "carol", "tess", "its lease ended at 2026-05-10 10:00 UTC")]


def test_by_day_type_zone_and_job_add_up_to_the_same_total(month):
    def lines(by):
        r = svc.month_report(month.db, month.store, month.clock, month.table, month="2026-05", by=by)
        assert (r.total.chip_seconds, r.total.estimate) == (90 * 3600, Decimal("173.344"))
        return {line.key: line.estimate for line in r.lines}

    assert lines("type") == {"v4-8": Decimal("131.56"), "v5litepod-8": Decimal("9.384"), "v6e-4": Decimal("32.40")}
    assert lines("zone") == {"us-central2-b": Decimal("131.56"), "us-west4-a": Decimal("9.384"),
                             "us-east1-d": Decimal("32.40")}
    assert lines("day") == {"2026-05-04": Decimal("51.52"), "2026-05-05": Decimal("9.384"),
                            "2026-05-10": Decimal("32.40"), "2026-05-12": Decimal("25.76"),
                            "2026-05-20": Decimal("22.08"), "2026-05-25": Decimal("32.20")}
    assert lines("job") == {"-": Decimal("151.264"), "digits-k3x9q2": Decimal("22.08")}


@pytest.mark.slow
def test_days_from_to_cover_only_those_days(month):
    from datetime import date

    r = svc.month_report(month.db, month.store, month.clock, month.table, first=date(2026, 5, 4),
                         last=date(2026, 5, 10), by="member")
    assert r.month is None and r.total.estimate == Decimal("93.304")       # 51.52 + 9.384 + 32.40
