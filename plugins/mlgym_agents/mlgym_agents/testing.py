"""A scripted OpenAI-compatible server on 127.0.0.1, for tests and benchmarks.

``ScriptedServer(script)`` serves ``POST /v1/chat/completions`` (plain or streamed). Each request
takes the next entry of ``script``:

* ``{"content": str, "tool_calls": [{"name", "arguments"}], "usage": {...}}``: a completion (usage
  defaults to ~4 characters per token of the request and the reply);
* ``{"status": 429, "message": "..."}``: an error response with an OpenAI-style body
  (``"code"`` optional, e.g. ``"context_length_exceeded"``);
* ``{"cut": true, "content": ...}``: the reply (or stream) stops half-way and the connection closes;
* ``{"raw": str}``: a 200 response whose body is ``raw``;
* ``{"delay": seconds, ...}``: wait first (client timeouts);
* ``{"gate": threading.Event, ...}``: wait until the test sets the event (at most 120 s), so a test can
  look at a run while it is held at a known point;
* a plain string: shorthand for ``{"content": string}``.

With ``repeat=True`` the last entry answers every request after the script ends; otherwise such
requests get HTTP 400 "script exhausted". ``api_key`` makes every other bearer token a 401.
``server.requests`` keeps every request body, in order.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


class ScriptedServer:
    def __init__(self, script: list[Any] | None = None, *, api_key: str | None = None, repeat: bool = False,
                 model: str = "scripted-model") -> None:
        self.script = list(script or [])
        self.api_key = api_key
        self.repeat = repeat
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._i = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(n) or b"{}")
                except ValueError:
                    body = {}
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                if server.api_key is not None and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    return self._json(401, {"error": {"message": "Incorrect API key provided",
                                                      "type": "invalid_request_error", "code": "invalid_api_key"}})
                entry = server._next(body)
                if entry is None:
                    return self._json(400, {"error": {"message": "scripted server: script exhausted",
                                                      "type": "invalid_request_error"}})
                if isinstance(entry, str):
                    entry = {"content": entry}
                if entry.get("delay"):
                    time.sleep(float(entry["delay"]))
                if entry.get("gate") is not None:  # a threading.Event the test sets when it is ready
                    entry["gate"].wait(120)
                if "status" in entry:
                    err = {"message": entry.get("message", f"scripted error {entry['status']}"),
                           "type": entry.get("type", "error"), "code": entry.get("code")}
                    return self._json(int(entry["status"]), {"error": err})
                if "raw" in entry:
                    return self._send(200, entry["raw"].encode(), "application/json")
                if body.get("stream"):
                    return self._stream(body, entry)
                data = json.dumps(server.completion(body, entry)).encode()
                if entry.get("cut"):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return None
                return self._send(200, data, "application/json")

            def _json(self, status: int, obj: Any) -> None:
                self._send(status, json.dumps(obj).encode(), "application/json")

            def _send(self, status: int, data: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict[str, Any], entry: dict[str, Any]) -> None:
                full = server.completion(body, entry)
                msg = full["choices"][0]["message"]
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                text = msg.get("content") or ""
                pieces = [text[i:i + 16] for i in range(0, len(text), 16)] or [""]
                if entry.get("cut"):
                    pieces = pieces[: max(1, len(pieces) // 2)]
                for p in pieces:
                    self._event({"id": full["id"], "object": "chat.completion.chunk", "created": full["created"],
                                 "model": full["model"], "choices": [{"index": 0, "delta": {"content": p},
                                                                      "finish_reason": None}]})
                if entry.get("cut"):
                    self.wfile.flush()
                    return
                for k, tc in enumerate(msg.get("tool_calls") or []):
                    self._event({"id": full["id"], "object": "chat.completion.chunk", "created": full["created"],
                                 "model": full["model"], "choices": [{"index": 0, "delta": {"tool_calls": [
                                     {"index": k, "id": tc["id"], "type": "function", "function": tc["function"]}]},
                                     "finish_reason": None}]})
                self._event({"id": full["id"], "object": "chat.completion.chunk", "created": full["created"],
                             "model": full["model"], "choices": [{"index": 0, "delta": {},
                                                                  "finish_reason": full["choices"][0]["finish_reason"]}]})
                self._event({"id": full["id"], "object": "chat.completion.chunk", "created": full["created"],
                             "model": full["model"], "choices": [], "usage": full["usage"]})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def _event(self, obj: Any) -> None:
                self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def _next(self, body: dict[str, Any]) -> Any:
        with self._lock:
            self.requests.append(body)
            if self._i < len(self.script):
                entry = self.script[self._i]
                self._i += 1
                return entry
            if self.repeat and self.script:
                return self.script[-1]
            return None

    def completion(self, body: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
        content = entry.get("content")
        calls = [{"id": tc.get("id", f"call_{k}"), "type": "function",
                  "function": {"name": tc["name"], "arguments": tc["arguments"] if isinstance(tc["arguments"], str)
                               else json.dumps(tc["arguments"])}}
                 for k, tc in enumerate(entry.get("tool_calls") or [])]
        prompt = sum(_tokens(str(m.get("content") or "")) for m in body.get("messages", []))
        usage = entry.get("usage") or {"prompt_tokens": prompt,
                                       "completion_tokens": _tokens((content or "") + json.dumps(calls))}
        usage = {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]}
        msg: dict[str, Any] = {"role": "assistant", "content": content}
        if calls:
            msg["tool_calls"] = calls
        return {"id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", self.model),
                "choices": [{"index": 0, "message": msg, "finish_reason": "tool_calls" if calls else "stop"}],
                "usage": usage}

    @property
    def served(self) -> int:
        return self._i

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def start(self) -> ScriptedServer:
        return self.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
