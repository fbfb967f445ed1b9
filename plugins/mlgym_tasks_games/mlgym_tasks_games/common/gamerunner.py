"""Plays the agent's row strategy against the task's column strategy, in two processes.

The agent's ``strategy.py`` runs in a worker started by ``mlgym_worker`` (a nested sandbox
that sees only the agent's code: no grader files, no process of ours) and only ever sees the
moves of the game; the opponent, the payoffs and the score stay in this (the grader's)
process. The agent's code therefore cannot print or fake a score.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Callable
from typing import Any

try:
    import mlgym_worker  # laid next to the evaluator by mlgym (grader folder and workspace)
except ImportError:  # run from elsewhere (the pack's own tests): core's copy
    from mlgym_core.task import worker_lib

    mlgym_worker = worker_lib()

WORKER = r"""
import sys
import mlgym_worker
sys.path.insert(0, sys.argv[1])
try:
    from strategy import row_strategy
except BaseException as exc:
    mlgym_worker.send_error(f"cannot import row_strategy from strategy.py: {type(exc).__name__}: {exc}")
    raise SystemExit(1)
histories = None

def play_round(msg, _payload):
    global histories
    if histories is None:
        histories = [[] for _ in range(msg["games"])]
    prev = msg.get("prev")
    if prev is not None:
        for h, (r, c) in zip(histories, prev):
            h.append((r, c))
    try:
        return {"moves": [row_strategy(list(h)) for h in histories]}, b""
    except BaseException as exc:
        raise RuntimeError(f"row_strategy raised {type(exc).__name__}: {exc}") from None

mlgym_worker.serve(play_round)
"""
ROUND_TIMEOUT = 300.0


def fail(msg: str) -> None:
    print(msg, file=sys.stderr)
    raise SystemExit(1)


def play(payoff: Callable[[Any, Any], tuple[float, float]], column: Callable[[list], Any],
         check_move: Callable[[Any], Any], *, rounds: int = 10, games: int = 10_000,
         workspace: str = ".") -> float:
    """Mean over games of the row player's mean payoff per round."""
    worker = mlgym_worker.spawn(WORKER, [os.path.abspath(workspace)], code=os.path.abspath(workspace))
    random.seed(int.from_bytes(os.urandom(8), "little"))  # unpredictable to the agent
    histories: list[list[tuple[Any, Any]]] = [[] for _ in range(games)]
    totals = [0.0] * games
    prev = None
    try:
        for _ in range(rounds):
            msg, _ = worker.request({"games": games, "prev": prev}, timeout=ROUND_TIMEOUT)
            rows = msg.get("moves")
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
    except mlgym_worker.WorkerError as exc:
        fail(str(exc))
    finally:
        worker.close()
    return sum(t / rounds for t in totals) / games


def binary_move(m: Any) -> int:
    if m not in (0, 1) or isinstance(m, bool) and False:
        fail(f"invalid move {m!r}: row_strategy must return 0 or 1")
    return int(m)
