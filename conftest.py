"""Suite-wide guard: the test suite ends with no process it started still running.

pytest becomes a child subreaper (PR_SET_CHILD_SUBREAPER), so a process a test leaks is
reparented to pytest instead of init, where this hook can see it. At the end of the session,
after a short grace period, any child still alive fails the run with its command line.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

_SUBREAPER = False


def pytest_configure(config: pytest.Config) -> None:
    global _SUBREAPER
    # Started in the background by a non-interactive shell (`cmd &` in a script, some CI
    # runners), a process inherits SIGINT ignored, and so would every mlgym the tests start:
    # the Ctrl-C tests need it deliverable.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        import ctypes

        _SUBREAPER = ctypes.CDLL("libc.so.6", use_errno=True).prctl(36, 1) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        _SUBREAPER = False


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            pass
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _alive_children() -> list[int]:
    _reap()
    return [c for c in _children(os.getpid()) if not _is_zombie(c)]


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _SUBREAPER or os.environ.get("MLGYM_ALLOW_LEFTOVER_PROCESSES"):
        return
    deadline = time.monotonic() + 15
    left = _alive_children()
    while left and time.monotonic() < deadline:
        time.sleep(0.25)
        left = _alive_children()
    if not left:
        return
    lines = [f"  pid {p}: {_cmdline(p)[:200]}" for p in left]
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    msg = "processes started by the test suite are still running at its end:\n" + "\n".join(lines)
    if tr is not None:
        tr.write_line("")
        tr.write_line(msg, red=True)
    for p in left:  # leave nothing behind, but still fail
        try:
            os.killpg(p, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
