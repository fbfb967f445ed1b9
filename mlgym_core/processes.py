"""Processes of sandboxes: starting them from a thread that outlives them, the descriptor limit
they need, and the process tree below one, read from /proc (finding the session's bash, killing
what a command started: a timed-out command, a workspace over its disk cap)."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from typing import Any

_SPAWNER: Any = None
_SPAWNER_LOCK = threading.Lock()


def spawn(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Popen, always from a thread that lives as long as the process.

    Linux ties PR_SET_PDEATHSIG (bwrap's --die-with-parent) to the *thread* that forked the
    child: a sandbox started from a short-lived thread (a user's worker thread, a vector env's
    step thread) would be killed the moment that thread ends. The main thread and one persistent
    spawner thread never end while the process runs."""
    if threading.current_thread() is threading.main_thread():
        return subprocess.Popen(argv, **kwargs)
    global _SPAWNER
    with _SPAWNER_LOCK:
        if _SPAWNER is None:
            from concurrent.futures import ThreadPoolExecutor

            _SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlgym-spawn")
    return _SPAWNER.submit(subprocess.Popen, argv, **kwargs).result()


_USER_NOFILE: int | None = None


def nofile_soft() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def raise_nofile_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to the hard limit, once (each episode holds a few
    descriptors: a thousand episodes need more than the usual 1024); return the soft limit it had."""
    global _USER_NOFILE
    if _USER_NOFILE is None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        _USER_NOFILE = soft
        target = hard if hard != resource.RLIM_INFINITY else 1 << 20
        if soft != resource.RLIM_INFINITY and soft < target:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            except (ValueError, OSError):
                pass
    return _USER_NOFILE


def live(pids: list[int]) -> list[int]:
    """The processes of ``pids`` that exist and are not zombies (a subreaper's reaped orphans wait as zombies)."""
    out = []
    for p in pids:
        try:
            with open(f"/proc/{p}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        if stat[stat.rfind(b")") + 2:stat.rfind(b")") + 3] != b"Z":
            out.append(p)
    return out


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rfind(b")") + 2:].split()
        kids.setdefault(int(rest[1]), []).append(int(name))
    return kids


def descendants(pid: int) -> list[int]:
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in kids.get(p, ()):
            out.append(c)
            todo.append(c)
    return out


def kill_descendants(pid: int, *, exclude_shell: bool) -> int:
    """SIGKILL every process below ``pid`` except the session's bash; returns how many were found."""
    procs = descendants(pid)
    shell = find_shell(pid, procs) if exclude_shell else None
    keep = ({shell} | _ancestors_of(shell, pid)) if shell is not None else set()
    found = len([p for p in procs if p not in keep])
    for _ in range(3):
        targets = [p for p in procs if p not in keep]
        if not targets:
            break
        for p in targets:
            try:
                os.kill(p, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.02)
        procs = descendants(pid)
    return found


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def find_shell(root: int, procs: list[int]) -> int | None:
    """The session's bash: ``root`` itself or its first bash descendant (below bwrap/docker)."""
    if _comm(root) == "bash":
        return root
    for p in sorted(procs):
        if _comm(p) == "bash":
            return p
    return None


def _ancestors_of(pid: int, root: int) -> set[int]:
    out: set[int] = set()
    p = pid
    while p and p != root:
        try:
            with open(f"/proc/{p}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            break
        p = int(stat[stat.rfind(b")") + 2:].split()[1])
        out.add(p)
    return out
