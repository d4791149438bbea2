"""The emulator's control surface over HTTP (`/emulator/v1/...`), for an emulator served elsewhere."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from tpuctl.errors import NotFoundError, UnavailableError, UsageError


class RemoteEmulator:
    """Steer a served emulator (`tpuctl emulator serve`) as a test or a newcomer would."""

    def __init__(self, endpoint: str, timeout: float = 30.0):
        self.endpoint, self.timeout = endpoint.rstrip("/"), timeout

    def preempt(self, zone: str, node: str, project: str | None) -> list[dict]:
        return self._post("preempt", {"zone": zone, "node": node, "project": project})["nodes"]

    def maintain(self, zone: str, node: str, project: str | None) -> list[dict]:
        return self._post("maintenance", {"zone": zone, "node": node, "project": project})["nodes"]

    def set_capacity(self, zone: str, generation_or_type: str, chips: int) -> dict:
        return self._post("capacity", {"zone": zone, "type": generation_or_type, "chips": chips})["capacity"]

    def advance_clock(self, seconds: float) -> str:
        return self._post("clock/advance", {"seconds": seconds})["time"]

    def billing_export(self, month: str | None) -> str:
        query = f"?{urllib.parse.urlencode({'month': month})}" if month else ""
        return self._call(urllib.request.Request(f"{self.endpoint}/emulator/v1/billing-export{query}"))

    def _post(self, path: str, body: dict) -> dict:
        body = {k: v for k, v in body.items() if v is not None}
        request = urllib.request.Request(f"{self.endpoint}/emulator/v1/{path}", data=json.dumps(body).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})
        return json.loads(self._call(request))

    def _call(self, request: urllib.request.Request) -> str:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                return reply.read().decode("utf-8")
        except urllib.error.HTTPError as error:
            message = _message(error.read())
            if error.code == 400:
                raise UsageError(message) from None
            if error.code == 404 and "No such method" not in message:
                raise NotFoundError(message) from None
            raise UnavailableError(f"The emulator at {self.endpoint} answered {error.code}: {message}",
                                   hint="Is it a tpuctl emulator (tpuctl emulator serve)?") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise UnavailableError(f"Cannot reach the emulator at {self.endpoint} ({reason}).",
                                   hint="Start it with `tpuctl emulator serve`, or check the URL.") from None


def fetch_billing_export(endpoint: str, month: str | None, timeout: float = 30.0) -> str:
    """GET /emulator/v1/billing-export from the emulator at `endpoint`: the CSV text."""
    return RemoteEmulator(endpoint, timeout).billing_export(month)


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
