"""A host-side service reached from the sandbox over a unix socket.

One request per connection: the client sends one JSON object ``{"op": ..., "args": {...}}``
and closes its writing side; the service answers one JSON object ``{"ok": bool, "output": str,
"data": ...}`` and closes. Exceptions become one ``Error: ...`` line, never a traceback.

Bounded: at most ``max_connections`` requests are handled at once (a connection that finds no free
slot within ``conn_timeout`` seconds is answered "busy, try again" and closed), every socket read and write times out after
``conn_timeout`` seconds, and a request over ``MAX_REQUEST`` bytes is refused with one line. Host-side
errors (a client that hung up, a bug) go to the ``mlgym.services`` logger, which ``mlgym run`` writes
to the run's ``run.log``; nothing is printed on the terminal.
"""

from __future__ import annotations

import json
import logging
import os
import socketserver
import tempfile
import threading
from pathlib import Path
from typing import Any

MAX_REQUEST = 1 << 20
MAX_CONNECTIONS = 16
CONN_TIMEOUT_S = 30.0

log = logging.getLogger("mlgym.services")
logging.getLogger("mlgym").addHandler(logging.NullHandler())  # never Python's last-resort stderr printer


class ServiceError(Exception):
    """An expected failure, shown to the agent as one line."""


class _Handler(socketserver.StreamRequestHandler):
    def setup(self) -> None:
        self.timeout = self.server.service.conn_timeout  # type: ignore[attr-defined]
        super().setup()

    def handle(self) -> None:
        service: SocketService = self.server.service  # type: ignore[attr-defined]
        raw = self.rfile.read(MAX_REQUEST + 1)
        if len(raw) > MAX_REQUEST:
            self.wfile.write(json.dumps({"ok": False, "output": f"Error: request too large (over {MAX_REQUEST} "
                                                                "bytes)"}).encode("utf-8"))
            return
        try:
            req = json.loads(raw.decode("utf-8"))
            op, args = str(req["op"]), dict(req.get("args") or {})
        except (ValueError, KeyError, TypeError):
            reply: dict[str, Any] = {"ok": False, "output": "Error: malformed request to the service"}
        else:
            try:
                reply = service.handle(op, args)
            except ServiceError as exc:
                reply = {"ok": False, "output": f"Error: {exc}"}
            except Exception as exc:  # a bug or an unexpected library error: still one line
                reply = {"ok": False, "output": f"Error: {op} failed: {type(exc).__name__}: {exc}".splitlines()[0]}
        self.wfile.write(json.dumps(reply).encode("utf-8"))


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 64
    slots: threading.BoundedSemaphore

    def process_request(self, request: Any, client_address: Any) -> None:
        service = self.service  # type: ignore[attr-defined]
        if not self.slots.acquire(timeout=service.conn_timeout):
            log.warning("%s: %d connections busy; one refused", service.name, service.max_connections)
            busy = {"ok": False, "output": f"Error: the {service.name} service is busy ({service.max_connections} "
                                           "requests in progress); try again"}
            try:  # one line, never a wait: the reply fits the socket buffer or is dropped
                request.setblocking(False)
                try:  # what the client sent already is read first: closing on unread data resets the client
                    for _ in range(MAX_REQUEST // 65536 + 1):
                        if not request.recv(65536):
                            break
                except BlockingIOError:
                    pass
                request.sendall(json.dumps(busy).encode("utf-8"))
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("%s: error while serving a request", self.service.name)  # type: ignore[attr-defined]


class SocketService:
    """Base class: binds ``<socket_dir>/<name>.sock`` and serves requests on a thread."""

    name = "service"
    max_connections = MAX_CONNECTIONS
    conn_timeout = CONN_TIMEOUT_S

    def __init__(self, socket_dir: str | os.PathLike[str]) -> None:
        self.socket_path = Path(socket_dir) / f"{self.name}.sock"
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        if self.socket_path.exists():
            self.socket_path.unlink()
        self._tmpdir: str | None = None
        if len(str(self.socket_path)) < 100:
            self._server = _Server(str(self.socket_path), _Handler)
        else:  # unix socket paths are limited to ~108 bytes: bind short, then rename into place
            self._tmpdir = tempfile.mkdtemp(prefix="mlgym-")
            short = os.path.join(self._tmpdir, "s")
            self._server = _Server(short, _Handler)
            os.rename(short, self.socket_path)
        os.chmod(self.socket_path, 0o600)
        self._server.service = self  # type: ignore[attr-defined]
        self._server.slots = threading.BoundedSemaphore(self.max_connections)
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"mlgym-{self.name}",
                                        daemon=True)
        self._thread.start()

    def handle(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        try:
            self.socket_path.unlink()
        except OSError:
            pass
        if self._tmpdir:
            try:
                os.rmdir(self._tmpdir)
            except OSError:
                pass


def option(options: dict[str, Any], key: str, env: str, default: Any) -> Any:
    """A tool option: the episode's tool_options first, then the environment variable, then the default."""
    if options.get(key) not in (None, ""):
        return options[key]
    if os.environ.get(env):
        return os.environ[env]
    return default
