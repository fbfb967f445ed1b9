"""Plays the agent's row strategy against the task's column strategy, in two processes.

The agent's ``strategy.py`` runs in a worker started by ``mlgym_worker`` (a nested sandbox
that sees only the agent's code: no grader files, no process of ours) and only ever sees the
moves of the game; the opponent, the payoffs and the score stay in this (the grader's)
process. The agent's code therefore cannot print or fake a score.

Games are played one after another, as in MLGym: all rounds of a game, then the next game. To
keep the pipe round trips few, the worker loads ``LANES`` independent copies of the agent's
modules (each its own module globals) and lane ``k`` plays games ``k``, ``k + LANES``, ...
in order; one request advances half the lanes by one round. A strategy whose module globals hold
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
    from mlgym_core import worker_lib

    mlgym_worker = worker_lib()

WORKER = r"""
import importlib
import operator
import os
import resource
import sys
import time
import mlgym_worker

code, lanes, kind = os.path.realpath(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
sys.path.insert(0, sys.argv[1])


def load_lane():
    before = set(sys.modules)
    try:
        fn = importlib.import_module("strategy").row_strategy
    except BaseException as exc:
        mlgym_worker.send_error(f"cannot import row_strategy from strategy.py: {type(exc).__name__}: {exc}")
        raise SystemExit(1)
    for name in set(sys.modules) - before:  # the next lane imports its own copies (its own globals)
        f = getattr(sys.modules[name], "__file__", None)
        if f and os.path.realpath(f).startswith(code + os.sep):
            del sys.modules[name]
    return fn


def rss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# Fewer lanes when a copy is costly (a big table built at import): all copies together stay within
# about 10 s and 1 GiB, going by the second copy (the first also loads the modules all copies share).
strategies = [load_lane()]
if lanes > 1:
    t0, m0 = time.perf_counter(), rss_kib()
    strategies.append(load_lane())
    seconds, kib = time.perf_counter() - t0, rss_kib() - m0
    lanes = max(2, min(lanes, int(10 / max(seconds, 1e-9)), int((1 << 20) / max(kib, 1))))
strategies += [load_lane() for _ in range(lanes - len(strategies))]
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
    if "hello" in msg:
        return {"lanes": lanes}, b""
    lo, active, cols = msg["lo"], msg["active"], msg.get("cols")
    moves = []
    for k in range(lo, lo + active):
        if cols is None:  # a new game gets a new list, as in MLGym
            h = histories[k] = []
        else:
            h = histories[k]
            h.append((last[k], cols[k - lo]))
        try:
            m = last[k] = strategies[k](h)
        except BaseException as exc:
            raise RuntimeError(f"row_strategy raised {type(exc).__name__}: {exc}") from None
        moves.append(m if type(m) is int and (m == 0 or m == 1) and kind == "binary" else wire(m))
    return {"moves": moves}, b""


mlgym_worker.serve(play_round)
"""
ROUND_TIMEOUT = 300.0
IMPORT_TIMEOUT = 1800.0  # the evaluation's own limit (the training timeout) stops it first
LANES = 100


def fail(msg: str) -> None:
    print(msg, file=sys.stderr)
    raise SystemExit(1)


def play(payoff: Callable[[Any, Any], tuple[float, float]], column: Callable[[list], Any],
         check_move: Callable[[Any], Any], *, kind: str = "binary", rounds: int = 10, games: int = 10_000,
         lanes: int = LANES, workspace: str = ".") -> float:
    """Mean over games of the row player's mean payoff per round.

    ``kind``: how the worker passes a move on (``binary``: 0 or 1, ``allocation``: a list of
    non-negative integers); ``check_move`` then checks it here, where the agent cannot reach.
    The lanes form two halves, each with one request in flight: while the worker plays one
    half's round, this process plays the opponent's moves of the other half."""
    lanes = max(1, min(lanes, games))
    worker = mlgym_worker.spawn(WORKER, [os.path.abspath(workspace), str(lanes), kind],
                                code=os.path.abspath(workspace))
    random.seed(int.from_bytes(os.urandom(8), "little"))  # unpredictable to the agent
    total = 0.0
    try:
        lanes = _lanes(worker, lanes)
        print(f"games: {lanes} lanes", file=sys.stderr)
        mid = (lanes + 1) // 2
        halves = [_Half(0, mid, lanes, games, rounds), _Half(mid, lanes, lanes, games, rounds)]
        halves = [h for h in halves if h.active]
        for h in halves:
            worker.send(h.request())
        while halves:
            for h in list(halves):
                msg, _ = worker.recv(timeout=ROUND_TIMEOUT)
                rows = msg.get("moves")
                if not isinstance(rows, list) or len(rows) != h.active:
                    fail("the strategy worker returned the wrong number of moves")
                total += h.play(rows, check_move, column, payoff)
                if h.active:
                    worker.send(h.request())
                else:
                    halves.remove(h)
    except mlgym_worker.WorkerError as exc:
        fail(str(exc))
    finally:
        worker.close()
    return total / games


def _lanes(worker: Any, most: int) -> int:
    """How many lanes the worker loaded (fewer than asked when a copy is costly)."""
    msg, _ = worker.request({"hello": True}, timeout=IMPORT_TIMEOUT)
    n = msg.get("lanes")
    if type(n) is not int or not 1 <= n <= most:
        fail("the strategy worker reported a bad number of lanes")
    return n


class _Half:
    """Lanes ``lo`` to ``hi`` (of ``lanes``): lane ``k`` plays games ``k``, ``k + lanes``, ...
    one after another; ``play`` takes the worker's moves of one round of every active lane."""

    def __init__(self, lo: int, hi: int, lanes: int, games: int, rounds: int) -> None:
        self.lo, self.hi, self.lanes, self.games, self.rounds = lo, hi, lanes, games, rounds
        self.block = self.round = 0
        self._start_block()

    def _start_block(self) -> None:
        self.active = max(0, min(self.hi, self.games - self.block * self.lanes) - self.lo)
        self.histories: list[list[tuple[Any, Any]]] = [[] for _ in range(self.active)]
        self.totals = [0.0] * self.active
        self.cols: list | None = None

    def request(self) -> dict:
        return {"lo": self.lo, "active": self.active, "cols": self.cols}

    def play(self, rows: list, check_move: Callable, column: Callable, payoff: Callable) -> float:
        """Plays one round; returns the sum of the game scores of a block that ends with it."""
        self.cols = cols = []
        for k in range(self.active):
            r = check_move(rows[k])
            h = self.histories[k]
            c = column(list(h))
            self.totals[k] += payoff(r, c)[0]
            h.append((r, c))
            cols.append(c)
        self.round += 1
        if self.round < self.rounds:
            return 0.0
        done = sum(t / self.rounds for t in self.totals)
        self.block, self.round = self.block + 1, 0
        self._start_block()
        return done


def shown(m: Any) -> str:
    """A move as the agent returned it (the worker sends what it refused as its type and repr)."""
    return str(m["invalid"]) if isinstance(m, dict) and "invalid" in m else repr(m)


def binary_move(m: Any) -> int:
    if type(m) is not int or m not in (0, 1):
        fail(f"invalid move {shown(m)}: row_strategy must return 0 or 1 (an int, bool or numpy integer)")
    return m
