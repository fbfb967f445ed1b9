"""The game-theory pack: conformance, listing, and the evaluators' own rules."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from mlgym_core.checks import check_task
from mlgym_core.testing import check_plugin, list_plugins_json
from mlgym_tasks_games import plugin
from mlgym_tasks_games.exact import COOPERATE_FIVE_GLOBAL as GLOBAL_STATE
from mlgym_tasks_games.sat import _label, generate

TASKS = list(plugin.register_tasks())
TASK_DIR = Path(plugin.__file__).parent / "tasks"


def test_provides_expected_tasks():
    assert {t.id for t in TASKS} == {"battleOfSexes", "prisonersDilemma", "blotto", "3SATTime"}
    assert {t.id: t.higher_is_better for t in TASKS}["3SATTime"] is False


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_task_passes_conformance(task):
    check_task(task)


def test_listed_by_cli():
    rows = {p["name"]: p for p in list_plugins_json()}
    assert rows["tasks_games"]["status"] == "ok"
    assert rows["tasks_games"]["provides"] == {"tasks": 4, "datasets": 1}


def test_generator_is_seeded_and_labels_are_right():
    a, b = generate(7, count=6, n_min=12, n_max=14), generate(7, count=6, n_min=12, n_max=14)
    assert a == b and generate(8, count=6, n_min=12, n_max=14) != a
    for _i, n, m, clauses, is_sat, _ in a:
        assert m == round(4.26 * n) and all(len(c) == 3 for c in clauses)
        # brute force on tiny formulas checks the DPLL labels
        brute = any(all(any(((bits >> (abs(l) - 1)) & 1) == (l > 0) for l in c) for c in clauses)
                    for bits in range(1 << n))
        assert brute == is_sat == _label(clauses, n)


def test_sat_set_is_mixed_near_the_threshold():
    labels = [x[4] for x in generate(123, count=40, n_min=40, n_max=45)]
    assert 0.25 < sum(labels) / len(labels) < 0.85


def _run_evaluator(task: str, tmp_path: Path, strategy: str) -> subprocess.CompletedProcess:
    for f in (TASK_DIR / task).glob("*.py"):
        (tmp_path / f.name).write_text(f.read_text())
    (tmp_path / "gamerunner.py").write_text((Path(plugin.__file__).parent / "common" / "gamerunner.py").read_text())
    (tmp_path / "strategy.py").write_text(strategy)
    return subprocess.run([sys.executable, "evaluate.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_blotto_rejects_an_invalid_allocation(tmp_path):
    r = _run_evaluator("blotto", tmp_path, "def row_strategy(history):\n    return [100, 100, 0, 0, 0, 0]\n")
    assert r.returncode != 0 and r.stdout == "" and "invalid allocation" in r.stderr


def test_prisoners_dilemma_always_defect_scores_as_computed(tmp_path):
    r = _run_evaluator("prisonersDilemma", tmp_path, "def row_strategy(history):\n    return 1\n")
    score = json.loads(r.stdout)["Score"]
    assert 1.5 < score < 3.5 and r.returncode == 0


def test_3sat_evaluator_counts_answers(tmp_path):
    for name in ("evaluate.py", "solver.py", "heuristic.py"):
        (tmp_path / name).write_text((TASK_DIR / "3SATTime" / name).read_text())
    (tmp_path / "data").mkdir()
    with open(tmp_path / "data" / "dataset.pkl", "wb") as f:
        pickle.dump(generate(5, count=13, n_min=15, n_max=18), f)
    r = subprocess.run([sys.executable, "evaluate.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    m = json.loads(r.stdout)
    assert m["Correct"] == 10 and m["Incorrect"] == 0 and 0 < m["Time"] < 60 and m["Decisions"] > 0


def test_3sat_wrong_answer_gives_no_score_as_in_mlgym(tmp_path):
    for name in ("evaluate.py", "solver.py"):
        (tmp_path / name).write_text((TASK_DIR / "3SATTime" / name).read_text())
    # sabotages the solver: claims nothing is left to assign, so answers come out wrong
    (tmp_path / "heuristic.py").write_text("def heuristic_fn(*args):\n    return None, True\n")
    (tmp_path / "data").mkdir()
    with open(tmp_path / "data" / "dataset.pkl", "wb") as f:
        pickle.dump(generate(5, count=13, n_min=15, n_max=18), f)
    r = subprocess.run([sys.executable, "evaluate.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and r.stdout == "" and "wrong answer" in r.stderr


def _prepared_sat(home: Path, monkeypatch) -> tuple[list, list, Path]:
    from mlgym_core import WORKSPACE, get_task, make_task

    monkeypatch.setenv("MLGYM_HOME", str(home))
    task = make_task(get_task("3SATTime"))
    task.prepare()
    practice = pickle.loads((task.data_dir() / "dataset.pkl").read_bytes())
    grader_dir = task.grader_binds()[f"{WORKSPACE}/data"]
    graded = pickle.loads((grader_dir / "dataset.pkl").read_bytes())
    task.close()
    return practice, graded, grader_dir


def test_3sat_grader_instances_come_from_a_per_installation_secret(tmp_path, monkeypatch):
    import functools
    import stat

    import mlgym_tasks_games
    from mlgym_tasks_games import sat

    small = functools.partial(generate, count=8)  # the real builder, fewer instances (labelling takes time)
    monkeypatch.setattr(sat, "generate", small)
    practice_a, graded_a, grader_a = _prepared_sat(tmp_path / "a", monkeypatch)
    practice_b, graded_b, grader_b = _prepared_sat(tmp_path / "b", monkeypatch)
    assert practice_a == practice_b == small(sat.PRACTICE_SEED)  # the agent's set is the same everywhere
    assert graded_a != graded_b and graded_a != practice_a  # the grader's set is not
    seeds = [Path(g).parent / sat.SEED_FILE for g in (grader_a, grader_b)]
    for seed, graded in zip(seeds, (graded_a, graded_b)):
        assert stat.S_IMODE(seed.stat().st_mode) == 0o600
        assert graded == small(sat.grader_seed(bytes.fromhex(seed.read_text().strip())))
        assert tmp_path in seed.parents
    # same generator, distribution and size as the practice set; no secret ships in the package
    assert len(graded_a) == len(practice_a) == 8 and {n for _, n, *_ in graded_a} <= set(range(40, 61))
    pkg = Path(mlgym_tasks_games.__file__).parent
    assert not [p for p in pkg.rglob("*") if "seed" in p.name and p.suffix != ".pyc"]
    assert "hidden_files" not in (TASK_DIR / "3SATTime" / "task.yaml").read_text()


# -- games played as in MLGym --------------------------------------------------------------


def _score(task: str, tmp_path: Path, strategy: str) -> float:
    r = _run_evaluator(task, tmp_path, strategy)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["Score"]


def _refusal(task: str, tmp_path: Path, strategy: str) -> str:
    r = _run_evaluator(task, tmp_path, strategy)
    assert r.returncode != 0 and r.stdout == ""
    return r.stderr


def test_games_are_played_one_after_another(tmp_path):
    # Sequential games give the exact expectation of "cooperate 5, then defect" (2.5111, MLGym
    # scored 2.511); the round-interleaved runner gave 2.60. One evaluation's sd is about 0.005.
    from mlgym_tasks_games.exact import PD_PAYOFF, expected_score, pd_key, pd_opponent

    expected = expected_score(PD_PAYOFF, lambda h: float(len(h) >= 5), pd_opponent, pd_key)
    assert abs(_score("prisonersDilemma", tmp_path, GLOBAL_STATE) - expected) < 0.025


def test_numpy_integer_moves_are_accepted_as_in_mlgym(tmp_path):
    from mlgym_tasks_games.exact import PD_PAYOFF, expected_score, pd_key, pd_opponent

    always_defect = expected_score(PD_PAYOFF, lambda h: 1.0, pd_opponent, pd_key)
    strategy = "import numpy as np\n\ndef row_strategy(history):\n    return np.int64(1) if history else True\n"
    assert abs(_score("prisonersDilemma", tmp_path, strategy) - always_defect) < 0.03


@pytest.mark.parametrize("move", ["np.float64(1.0)", "np.bool_(True)", "2", "'1'", "np.array([1])"])
def test_moves_mlgym_refuses_are_refused(tmp_path, move):
    err = _refusal("battleOfSexes", tmp_path, f"import numpy as np\n\ndef row_strategy(history):\n    return {move}\n")
    assert "invalid move" in err


def test_blotto_accepts_what_mlgym_accepts(tmp_path):
    # a tuple, bools, and entries past the sixth (not fought over, counted in the sum)
    strategy = "def row_strategy(history):\n    return (True, 29, 30, 30, 30, 0, 0)\n"
    assert -1 <= _score("blotto", tmp_path, strategy) <= 1


@pytest.mark.parametrize("alloc", ["[120]", "[20] * 5", "[21] * 6", "[np.int64(20)] * 6", "[20.0] * 6",
                                   "[-1, 21, 20, 20, 20, 20]"])
def test_blotto_refuses_invalid_or_short_allocations(tmp_path, alloc):
    err = _refusal("blotto", tmp_path, f"import numpy as np\n\ndef row_strategy(history):\n    return {alloc}\n")
    assert "invalid allocation" in err


@pytest.mark.parametrize("task", ["battleOfSexes", "prisonersDilemma", "blotto", "3SATTime"])
def test_games_are_graded_with_the_training_timeout(task):
    from mlgym_core import get_task, make_task

    assert make_task(get_task(task)).eval_timeout() == 1800


def _monte_carlo(task: str, games: int) -> tuple[float, float]:
    import importlib.util
    import random
    import statistics

    mods = {}
    for name in ("strategy", "target"):
        spec = importlib.util.spec_from_file_location(f"_{task}_{name}", TASK_DIR / task / f"{name}.py")
        mods[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mods[name])
    from mlgym_tasks_games.exact import BOS_PAYOFF, PD_PAYOFF

    payoff = PD_PAYOFF if task == "prisonersDilemma" else BOS_PAYOFF
    random.seed(1234)
    scores = []
    for _ in range(games):
        h: list = []
        for _ in range(10):
            r, c = mods["strategy"].row_strategy(list(h)), mods["target"].target_column_strategy(list(h))
            h.append((r, c))
        scores.append(sum(payoff[m] for m in h) / 10)
    return statistics.fmean(scores), statistics.stdev(scores) / games ** 0.5


@pytest.mark.parametrize("task,published", [("prisonersDilemma", 2.37752), ("battleOfSexes", 1.02104)])
def test_exact_expectation_of_the_starters_matches_monte_carlo(task, published):
    from mlgym_tasks_games.exact import STARTERS, score_moments, starter_expectations

    exact = starter_expectations()[task]
    _, sd = score_moments(*STARTERS[task])
    assert round(exact, 5) == published
    mean, se = _monte_carlo(task, 4000)
    assert abs(mean - exact) < 4 * se and abs(se * 4000 ** 0.5 / sd - 1) < 0.08


def test_a_strategy_costly_to_import_gets_fewer_lanes_and_still_plays_in_order(tmp_path):
    # 16 MiB built at import: 100 copies would take 1.6 GiB, over the 1 GiB the worker allows
    from mlgym_tasks_games.exact import PD_PAYOFF, expected_score, pd_key, pd_opponent

    expected = expected_score(PD_PAYOFF, lambda h: float(len(h) >= 5), pd_opponent, pd_key)
    r = _run_evaluator("prisonersDilemma", tmp_path, "TABLE = bytes(range(256)) * (1 << 16)\n" + GLOBAL_STATE)
    lanes = int(r.stderr.split("games: ")[1].split()[0])
    assert 10 < lanes < 100 and abs(json.loads(r.stdout)["Score"] - expected) < 0.025


@pytest.mark.parametrize("task", ["prisonersDilemma", "battleOfSexes"])
def test_our_evaluator_scores_the_starter_at_its_exact_expectation(tmp_path, task):
    from mlgym_tasks_games.exact import STARTERS, score_moments

    mean, sd = score_moments(*STARTERS[task])
    score = _score(task, tmp_path, (TASK_DIR / task / "strategy.py").read_text())
    assert abs(score - mean) < 4.5 * sd / 100  # one evaluation: 10,000 games


def test_plugin_conformance():
    """Loaded through its entry point as mlgym loads it, every hook it implements registers valid items."""
    assert check_plugin("tasks_games", heavy=("numpy",)).provides == {"tasks": 4, "datasets": 1}
