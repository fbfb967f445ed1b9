"""MLGym's formulas (reference section 7): hand-worked cases and hypothesis properties."""

from __future__ import annotations

import math
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgym_core.builtin_plugins import metrics as builtin_metrics
from mlgym_core.pricing import cost_of, price_for
from mlgym_core.report import metrics as fm
from mlgym_core.report.build import build
from mlgym_core.report.loader import Run
from mlgym_core.report.build import TaskInfo
from mlgym_core.specs import MetricSpec

NAN = math.nan


# --- per-run scores -------------------------------------------------------------------------

def test_best_attempt_and_submission_of_a_run():
    entries = [{"Score": 1.0}, {"Other": 9.0}, {"Score": 3.0}, {"Score": 2.0}, {"Other": 1.0}]
    assert fm.best_attempt_of_run(entries, "Score", higher=True) == 3.0
    assert fm.best_attempt_of_run(entries, "Score", higher=False) == 1.0
    # the last entry having the metric is the submission
    assert fm.best_submission_of_run(entries, "Score") == 2.0
    assert math.isnan(fm.best_attempt_of_run([], "Score", True))
    assert math.isnan(fm.best_submission_of_run([{"Other": 1}], "Score"))


def test_best_of_ignores_nan_and_non_numbers_and_empty_gives_none():
    from mlgym_core.records import best_of

    assert best_of([NAN, 2.0, 5.0], True) == 5.0
    assert best_of([NAN, 2.0, None, "9", True, 5.0], False) == 2.0
    assert best_of([NAN], True) is None and best_of([], False) is None


# --- ratios, tau_max, AUP -------------------------------------------------------------------

def test_ratios_by_hand_maximise_with_infeasible_method():
    # rows: a, b, baseline; one maximise task, baseline 1.0
    # a = 1.5 (feasible, best), b = 0.9 (< baseline: infeasible), baseline 1.0 (feasible, worst)
    # r_a = 1.5/1.5 = 1; r_base = 1.5/1.0 = 1.5 = w; r_b = 1.05 * 1.5 = 1.575; T = ceil(1.575) = 2
    r, t = fm.ratios(np.array([[1.5], [0.9], [1.0]]), [True], base=2)
    assert r[:, 0].tolist() == pytest.approx([1.0, 1.575, 1.5])
    assert t.tolist() == [2]


def test_ratios_by_hand_minimise():
    # minimise, baseline 16: a = 10, b = 8, baseline 16, all feasible; best 8, worst 16
    # r_a = 10/8 = 1.25, r_b = 1, r_base = 2 = w; T = ceil(2.1) = 3
    r, t = fm.ratios(np.array([[10.0], [8.0], [16.0]]), [False], base=2)
    assert r[:, 0].tolist() == pytest.approx([1.25, 1.0, 2.0])
    assert t.tolist() == [3]


def test_negative_baseline_is_infeasible_and_nan_is_infeasible():
    # maximise, baseline -0.25 (negative: infeasible); a = 0.1 only feasible; b has no score
    # best = worst = 0.1, w = 1; r_a = 1; r_b = r_base = 1.05; T = ceil(1.05) = 2
    r, t = fm.ratios(np.array([[0.1], [NAN], [-0.25]]), [True], base=2)
    assert r[:, 0].tolist() == pytest.approx([1.0, 1.05, 1.05])
    assert t.tolist() == [2]


def test_task_without_feasible_method_counts_for_nobody():
    # a = -0.05 (negative), b missing, baseline -0.25: nobody feasible -> infinite ratios, T ignored
    r, t = fm.ratios(np.array([[-0.05], [NAN], [-0.25]]), [True], base=2)
    assert np.isinf(r).all() and math.isnan(t[0])


@pytest.mark.parametrize(("bound", "tau"), [(2, 0.4), (3, 0.5), (10, 1.0), (11, 1.1), (31, 1.5), (100, 2.0)])
def test_tau_max_rounds_log10_up_to_one_decimal(bound, tau):
    # 10*log10(2) = 3.01 -> 4 -> 0.4; 10*log10(3) = 4.77 -> 0.5; 10*log10(31) = 14.9 -> 1.5
    assert fm.tau_max_of(np.array([bound]), np.array([NAN])) == tau


def test_aup_by_hand():
    # tau_max = 0.5, grid tau_i = i * 0.5/499; a task with log10 ratio L counts for the
    # 499 - ceil(L * 998) left endpoints i in 0..498 with tau_i >= L (all 499 when L = 0).
    # ratios 1, 1.25, 1 over three tasks: log10 1.25 = 0.09691 -> 96.7 -> 97 -> 402 points
    # AUP = (0.5/499) * (499 + 402 + 499) / 3 = 0.5 * 1400 / 1497 = 0.467602
    r = np.array([[1.0, 1.25, 1.0]])
    assert fm.aup(r, 0.5)[0] == pytest.approx(0.5 * 1400 / 1497, abs=1e-12)
    # a method at ratio 1 everywhere gets tau_max; one at infinity everywhere gets 0
    assert fm.aup(np.ones((1, 3)), 0.5)[0] == pytest.approx(0.5)
    assert fm.aup(np.full((1, 3), math.inf), 0.5)[0] == 0


def test_borda_and_mean_rank_by_hand():
    # tasks: max (a 1.5, b 0.9, base 1.0), min (a 10, b 8, base 16), max (a 0.1, b NaN, base -0.25)
    # orders: [a, base, b], [b, a, base], [a, base, b(NaN, appended)]; points 3-2-1 per task
    # a = 3+2+3 = 8, b = 1+3+1 = 5, base = 2+1+2 = 5; mean ranks 4/3, 7/3, 7/3
    s = np.array([[1.5, 10.0, 0.1], [0.9, 8.0, NAN], [1.0, 16.0, -0.25]])
    higher = [True, False, True]
    assert fm.borda(s, higher).tolist() == [8, 5, 5]
    assert fm.mean_rank(s, higher).tolist() == pytest.approx([4 / 3, 7 / 3, 7 / 3])


# --- hypothesis properties ------------------------------------------------------------------

score = st.floats(min_value=0.01, max_value=1000, allow_nan=False)


@st.composite
def tables(draw, with_nan=True, base_min=-5.0):
    m = draw(st.integers(2, 5))
    p = draw(st.integers(1, 6))
    cell = st.one_of(score, st.just(NAN)) if with_nan else score
    s = np.array([[draw(cell) for _ in range(p)] for _ in range(m)])
    base_row = np.array([draw(st.floats(min_value=base_min, max_value=500)) for _ in range(p)])
    higher = [draw(st.booleans()) for _ in range(p)]
    return np.vstack([s, base_row]), higher


def _aups(s, higher):
    base = s.shape[0] - 1
    r, t = fm.ratios(s, higher, base)
    tau = fm.tau_max_of(t)
    return fm.aup(r, tau), tau


@settings(max_examples=150, deadline=None)
@given(tables())
def test_aup_within_zero_and_tau_max(tab):
    s, higher = tab
    aups, tau = _aups(s, higher)
    assert (aups >= 0).all() and (aups <= tau + 1e-12).all()


@settings(max_examples=150, deadline=None)
@given(tables(with_nan=False, base_min=0.01), st.floats(min_value=1.001, max_value=10))
def test_method_best_on_every_task_gets_the_maximum(tab, factor):
    # best on every task includes beating the baseline; a negative baseline of a minimise task
    # would make every method infeasible there, so baselines are positive here
    s, higher = tab
    champion = np.array([(s[:, j].max() * factor) if higher[j] else (s[:, j][s[:, j] > 0].min() / factor)
                         for j in range(s.shape[1])])
    s = np.vstack([champion, s])
    aups, tau = _aups(s, higher)
    assert aups[0] == pytest.approx(tau)
    assert aups.max() == pytest.approx(aups[0])
    assert fm.borda(s, higher)[0] == s.shape[1] * s.shape[0]
    assert fm.mean_rank(s, higher)[0] == 1


@settings(max_examples=150, deadline=None)
@given(tables(with_nan=False), st.floats(min_value=1.001, max_value=10))
def test_adding_a_strictly_dominated_method_never_raises_another_rank(tab, factor):
    s, higher = tab
    base = s.shape[0] - 1
    loser = np.array([(s[:, j].min() - factor) if higher[j] else (s[:, j].max() + factor)
                      for j in range(s.shape[1])])
    # insert the loser before the baseline row
    s2 = np.vstack([s[:base], loser, s[base:]])
    old_rows = list(range(base)) + [base + 1]

    def positions(points, ascending=False):
        order = sorted(range(len(points)), key=lambda i: points[i] if ascending else -points[i])
        return {m: order.index(m) for m in range(len(points))}

    before_b = positions(fm.borda(s, higher).tolist())
    after_b = positions(fm.borda(s2, higher).tolist())
    before_r = fm.mean_rank(s, higher)
    after_r = fm.mean_rank(s2, higher)
    for old, new in zip(range(s.shape[0]), old_rows):
        assert after_b[new] >= before_b[old]
        assert after_r[new] >= before_r[old] - 1e-12


TASKS = {"battleOfSexes": TaskInfo("battleOfSexes", "Score", True), "3SATTime": TaskInfo("3SATTime", "Time", False)}
"""How the tasks of these tests are scored, as their specs would say."""


def _run(method, task, k, values, metric):
    return Run(Path(f"/x/{method}__{task}__cfg__run_{k}"), method, task, method, k,
               [{metric: v} for v in values], {metric: 1.0})


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["m1", "m2", "m3"]), st.sampled_from(["battleOfSexes", "3SATTime"]),
                          st.integers(0, 5), st.lists(score, max_size=4)),
                min_size=1, max_size=20, unique_by=lambda x: x[:3]),
       st.randoms())
def test_permuting_runs_changes_nothing(spec, rnd):
    metric = {"battleOfSexes": "Score", "3SATTime": "Time"}
    runs = [_run(m, t, k, v, metric[t]) for m, t, k, v in spec]
    shuffled = list(runs)
    rnd.shuffle(shuffled)
    a = build(runs, k=4, installed=TASKS)
    b = build([_run(r.method, r.task, r.run_index, [e[metric[r.task]] for e in r.agent_scores], metric[r.task])
               for r in shuffled], k=4, installed=TASKS)
    assert a.table.methods == b.table.methods
    np.testing.assert_array_equal(a.table.best_attempt, b.table.best_attempt)
    np.testing.assert_array_equal(a.table.best_submission, b.table.best_submission)
    assert a.table.aup("best_attempt") == b.table.aup("best_attempt")


def test_bootstrap_is_seeded_and_brackets_a_fixed_method():
    rng = random.Random(0)
    runs = [_run(m, "battleOfSexes", k, [rng.uniform(0.5, 2)], "Score") for m in ("a", "b") for k in range(4)]
    runs += [_run(m, "3SATTime", k, [rng.uniform(5, 20)], "Time") for m in ("a", "b") for k in range(4)]
    t = build(runs, installed=TASKS).table
    fixed = np.full(t.best_attempt.shape, NAN)
    fixed[t.base] = t.best_attempt[t.base]
    one = fm.bootstrap_aup(t.per_run, fixed, t.higher, t.base, t.tau_max, 50, seed=3)
    two = fm.bootstrap_aup(t.per_run, fixed, t.higher, t.base, t.tau_max, 50, seed=3)
    np.testing.assert_array_equal(one[0], two[0])
    assert (one[0][:, 0] <= one[0][:, 1]).all()
    assert ((one[0] >= 0) & (one[0] <= t.tau_max + 1e-12)).all()


# --- plugin surface -------------------------------------------------------------------------

def test_register_metrics_and_compute_on_a_table():
    specs = {s.name: s for s in builtin_metrics.register_metrics()}
    assert set(specs) == {"best_attempt", "best_submission", "aup_best_attempt", "aup_best_submission",
                          "borda_best_attempt", "borda_best_submission", "mean_rank_best_attempt",
                          "mean_rank_best_submission", "cost_per_run"}
    assert all(isinstance(s, MetricSpec) for s in specs.values())
    runs = [_run("a", "battleOfSexes", 0, [1.2, 1.5, 1.4], "Score"), _run("b", "battleOfSexes", 0, [0.9], "Score")]
    table = build(runs, k=4, installed=TASKS).table
    assert specs["best_attempt"].compute(table)["a"]["battleOfSexes"] == 1.5
    assert specs["best_submission"].compute(table)["a"]["battleOfSexes"] == 1.4
    assert specs["borda_best_attempt"].compute(table) == {"a": 3, "baseline": 2, "b": 1}
    assert specs["mean_rank_best_submission"].compute(table) == {"a": 1.0, "baseline": 2.0, "b": 3.0}
    assert specs["aup_best_attempt"].compute(table)["a"] == pytest.approx(table.tau_max)
    assert specs["cost_per_run"].compute(table)["baseline"] is None


def test_metrics_module_import_is_cheap():
    code = ("import sys, mlgym_core.builtin_plugins.metrics, mlgym_core.report.command; "
            "bad = [m for m in ('matplotlib', 'mlgym_core.report.plots', 'mlgym_core.report.build') "
            "if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_installed_task_spec_wins_over_what_runs_recorded():
    runs = [_run("a", "battleOfSexes", 0, [2.0], "Score")]
    runs[0].agent_scores = [{"Score": 2.0, "Loss": 0.3}]
    runs[0].baseline = {"Score": 1.0, "Loss": 0.5}
    runs[0].recorded_metric = ("Score", True)
    t = build(runs, installed={"battleOfSexes": TaskInfo("battleOfSexes", "Loss", False, "spec")}).table
    assert t.tasks[0].metric == "Loss" and t.best_attempt[0, 0] == 0.3


def test_broken_task_plugin_does_not_break_the_report(monkeypatch):
    import mlgym_core.registry as registry
    from mlgym_core.report.build import task_infos

    def boom(kind):
        raise RuntimeError("plugin exploded")

    monkeypatch.setattr(registry, "collect", boom)
    notes: list[str] = []
    assert task_infos(notes) == {}
    assert "plugin exploded" in notes[0]


# --- prices ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("model", "price"), [
    ("gpt-4o", (2.5, 10)), ("openai/gpt-4o-2024-08-06", (2.5, 10)), ("gpt-4o-mini", (0.15, 0.6)),
    ("claude-3-5-sonnet-20241022", (3, 15)), ("metagen-claude-35-sonnet", (3, 15)), ("gemini-1.5-pro", (1.25, 5)),
    ("o1-preview", (15, 60)), ("o3-mini", (1.1, 4.4)), ("meta-llama/Llama-3.1-405B-Instruct", (3.5, 3.5)),
    ("deepseek-r1", (0.55, 2.19)), ("default:openai:gemini-2.5-pro", (1.25, 10)),
])
def test_price_for_common_spellings(model, price):
    assert price_for(model) == price


def test_unknown_model_has_no_price_and_override(monkeypatch, tmp_path):
    assert price_for("my-local-model") is None and cost_of("my-local-model", 10, 10) is None
    assert cost_of("gpt-4o", 1_000_000, 100_000) == pytest.approx(3.5)
    f = tmp_path / "prices.yaml"
    f.write_text("my-local-model: {input: 1, output: 2}\ngpt-4o: {input: 5, output: 20}\n")
    monkeypatch.setenv("MLGYM_PRICES", str(f))
    assert price_for("my-local-model") == (1, 2)
    assert price_for("gpt-4o") == (5, 20)
