"""The report as one HTML file a treasurer can mail to the group: inline CSS, an inline SVG
bar chart, no script and nothing fetched from the network. Each figure's cell carries
`data-key` and `data-col`, so a test (or a curious member) can read the numbers back."""

from __future__ import annotations

from html import escape

from tpuctl.cli.report_render import cells, headers, money, sections, title
from tpuctl.domain.events import UNATTRIBUTED
from tpuctl.domain.report import Report

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1f2328;margin:2em auto;max-width:60em}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}th,td{padding:.25em .8em;border-bottom:1px solid #d0d7de;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f6f8fa}
tr.total td{font-weight:bold;border-top:2px solid #1f2328}tr.unattributed td{color:#cf222e}
svg text{font:12px system-ui,sans-serif}.note{color:#59636e}
"""


def _chart(r: Report) -> str:
    lines = [line for line in r.lines if line.estimate]
    top = max((line.estimate for line in lines), default=0)
    row, label, width = 24, 140, 360
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="spend by {escape(r.by)}" '
             f'width="{label + width + 120}" height="{row * len(lines) + 8}">']
    for i, line in enumerate(lines):
        size = int(line.estimate / top * width) if top else 0
        color = "#cf222e" if line.key == UNATTRIBUTED else "#0969da"
        y = i * row + 4
        parts.append(f'<text x="0" y="{y + 15}">{escape(line.key)}</text>'
                     f'<rect x="{label}" y="{y}" width="{size}" height="{row - 8}" fill="{color}">'
                     f'<title>{escape(line.key)}: {escape(money(r, line.estimate))}</title></rect>'
                     f'<text x="{label + size + 6}" y="{y + 15}">{escape(money(r, line.estimate))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(head: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    out = ["<table><thead><tr>", *(f"<th>{escape(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for index, row in enumerate(rows):
        cls = (classes or [""] * len(rows))[index]
        key = escape(row[0])
        out.append(f'<tr class="{cls}">' if cls else "<tr>")
        out += [f'<td data-key="{key}" data-col="{escape(h.lower())}">{escape(str(c))}</td>' for h, c in zip(head, row)]
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def html(r: Report) -> str:
    rows = [cells(r, line) for line in r.lines] + [cells(r, r.total)]
    classes = ["unattributed" if line.key == UNATTRIBUTED else "" for line in r.lines] + ["total"]
    body = [f"<h1>{escape(title(r))}</h1>",
            f'<p class="note">As of {r.as_of:%Y-%m-%d %H:%M} UTC. Estimates are metered usage at the group\'s '
            f"prices; a closed month adds the real bill's figures.</p>",
            _table(headers(r), rows, classes), _chart(r)]
    for name, head, section_rows, empty in sections(r):
        body.append(f"<h2>{escape(name)}</h2>")
        body.append(_table(head, section_rows) if section_rows else f'<p class="note">{escape(empty)}</p>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title(r))}</title><style>{_CSS}</style></head><body>\n" + "\n".join(body)
            + "\n</body></html>\n")
