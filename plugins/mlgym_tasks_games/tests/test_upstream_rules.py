"""Our game evaluators against a reference of MLGym's evaluation, on the same strategies.

MLGym's code is not shipped here, so the reference is written from its documented rules: the strategy
module imported once in the scoring process, 10,000 games of 10 rounds played one after another, the
opponent MLGym's (PD and BoS as the probabilities of mlgym_tasks_games.exact, Blotto drawn as MLGym
draws it), the score the mean of the per-game mean row payoffs. It shares no code with our evaluator
(not target.py, not gamerunner.py). For each strategy (the three starters, a strategy keeping per-game
state in a module global, one returning numpy integers), our evaluator's score and the reference's lie
within 4.5 standard deviations of the difference of two independent 10,000-game evaluations.
"""

from __future__ import annotations

import importlib.util
import json
import random
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from mlgym_tasks_games import plugin
from mlgym_tasks_games.exact import (BOS_PAYOFF, COOPERATE_FIVE_GLOBAL, PD_PAYOFF, bos_opponent, cooperate_five,
                                     expected_score, pd_key, pd_opponent)

TASK_DIR = Path(plugin.__file__).parent / "tasks"
GAMES = 10_000

NUMPY_MOVES = """\
import numpy as np


def row_strategy(history):  # numpy integers, as a strategy written with numpy returns them
    return np.int64(len(history) % 2) if history else np.int32(0)
"""


def _blotto_opponent(_history):
    """MLGym's column player: 6 uniform ints in [0, 120], scaled to 120 by truncation, the remainder
    added to one random field."""
    raw = [random.randint(0, 120) for _ in range(6)]
    alloc = [x * 120 // (sum(raw) or 1) for x in raw]
    alloc[random.randrange(6)] += 120 - sum(alloc)
    return alloc


def _blotto_payoff(move):
    row, col = move
    won, lost = sum(r > c for r, c in zip(row, col)), sum(r < c for r, c in zip(row, col))
    return (won > lost) - (won < lost)


REFERENCE = {
    "prisonersDilemma": (lambda h: int(random.random() < pd_opponent(h)), PD_PAYOFF.__getitem__),
    "battleOfSexes": (lambda h: int(random.random() < bos_opponent(h)), BOS_PAYOFF.__getitem__),
    "blotto": (_blotto_opponent, _blotto_payoff),
}


def _reference(task: str, source: str, tmp_path: Path) -> tuple[float, float]:
    """MLGym's evaluation by its rules: (score, sd of one game's mean payoff)."""
    path = tmp_path / "reference" / "strategy.py"
    path.parent.mkdir()
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("_reference_strategy", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # imported once, as MLGym's evaluate.py imports it
    opponent, payoff = REFERENCE[task]
    random.seed(20261128)
    games = []
    for _ in range(GAMES):
        history: list = []
        for _ in range(10):
            row, col = module.row_strategy(history), opponent(history)
            history.append((int(row), col) if task != "blotto" else (row, col))
        games.append(sum(payoff(m) for m in history) / 10)
    return statistics.fmean(games), statistics.stdev(games)


def _ours(task: str, source: str, tmp_path: Path) -> float:
    folder = tmp_path / "ours"
    folder.mkdir()
    for f in (TASK_DIR / task).glob("*.py"):
        (folder / f.name).write_text(f.read_text())
    (folder / "gamerunner.py").write_text((TASK_DIR.parent / "common" / "gamerunner.py").read_text())
    (folder / "strategy.py").write_text(source)
    r = subprocess.run([sys.executable, "evaluate.py"], cwd=folder, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["Score"]


CASES = [
    ("prisonersDilemma", "starter"),
    ("battleOfSexes", "starter"),
    ("blotto", "starter"),
    ("prisonersDilemma", COOPERATE_FIVE_GLOBAL),
    ("prisonersDilemma", NUMPY_MOVES),
    ("battleOfSexes", NUMPY_MOVES),
]


@pytest.mark.parametrize("task,strategy", CASES,
                         ids=["pd-starter", "bos-starter", "blotto-starter", "pd-global-state", "pd-numpy",
                              "bos-numpy"])
def test_our_evaluator_and_mlgyms_rules_give_the_same_score_distribution(task, strategy, tmp_path):
    source = (TASK_DIR / task / "strategy.py").read_text() if strategy == "starter" else strategy
    reference, game_sd = _reference(task, source, tmp_path)
    ours = _ours(task, source, tmp_path)
    sd_of_difference = (2 * game_sd ** 2 / GAMES) ** 0.5  # two independent evaluations of 10,000 games
    assert game_sd > 0
    assert abs(ours - reference) < 4.5 * sd_of_difference, (ours, reference, sd_of_difference)


def test_the_reference_tells_a_round_interleaved_runner_apart(tmp_path):
    """The check has the power to see the defect issue 14 reported: a runner that interleaves the games
    round by round scored the global-state strategy 2.602, while MLGym scored 2.511 (exact: 2.5111)."""
    reference, game_sd = _reference("prisonersDilemma", COOPERATE_FIVE_GLOBAL, tmp_path)
    exact = expected_score(PD_PAYOFF, cooperate_five, pd_opponent, pd_key)
    assert round(exact, 3) == 2.511 and abs(reference - exact) < 4.5 * game_sd / GAMES ** 0.5
    assert abs(2.602 - reference) > 4.5 * (2 * game_sd ** 2 / GAMES) ** 0.5
