"""``mlgym view RUN_DIR...``: the HTML report and trajectory viewer served on localhost, kept live.

The page is the one ``mlgym report --html`` writes (its builder, without plots), plus a small
script that asks ``/version`` every ``poll_s`` seconds for a fingerprint of the runs' files (names,
sizes, modification times of ``run.json``, ``results.json`` and ``*.traj``). When it changes (a
running episode took a step, a new run started) the page fetches the new HTML and rewrites itself
in place, without navigating; the opened trajectory and both search boxes are kept.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .errors import MlgymError

_LIVE_JS = r"""
(function () {
  const KEY = "mlgym-view-state";
  let version = %(version)s;
  function row(tr) { const c = tr.querySelectorAll("td"); return c.length > 2 ? c[2].textContent : null; }
  function save() {
    const open = document.querySelector("#runs tr.run-row.open");
    const s = document.getElementById("search"), ss = document.getElementById("step-search");
    sessionStorage.setItem(KEY, JSON.stringify({open: open ? row(open) : null, search: s ? s.value : "",
                                                 stepSearch: ss ? ss.value : "", y: window.scrollY}));
  }
  function restore() {
    let st = null;
    try { st = JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch (e) { st = null; }
    sessionStorage.removeItem(KEY);
    if (!st) return;
    const s = document.getElementById("search");
    if (s && st.search) { s.value = st.search; s.dispatchEvent(new Event("input")); }
    if (st.open !== null) {
      const tr = Array.from(document.querySelectorAll("#runs tr.run-row")).find(function (t) {
        return row(t) === st.open; });
      if (tr) tr.click();
    }
    window.scrollTo(0, st.y || 0);
    if (st.stepSearch) {
      setTimeout(function () {
        const ss = document.getElementById("step-search");
        if (ss) { ss.value = st.stepSearch; ss.dispatchEvent(new Event("input")); }
      }, 200);
    }
  }
  async function poll() {
    try {
      const r = await fetch("/version", {cache: "no-store"});
      const v = await r.text();
      if (v !== version) {
        const page = await (await fetch("/", {cache: "no-store"})).text();
        save();
        document.open(); document.write(page); document.close();
        return;  // the new page runs its own copy of this script
      }
    } catch (e) { /* the server stopped: keep showing what we have */ }
    setTimeout(poll, %(poll_ms)d);
  }
  restore();  // this script is the page's last element: the table and the viewer's handlers exist
  setTimeout(poll, %(poll_ms)d);
})();
"""


def fingerprint(paths: Sequence[Path]) -> str:
    """A digest of the names, sizes and mtimes of the run files under ``paths``."""
    h = hashlib.sha1()
    for root in paths:
        files = [root] if root.is_file() else sorted(
            p for pattern in ("run.json", "results.json", "*.traj") for p in root.rglob(pattern))
        for p in files:
            try:
                st = p.stat()
            except OSError:  # replaced between listing and stat (an atomic rewrite)
                continue
            h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _page(paths: Sequence[Path], version: str, poll_ms: int) -> str:
    from .report.build import build, report_object
    from .report.html import render_html
    from .report.loader import load_runs

    script = _LIVE_JS % {"version": json.dumps(version), "poll_ms": poll_ms}
    warnings: list[str] = []
    try:
        runs = load_runs(list(paths), warnings, keep_steps=True, parallel=False)
        for run in runs:
            _mark_running(run)
        if not runs:
            raise MlgymError("no run directories yet (a run directory holds run.json)")
        built = build(runs, warnings=warnings)
        html = render_html(built, report_object(built), {})
    except Exception as exc:  # a half-written run, no runs yet: say so and keep polling
        from html import escape

        html = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>mlgym report</title>"
                f"</head><body><h1>mlgym report</h1><p class=\"meta\" id=\"waiting\">Waiting for runs: "
                f"{escape(type(exc).__name__)}: {escape(str(exc))}</p></body></html>")
    return html.replace("</body></html>", f"<script>{script}</script></body></html>")


def _mark_running(run: Any) -> None:
    """An episode still going (no exit status, no end time in run.json) is shown as ``running``, not left
    out as a failure as a finished report would."""
    if not run.exit_status and run.infra_failure is not None and run.layout != "mlgym" and not run.ended:
        run.exit_status, run.infra_failure = "running", None


class ViewServer:
    """The HTTP server of ``mlgym view``; ``start()`` serves on a thread, ``url`` says where."""

    def __init__(self, paths: Sequence[str | Path], *, host: str = "127.0.0.1", port: int = 0,
                 poll_s: float = 2.0) -> None:
        self.paths = [Path(p).resolve() for p in paths]
        for p in self.paths:
            if not p.exists():
                raise MlgymError(f"{p}: no such run directory")
        poll_ms = max(100, int(poll_s * 1000))
        cache: dict[str, str] = {}
        lock = threading.Lock()
        paths_ = self.paths

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                route = self.path.split("?", 1)[0]
                if route == "/version":
                    return self._send(fingerprint(paths_).encode(), "text/plain; charset=utf-8")
                if route not in ("/", "/index.html"):
                    return self._send(b"not found", "text/plain; charset=utf-8", 404)
                version = fingerprint(paths_)
                with lock:
                    if version not in cache:
                        cache.clear()
                        cache[version] = _page(paths_, version, poll_ms)
                    body = cache[version]
                return self._send(body.encode("utf-8"), "text/html; charset=utf-8")

            def _send(self, data: bytes, ctype: str, status: int = 200) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_address[1]}/"
        self._thread: threading.Thread | None = None

    def start(self) -> ViewServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="mlgym-view", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.5)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
