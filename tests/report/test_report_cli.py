"""`tpuctl report` in every format over the scripted month: the same hand-checked figures
(worked out in tpuctl/services/sample_month.py's docstring)."""

from __future__ import annotations

from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.report.tools import chromium
from tpuctl.domain.report import parse_report_csv

GOLDEN = Path(__file__).parent / "golden"
ESTIMATES = {"alice": Decimal("73.6"), "bob": Decimal("41.584"), "carol": Decimal("32.4"), "tess": Decimal(0),
             "unattributed": Decimal("25.76")}


def test_markdown_is_the_golden_month(month_env, cli):
    r = cli("report", "--month", "2026-05", "--format", "md")
    assert r.code == 0, r.err
    assert r.out == (GOLDEN / "2026-05-by-member.md").read_text()


@pytest.mark.slow
def test_table_shows_members_the_total_bars_and_the_sections(month_env, cli):
    out = cli("report", "--month", "2026-05").out
    assert "alice         40.00       24.00            0.00             $73.60    $150.00  49%   $73.60" in out
    assert "unattributed  8.00        0.00             0.00             $25.76    -        -     $25.76" in out
    assert "total         90.00       44.00            0.00             $173.34   $500.00  35%   $173.34" in out
    assert "alice         ██████████████████████████████  $73.60" in out
    assert "bob-v5e  us-west4-a  bob     2026-05-05 12:30  $9.38" in out
    assert "carol-v6e  us-east1-d  carol   2026-05-10 11:00  tess  its lease ended at 2026-05-10 10:00 UTC" in out
    assert "digits-k3x9q2  alice   24.000000   $22.08" in out


def test_json_has_the_figures_and_a_stable_shape(month_env, cli):
    doc = cli("report", "--month", "2026-05", "--format", "json").json
    assert doc["schema"] == "tpuctl.report/1"
    assert doc["period"] == {"start": "2026-05-01", "end": "2026-05-31", "month": "2026-05"}
    assert {line["key"]: Decimal(line["estimate"]) for line in doc["lines"]} == ESTIMATES
    assert doc["total"]["estimate"] == "173.344000" and doc["total"]["spot_estimate"] == "31.464000"
    assert doc["total"]["chip_hours"] == "90.000000" and doc["total"]["budget"] == "500.000000"
    assert doc["unattributed"]["estimate"] == "25.760000"
    assert doc["preemptions"][0] | {"time": None} == {"node": "bob-v5e", "zone": "us-west4-a", "member": "bob",
                                                        "time": None, "chip_hours": "20.000000",
                                                        "estimate": "9.384000"}
    assert doc["ended"][0]["reason"] == "its lease ended at 2026-05-10 10:00 UTC"
    assert sorted(doc["lines"][0]) == ["actual", "budget", "chip_hours", "estimate", "forecast", "free_chip_hours",
                                       "key", "spot_chip_hours", "spot_estimate", "used"]


def test_csv_goes_back_into_the_same_figures(month_env, cli, tmp_path):
    for by in ("member", "type", "zone", "day", "job"):
        out = tmp_path / f"{by}.csv"
        assert cli("report", "--month", "2026-05", "--by", by, "--format", "csv", "--out", str(out)).code == 0
        lines, total = parse_report_csv(out.read_text())
        assert total.estimate == Decimal("173.344") and total.chip_seconds == 90 * 3600
        assert sum(line.estimate for line in lines) == total.estimate
        assert sum(line.chip_seconds for line in lines) == total.chip_seconds
        doc = cli("report", "--month", "2026-05", "--by", by, "--format", "json").json
        assert {x.key: x.estimate for x in lines} == {x["key"]: Decimal(x["estimate"]) for x in doc["lines"]}
    lines, _ = parse_report_csv((tmp_path / "member.csv").read_text())
    assert {x.key: x.estimate for x in lines} == ESTIMATES


class _Cells(HTMLParser):
    """Every figure cell of the page: (data-key, data-col) -> text."""

    def __init__(self):
        super().__init__()
        self.cells, self.at, self.tags = {}, None, []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        found = dict(attrs)
        if tag == "td" and "data-key" in found:
            self.at = (found["data-key"], found["data-col"])
            self.cells[self.at] = ""

    def handle_endtag(self, tag):
        self.at = None if tag == "td" else self.at

    def handle_data(self, data):
        if self.at:
            self.cells[self.at] += data


@pytest.mark.slow
def test_html_opens_in_headless_chromium_with_the_figures_in_its_dom(month_env, cli, tmp_path):
    page = tmp_path / "2026-05.html"
    assert cli("report", "--month", "2026-05", "--format", "html", "--out", str(page)).code == 0
    text = page.read_text()
    assert "<script" not in text and "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in text and "<svg" in text and "<link" not in text
    dom = chromium("--dump-dom", page.as_uri())
    cells = _Cells()
    cells.feed(dom)
    assert cells.cells[("alice", "estimate")] == "$73.60"
    assert cells.cells[("unattributed", "estimate")] == "$25.76"
    assert cells.cells[("total", "estimate")] == "$173.34"
    assert cells.cells[("total", "budget")] == "$500.00"
    assert cells.cells[("bob-v5e", "run cut short cost")] == "$9.38"
    assert "svg" in cells.tags and "rect" in cells.tags
    shot = tmp_path / "artifacts" / "report-2026-05.png"       # kept with the test's tmp dir
    shot.parent.mkdir()
    chromium(f"--screenshot={shot}", "--window-size=1200,1600", "--hide-scrollbars", page.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_json_has_a_one_line_summary_a_chat_bot_can_post(month_env, cli):
    doc = cli("report", "--month", "2026-05", "--format", "json").json
    assert doc["summary"] == ("TPU spend 2026-05: $173.34 of the group's $500.00 (35%); 90.00 chip-hours, 0.00 free; "
                              "most by member: alice $73.60, bob $41.58, carol $32.40.")
