"""`mlgym run` against an endpoint that answers HTTP 500: the retries show while the run is going
(plain lines when stdout is a pipe, the live display on a terminal), the summary names the reason
and the exit code says the endpoint was unusable."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mlgym_core.testing import fixture_env


@pytest.fixture
def failing(server):
    """HTTP 500 for every request; the second one is held until ``failing.gate`` is set, so a test can check
    that the first retry was shown before the run went on."""
    gate = threading.Event()
    err = {"status": 500, "message": "upstream exploded", "type": "server_error"}
    srv = server([err, {**err, "gate": gate}, err])
    srv.gate = gate
    yield srv
    gate.set()


def _env(srv, tmp_path: Path) -> dict:
    env = dict(os.environ, OPENAI_BASE_URL=srv.base_url, OPENAI_API_KEY="sk-test", MLGYM_MODEL_MAX_RETRIES="2",
               MLGYM_MODEL_RETRY_WAIT="0.01", MLGYM_STRICT_PLUGINS="1", COLUMNS="200")
    env.pop("MLGYM_LOAD_PLUGINS", None)
    return fixture_env(tmp_path / "site", env)


def _cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "mlgym_core", "run", "--task", "fixtureTask", "--agent", "default",
            "--model", "openai:scripted-model", "--output", str(out), "--max-steps", "5"]


def test_retries_stream_as_plain_lines_and_the_summary_names_the_reason(failing, tmp_path):
    p = subprocess.Popen(_cmd(tmp_path / "runs"), env=_env(failing, tmp_path), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for line in p.stdout:  # the first retry must be printed while the second request is held
            seen.append(line)
            if "HTTP 500" in line and "retrying" in line:
                break
        assert "attempt 1 of 3" in seen[-1], seen
        assert p.poll() is None and len(failing.requests) <= 2
        failing.gate.set()
        rest, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    out = "".join(seen) + rest
    assert out.count("retrying") == 2
    assert "HTTP 500 after 3 attempts" in rest  # the summary says why the episode ended
    assert p.returncode == 1, err
    assert "mlgym: error: the model endpoint was unusable" in err
    (run_dir,) = (tmp_path / "runs").iterdir()
    rec = json.loads((run_dir / "run.json").read_text())
    assert "exit_api" in rec["exit_status"] and "HTTP 500 after 3 attempts" in rec["exit_reason"]


def test_retries_show_in_the_live_display_on_a_terminal(failing, tmp_path):
    master, slave = pty.openpty()
    p = subprocess.Popen(_cmd(tmp_path / "runs"), env=_env(failing, tmp_path), stdout=slave, stderr=slave,
                         stdin=subprocess.DEVNULL)
    os.close(slave)
    buf = b""
    try:
        deadline = time.monotonic() + 120
        while b"retrying" not in buf and time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 1.0)
            if r:
                buf += os.read(master, 65536)
        assert b"retrying" in buf and b"attempt 1 of 3" in buf
        assert p.poll() is None
        failing.gate.set()
        while True:
            r, _, _ = select.select([master], [], [], 1.0)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                buf += chunk
            elif p.poll() is not None:
                break
        p.wait(60)
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)
    text = buf.decode(errors="replace")
    assert "step" in text and "of 5" in text  # the live panel: step n of max
    assert "HTTP 500 after 3 attempts" in text
    assert p.returncode == 1


def test_html_200_pages_end_the_run_as_the_endpoints_fault(server, tmp_path):
    srv = server([{"raw": "<html><body><h1>502 Bad Gateway</h1></body></html>"}], repeat=True)
    r = subprocess.run(_cmd(tmp_path / "runs"), env=_env(srv, tmp_path), capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    assert r.stdout.count("not a chat completion") >= 2  # each retry, as it happened
    assert "answered 3 times" in r.stdout and "502 Bad" in r.stdout  # the summary's reason, with the body
    assert "502 Bad Gateway" in r.stderr
    assert "mlgym: error: the model endpoint was unusable" in r.stderr and "not a chat completion" in r.stderr
