"""The README's chat-bot line, run as written: `tpuctl report --format json | jq | curl` posts the
report's one-line summary to a webhook (here a local HTTP server standing in for Slack's)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from tests.report.tools import tool

PIPELINE = ("tpuctl report --format json | jq -c '{text: .summary}' | "
            "curl -fsS -H 'Content-Type: application/json' -d @- \"$WEBHOOK\"")


def test_the_summary_reaches_a_webhook_through_jq_and_curl(month_env, monkeypatch):
    assert PIPELINE in (Path(__file__).resolve().parents[2] / "README.md").read_text()
    tool("jq"), tool("curl")
    received: list[tuple[str, bytes]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((self.headers["Content-Type"], self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("WEBHOOK", f"http://127.0.0.1:{server.server_port}/hook")
        monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:/usr/bin:/bin")
        done = subprocess.run(["bash", "-o", "pipefail", "-c", PIPELINE.replace("--format", "--month 2026-05 --format")],
                              capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr
    assert [(kind, json.loads(body)) for kind, body in received] == [("application/json", {"text": (
        "TPU spend 2026-05: $173.34 of the group's $500.00 (35%); 90.00 chip-hours, 0.00 free; "
        "most by member: alice $73.60, bob $41.58, carol $32.40.")})]
