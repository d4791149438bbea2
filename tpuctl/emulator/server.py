"""The emulator's HTTP server: one World per request, kept in memory or in a shared state file.

Each request runs one transaction: load the state, advance it to now, apply the request,
save. With a state file the transaction holds `FileLock(state_path + ".lock")`, so several
processes (each `tpuctl` invocation may run its own in-process server on the same file)
share one world safely. Importing this module stays light: no google.*, no yaml.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from tpuctl.domain.clock import Clock, ManualClock, SystemClock
from tpuctl.emulator import urls
from tpuctl.emulator.alpha import version_of
from tpuctl.emulator.exceptions import ApiError, Internal, InvalidArgument, NotFound
from tpuctl.emulator.models import STATE_VERSION, World, WorldSettings, new_state, rfc3339
from tpuctl.emulator.responses import ControlResponses, Request, TextReply, TpuResponses

log = logging.getLogger(__name__)
NodeHook = Callable[[dict], None]


class MemoryStore:
    """The state as a live dict behind a threading lock (no state file)."""

    def __init__(self) -> None:
        self._state = new_state()
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[dict]:
        with self._lock:
            yield self._state


class FileStore:
    """The state in a JSON file: each transaction loads it under `FileLock(path + ".lock")` and,
    if the block ends normally and changed it, replaces it atomically (temp file + os.replace).
    """

    def __init__(self, path: Path):
        from filelock import FileLock  # imported only when a state file is used

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file_lock = FileLock(str(self.path) + ".lock")
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[dict]:
        with self._lock, self._file_lock:
            try:
                text = self.path.read_text(encoding="utf-8")
            except FileNotFoundError:
                text = ""
            state = self._load(text) if text.strip() else new_state()
            yield state
            new_text = json.dumps(state, separators=(",", ":"))
            if new_text != text:
                tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
                tmp.write_text(new_text, encoding="utf-8")
                os.replace(tmp, self.path)

    def _load(self, text: str) -> dict:
        state = json.loads(text)
        if state.get("version") != STATE_VERSION:
            raise RuntimeError(f"Emulator state file {self.path} has version {state.get('version')}; this "
                               f"emulator reads version {STATE_VERSION}. Reset it or delete the file.")
        return state


class EmulatorServer:
    """A Cloud TPU v2 REST emulator serving on a daemon thread (moto's ThreadedMotoServer, for TPUs).

    `settings=None` keeps the settings already in the state file (or the defaults); a
    WorldSettings replaces them; a dict changes only the fields it names. `on_node_ready` /
    `on_node_gone` are called (outside the lock) with the node's JSON when a node becomes
    READY / stops being READY; transitions happen when a request (or `tick()`) looks, so
    give `tick_seconds` to have a background thread look that often. `manual_clock=True`
    freezes time at start (it then moves only by `advance_clock` / `POST .../clock/advance`).
    `request_log` is called after each reply with {method, path, query, status, latency_ms}.
    """

    def __init__(self, state_path: Path | str | None = None, host: str = "127.0.0.1", port: int = 0,
                 settings: WorldSettings | dict | None = None, clock: Clock | None = None,
                 on_node_ready: NodeHook | None = None, on_node_gone: NodeHook | None = None,
                 manual_clock: bool = False, tick_seconds: float | None = None,
                 request_log: Callable[[dict], None] | None = None):
        self.store = FileStore(Path(state_path)) if state_path else MemoryStore()
        self.host, self.port = host, port
        self.clock: Clock = clock or (ManualClock(SystemClock().now()) if manual_clock else SystemClock())
        self.clock_control = isinstance(self.clock, ManualClock)
        self.hooks = {"ready": on_node_ready, "gone": on_node_gone}
        self.request_count = 0
        self.request_log = request_log
        self._count_lock = threading.Lock()
        self.tick_seconds = tick_seconds
        self._httpd: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        changes = settings.to_dict() if isinstance(settings, WorldSettings) else dict(settings or {})
        self._run(lambda world: world.configure(**changes))  # also creates a missing state file

    # ----- life cycle -----

    def start(self) -> EmulatorServer:
        self._httpd = ThreadingHTTPServer((self.host, self.port), _make_handler(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._stopping.clear()
        self._threads = [threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                          name=f"tpu-emulator-{self.port}", daemon=True)]
        if self.tick_seconds:
            self._threads.append(threading.Thread(target=self._tick_forever, name=f"tpu-emulator-tick-{self.port}",
                                                  daemon=True))
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._stopping.set()
            self._httpd.shutdown()
            self._httpd.server_close()
            for thread in self._threads:
                thread.join()
            self._httpd, self._threads = None, []

    def _tick_forever(self) -> None:
        while not self._stopping.wait(self.tick_seconds):
            try:
                self.tick()
            except Exception:  # keep ticking; the next request will report the problem
                log.exception("emulator tick failed")

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ----- control (the same as the /emulator/v1 surface) -----

    def reset(self, settings: WorldSettings | None = None) -> None:
        self._run(lambda world: world.reset(settings))

    def configure(self, **settings_fields) -> WorldSettings:
        return self._run(lambda world: world.configure(**settings_fields))

    @property
    def settings(self) -> WorldSettings:
        return self._run(lambda world: world.settings)

    def inject_faults(self, status: int = 503, count: int = 1, method: str | None = None,
                      path_contains: str | None = None, after_apply: bool = False) -> None:
        """The next `count` API requests matching method/path answer `status` with Google's error JSON.

        With after_apply=True each is applied first and only the reply is lost.
        """
        self._run(lambda world: world.add_fault(status, count, method, path_contains, after_apply))

    def preempt(self, zone: str, node_id: str, project: str | None = None) -> list[dict]:
        return self._run(lambda world: world.preempt(zone, node_id, project))

    def maintain(self, zone: str, node_id: str, project: str | None = None) -> list[dict]:
        """A maintenance event now on a READY node: REPAIRING for `maintenance_seconds`, then READY."""
        return self._run(lambda world: world.maintain(zone, node_id, project))

    def now(self) -> str:
        """The world's time (RFC 3339), which `advance_clock` moves."""
        return self._run(lambda world: rfc3339(world.now))

    def set_capacity(self, zone: str, generation_or_type: str, chips: int | None) -> None:
        self._run(lambda world: world.set_capacity(zone, generation_or_type, chips))

    def advance_clock(self, seconds: float) -> None:
        """Move time forward for every process sharing this world (kept as an offset in the state)."""
        self._run(lambda world: world.advance_clock(seconds))

    def usage(self) -> list[dict]:
        """Per node incarnation, its READY intervals (aware datetimes) and chip-seconds, up to now."""
        return self._run(lambda world: world.usage(), copy_result=False)  # built afresh, not live state

    def billing_export(self, month: str | None = None) -> str:
        """The Cloud Billing usage cost export (CSV) of what ran; `month` (YYYY-MM) keeps one invoice month."""
        return self._run(lambda world: world.billing_export(month))

    def tick(self) -> None:
        """Apply what is due now (and fire hooks) without a request."""
        self._run(lambda world: None)

    # ----- one transaction -----

    def _run(self, action: Callable[[World], object], copy_result: bool = True):
        """Run `action` on the world, advanced to now, in one transaction; then fire hooks.

        The result is copied (through JSON) inside the transaction: with the in-memory store
        the world's dicts are live and other threads change them once the lock is released.
        """
        with self.store.transaction() as state:
            world = World(state, self.clock.now(), record_events=any(self.hooks.values()))
            world.advance()
            result = action(world)
            if copy_result and isinstance(result, (dict, list)):
                result = json.loads(json.dumps(result))
        self._fire(world.events)
        return result

    def _fire(self, events: list[tuple[str, dict]]) -> None:
        for kind, node in events:
            hook = self.hooks[kind]
            if hook is not None:
                try:
                    hook(node)
                except Exception:  # a hook's bug must not break the API
                    log.exception("emulator on_node_%s hook failed", kind)

    def handle(self, method: str, target: str, body: bytes) -> tuple[int, bytes, float, str]:
        """Serve one HTTP request: (status, reply, seconds of latency to add, content type)."""
        with self._count_lock:
            self.request_count += 1
        split = urlsplit(target)
        control = urls.match(urls.CONTROL_ROUTES, method, split.path)
        route = control or urls.match(urls.API_ROUTES, method, split.path)
        latency = 0.0
        try:
            if route is None:
                raise NotFound(f"No such method: {method} {split.path}")
            req = Request(method, split.path, dict(parse_qsl(split.query)), _parse_body(body), route[1])

            def apply(world: World):
                nonlocal latency
                latency = world.settings.latency_ms / 1000.0
                if control:
                    return _reply(getattr(ControlResponses(world, self.clock_control), route[0])(req))
                fault = world.take_fault(method, target)
                if fault and not fault[1]:
                    return _reply(fault[0])
                try:
                    result = TpuResponses(world, version_of(split.path)).call(route[0], req)
                except ApiError as exc:
                    result = exc
                return _reply(fault[0] if fault else result)

            status, data, content_type = self._run(apply)
        except ApiError as exc:
            status, data, content_type = _reply(exc)
        except Exception as exc:  # a bug: answer 500 and keep serving
            log.exception("emulator failed on %s %s", method, target)
            status, data, content_type = _reply(Internal(f"Emulator error: {exc!r}"))
        return status, data, latency, content_type


_JSON = "application/json; charset=UTF-8"


def _reply(result: dict | TextReply | ApiError) -> tuple[int, bytes, str]:
    if isinstance(result, ApiError):
        return result.http_status, json.dumps(result.body()).encode(), _JSON
    if isinstance(result, TextReply):
        return 200, result.text.encode(), result.content_type
    return 200, json.dumps(result).encode(), _JSON


def _parse_body(body: bytes) -> dict:
    if not body.strip():
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        raise InvalidArgument("The request body is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise InvalidArgument("The request body must be a JSON object.")
    return parsed


def _make_handler(server: EmulatorServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall
        timeout = 60  # close idle keep-alive connections

        def _serve(self) -> None:
            started = time.monotonic()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, data, latency, content_type = server.handle(self.command, self.path, body)
            if latency:
                time.sleep(latency)
            if server.request_log is not None:      # before the reply: lines come in the order clients saw
                split = urlsplit(self.path)
                server.request_log({"method": self.command, "path": split.path, "query": split.query,
                                    "status": status, "latency_ms": round((time.monotonic() - started) * 1000, 1)})
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _serve

        def log_message(self, format: str, *args) -> None:
            log.debug("emulator: " + format, *args)

    return Handler


def serve_forever(host: str = "127.0.0.1", port: int = 8470, state_path: Path | str | None = None,
                  settings: WorldSettings | dict | None = None, manual_clock: bool = False,
                  ready: Callable[[EmulatorServer], None] | None = None, tick_seconds: float | None = 1.0,
                  request_log: Callable[[dict], None] | None = None) -> None:
    """Run the emulator in the foreground until interrupted (for `tpuctl emulator serve`).

    `settings` as for EmulatorServer (a dict of only the flags given keeps the other stored
    settings). `ready(server)` is called once it listens (e.g. to print the URL).
    """
    server = EmulatorServer(state_path, host, port, settings, manual_clock=manual_clock,
                            tick_seconds=tick_seconds, request_log=request_log).start()
    if ready is not None:
        ready(server)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
