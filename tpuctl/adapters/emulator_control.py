"""The emulator's control surface over HTTP (`/emulator/v1/...`), for an emulator served elsewhere."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from tpuctl.errors import UnavailableError, UsageError


def fetch_billing_export(endpoint: str, month: str | None, timeout: float = 30.0) -> str:
    """GET /emulator/v1/billing-export from the emulator at `endpoint`: the CSV text."""
    query = f"?{urllib.parse.urlencode({'month': month})}" if month else ""
    url = f"{endpoint.rstrip('/')}/emulator/v1/billing-export{query}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        message = _message(error.read())
        if error.code == 400:
            raise UsageError(message) from None
        raise UnavailableError(f"The emulator at {endpoint} answered {error.code}: {message}",
                               hint="Is it a tpuctl emulator (tpuctl emulator serve)?") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise UnavailableError(f"Cannot reach the emulator at {endpoint} ({reason}).",
                               hint="Start it with `tpuctl emulator serve`, or check the URL.") from None


def runs_agents(endpoint: str, timeout: float = 5.0) -> bool | None:
    """Whether the emulator at `endpoint` starts tpuctl agents on the TPUs it boots (None: it
    does not say, e.g. it is not a tpuctl emulator)."""
    try:
        with urllib.request.urlopen(f"{endpoint.rstrip('/')}/emulator/v1/health", timeout=timeout) as reply:
            found = json.loads(reply.read()).get("agents")
    except (urllib.error.URLError, OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, bool) else None


def _message(body: bytes) -> str:
    try:
        return json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return body.decode("utf-8", "replace").strip() or "no message"
