"""Plays the agent's row strategy against the task's column strategy, in two processes.

The agent's ``strategy.py`` runs in a worker started by ``mlgym_worker`` (a nested sandbox
that sees only the agent's code: no grader files, no process of ours) and only ever sees the
moves of the game; the opponent, the payoffs and the score stay in this (the grader's)
process. The agent's code therefore cannot print or fake a score.

Games are played one after another, as in MLGym: all rounds of a game, then the next game. To
keep the pipe round trips few, the worker loads ``LANES`` independent copies of the agent's
modules (each its own module globals) and lane ``k`` plays games ``k``, ``k + LANES``, ...
in order; one request advances every lane by one round. A strategy whose module globals hold
per-game state therefore sees exactly what it sees in MLGym's loop.
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
import importlib
import operator
import os
import sys
import mlgym_worker

code, lanes, kind = os.path.realpath(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
sys.path.insert(0, sys.argv[1])


def own_modules():
    out = []
    for name, mod in list(sys.modules.items()):
        f = getattr(mod, "__file__", None)
        if f and os.path.realpath(f).startswith(code + os.sep):
            out.append(name)
    return out


def load_lane():
    try:
        fn = importlib.import_module("strategy").row_strategy
    except BaseException as exc:
        mlgym_worker.send_error(f"cannot import row_strategy from strategy.py: {type(exc).__name__}: {exc}")
        raise SystemExit(1)
    for name in own_modules():  # the next lane imports its own copies (its own globals)
        del sys.modules[name]
    return fn


strategies = [load_lane() for _ in range(lanes)]
histories = [[] for _ in range(lanes)]
last = [None] * lanes


def wire(move):
    # What MLGym's evaluators accept, as plain JSON; anything else goes back as its repr.
    try:
        if kind == "binary":
            if move in (0, 1):
                return int(operator.index(move))
        elif isinstance(move, (list, tuple)) and all(isinstance(x, int) and x >= 0 for x in move):
            return [int(x) for x in move]
    except Exception:
        pass
    return {"invalid": f"{type(move).__name__} {move!r}"[:200]}


def play_round(msg, _payload):
    active, cols = msg["active"], msg.get("cols")
    moves = []
    for k in range(active):
        h = histories[k]
        if cols is None:
            h.clear()
        else:
            h.append((last[k], cols[k]))
        try:
            last[k] = strategies[k](h)
        except BaseException as exc:
            raise RuntimeError(f"row_strategy raised {type(exc).__name__}: {exc}") from None
        moves.append(wire(last[k]))
    return {"moves": moves}, b""


mlgym_worker.serve(play_round)
"""
ROUND_TIMEOUT = 300.0
LANES = 100


def fail(msg: str) -> None:
    print(msg, file=sys.stderr)
    raise SystemExit(1)


def play(payoff: Callable[[Any, Any], tuple[float, float]], column: Callable[[list], Any],
         check_move: Callable[[Any], Any], *, kind: str = "binary", rounds: int = 10, games: int = 10_000,
         lanes: int = LANES, workspace: str = ".") -> float:
    """Mean over games of the row player's mean payoff per round.

    ``kind``: how the worker passes a move on (``binary``: 0 or 1, ``allocation``: a list of
    non-negative integers); ``check_move`` then checks it here, where the agent cannot reach."""
    lanes = max(1, min(lanes, games))
    worker = mlgym_worker.spawn(WORKER, [os.path.abspath(workspace), str(lanes), kind],
                                code=os.path.abspath(workspace))
    random.seed(int.from_bytes(os.urandom(8), "little"))  # unpredictable to the agent
    total = 0.0
    try:
        for first in range(0, games, lanes):
            active = min(lanes, games - first)
            histories: list[list[tuple[Any, Any]]] = [[] for _ in range(active)]
            game_totals = [0.0] * active
            cols = None
            for _ in range(rounds):
                msg, _ = worker.request({"active": active, "cols": cols}, timeout=ROUND_TIMEOUT)
                rows = msg.get("moves")
                if not isinstance(rows, list) or len(rows) != active:
                    fail("the strategy worker returned the wrong number of moves")
                cols = []
                for k in range(active):
                    r = check_move(rows[k])
                    h = histories[k]
                    c = column(list(h))
                    game_totals[k] += payoff(r, c)[0]
                    h.append((r, c))
                    cols.append(c)
            total += sum(t / rounds for t in game_totals)
    except mlgym_worker.WorkerError as exc:
        fail(str(exc))
    finally:
        worker.close()
    return total / games


def shown(m: Any) -> str:
    """A move as the agent returned it (the worker sends what it refused as its type and repr)."""
    return str(m["invalid"]) if isinstance(m, dict) and "invalid" in m else repr(m)


def binary_move(m: Any) -> int:
    if type(m) is not int or m not in (0, 1):
        fail(f"invalid move {shown(m)}: row_strategy must return 0 or 1 (an int, bool or numpy integer)")
    return m
