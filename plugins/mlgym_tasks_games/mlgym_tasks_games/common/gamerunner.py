"""Plays the agent's row strategy against the task's column strategy, in two processes.

The agent's ``strategy.py`` runs in a worker process that only ever sees the moves of the
game; the opponent, the payoffs and the score stay in this (the grader's) process, which
other processes may not inspect. The agent's code therefore cannot print or fake a score.
"""

from __future__ import annotations

import ctypes
import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from typing import Any

WORKER = r"""
import json, os, sys
out = os.fdopen(os.dup(1), "w")  # the protocol pipe, on a private descriptor
os.dup2(2, 1)  # anything the agent's code writes to stdout goes to stderr (discarded)
sys.stdout = sys.stderr
sys.path.insert(0, sys.argv[1])
try:
    from strategy import row_strategy
except BaseException as exc:
    out.write(json.dumps({"error": f"cannot import row_strategy from strategy.py: {type(exc).__name__}: {exc}"}) + "\n")
    out.flush()
    raise SystemExit(1)
histories = None
for line in sys.stdin:
    msg = json.loads(line)
    n = msg["games"]
    if histories is None:
        histories = [[] for _ in range(n)]
    prev = msg.get("prev")
    if prev is not None:
        for h, (r, c) in zip(histories, prev):
            h.append((r, c))
    try:
        moves = [row_strategy(list(h)) for h in histories]
        out.write(json.dumps({"moves": moves}) + "\n")
    except BaseException as exc:
        out.write(json.dumps({"error": f"row_strategy raised {type(exc).__name__}: {exc}"}) + "\n")
        out.flush()
        raise SystemExit(1)
    out.flush()
"""


def _no_inspection() -> None:
    """Forbid other processes (the agent's worker) to ptrace us or read /proc/<pid>/mem and fds."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except OSError:
        pass


def fail(msg: str) -> None:
    print(msg, file=sys.stderr)
    raise SystemExit(1)


def play(payoff: Callable[[Any, Any], tuple[float, float]], column: Callable[[list], Any],
         check_move: Callable[[Any], Any], *, rounds: int = 10, games: int = 10_000,
         workspace: str = ".") -> float:
    """Mean over games of the row player's mean payoff per round."""
    _no_inspection()
    random.seed(int.from_bytes(os.urandom(8), "little"))  # unpredictable to the agent
    worker = subprocess.Popen([sys.executable, "-I", "-c", WORKER, os.path.abspath(workspace)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, bufsize=1, close_fds=True)
    histories: list[list[tuple[Any, Any]]] = [[] for _ in range(games)]
    totals = [0.0] * games
    prev = None
    try:
        for _ in range(rounds):
            worker.stdin.write(json.dumps({"games": games, "prev": prev}) + "\n")  # type: ignore[union-attr]
            worker.stdin.flush()  # type: ignore[union-attr]
            line = worker.stdout.readline()  # type: ignore[union-attr]
            if not line:
                fail("the strategy worker exited without answering")
            msg = json.loads(line)
            if not isinstance(msg, dict) or "error" in msg or "moves" not in msg:
                fail(str(msg.get("error") if isinstance(msg, dict) else msg)[:500] or "bad worker message")
            rows = msg["moves"]
            if not isinstance(rows, list) or len(rows) != games:
                fail("the strategy worker returned the wrong number of moves")
            prev = []
            for g in range(games):
                r = check_move(rows[g])
                h = histories[g]
                c = column(list(h))
                pr, _pc = payoff(r, c)
                totals[g] += pr
                h.append((r, c))
                prev.append((r, c))
    finally:
        worker.kill()
        worker.wait()
    return sum(t / rounds for t in totals) / games


def binary_move(m: Any) -> int:
    if m not in (0, 1) or isinstance(m, bool) and False:
        fail(f"invalid move {m!r}: row_strategy must return 0 or 1")
    return int(m)
