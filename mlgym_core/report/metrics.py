"""MLGym's scoring formulas (reference section 7), on plain score matrices.

Scores are arrays of shape (methods, tasks) with NaN for "no value"; ``higher`` says per
task whether higher is better; ``base`` is the row of the ``baseline`` method.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..records import best_of, metric_values

EPS = 0.05
"""Infeasible methods sit at (1 + EPS) times the worst feasible ratio of their task."""
GRID_POINTS = 500


def best_attempt_of_run(entries: Iterable[Any], metric: str, higher: bool) -> float:
    """Best of all validations and the final evaluation of one run; NaN if none has the metric."""
    best = best_of(metric_values(entries, metric), higher)
    return math.nan if best is None else best


def best_submission_of_run(entries: Iterable[Any], metric: str) -> float:
    """The last evaluation of one run that has the metric (the submission); NaN if none."""
    vals = metric_values(entries, metric)
    return vals[-1] if vals else math.nan


def _div(a: float, b: float) -> float:
    if b == 0:
        return 1.0 if a == 0 else math.inf
    return a / b


def ratios(scores: np.ndarray, higher: Sequence[bool], base: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Performance ratios r[m, p] and per-task bounds T[p].

    Feasible: a value, >= 0, and no worse than the baseline (when the task has one). Feasible
    methods get best/s (maximise) or s/best (minimise); infeasible ones (1 + EPS) * w_p, where
    w_p is the worst feasible ratio; T_p = ceil((1 + EPS) * w_p). A task with no feasible
    method gives every method an infinite ratio (never counted) and T_p = NaN (ignored).
    """
    m_count, p_count = scores.shape
    r = np.full((m_count, p_count), math.inf)
    bound = np.full(p_count, math.nan)
    for p in range(p_count):
        col = scores[:, p]
        b = col[base] if base is not None else math.nan
        feasible = [
            m for m in range(m_count)
            if not math.isnan(col[m]) and col[m] >= 0
            and (math.isnan(b) or (col[m] >= b if higher[p] else col[m] <= b))
        ]
        if not feasible:
            continue
        vals = [float(col[m]) for m in feasible]
        if higher[p]:
            best, worst = max(vals), min(vals)
            w = _div(best, worst)
            for m in feasible:
                r[m, p] = _div(best, float(col[m]))
        else:
            best, worst = min(vals), max(vals)
            w = _div(worst, best)
            for m in feasible:
                r[m, p] = _div(float(col[m]), best)
        infeasible_ratio = (1 + EPS) * w
        for m in range(m_count):
            if m not in feasible:
                r[m, p] = infeasible_ratio
        if math.isfinite(infeasible_ratio):
            bound[p] = math.ceil(infeasible_ratio)
    return r, bound


def tau_max_of(*bounds: np.ndarray) -> float:
    """ceil(10 * log10(max T_p over all tables)) / 10; 0.4 (T = 2) when no task has a bound."""
    finite = [float(x) for b in bounds for x in np.asarray(b).ravel() if math.isfinite(x)]
    top = max(finite) if finite else 2.0
    return math.ceil(10 * float(np.log10(top))) / 10


def grid(tau_max: float) -> np.ndarray:
    return np.linspace(0, tau_max, GRID_POINTS)


def profiles(r: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """rho[m, i]: the share of tasks whose log10 ratio is <= taus[i]."""
    if r.shape[1] == 0:
        return np.zeros((r.shape[0], len(taus)))
    with np.errstate(divide="ignore"):
        logs = np.log10(r)
    return (logs[:, :, None] <= taus[None, None, :]).sum(axis=1) / r.shape[1]


def aup(r: np.ndarray, tau_max: float) -> np.ndarray:
    """Area under each method's profile: left Riemann sum over linspace(0, tau_max, 500)."""
    taus = grid(tau_max)
    rho = profiles(r, taus[:-1])
    return (rho * np.diff(taus)[None, :]).sum(axis=1)


def rank_orders(scores: np.ndarray, higher: Sequence[bool]) -> list[list[int]]:
    """Per task, method rows in ranked order: scored ones by score (stable), then unscored in row order."""
    orders = []
    for p in range(scores.shape[1]):
        col = scores[:, p]
        scored = [m for m in range(len(col)) if not math.isnan(col[m])]
        scored = sorted(scored, key=lambda m: col[m], reverse=bool(higher[p]))
        orders.append(scored + [m for m in range(len(col)) if math.isnan(col[m])])
    return orders


def borda(scores: np.ndarray, higher: Sequence[bool]) -> np.ndarray:
    """BORDA points: on a task with n ranked entries the entry at 0-based position i earns n - i."""
    points = np.zeros(scores.shape[0], dtype=int)
    for order in rank_orders(scores, higher):
        n = len(order)
        for i, m in enumerate(order):
            points[m] += n - i
    return points


def mean_rank(scores: np.ndarray, higher: Sequence[bool]) -> np.ndarray:
    """Mean 1-based position over tasks (MLGym's "Plackett-Luce" column); NaN with no task."""
    total = np.zeros(scores.shape[0])
    orders = rank_orders(scores, higher)
    for order in orders:
        for i, m in enumerate(order):
            total[m] += i + 1
    return total / len(orders) if orders else np.full(scores.shape[0], math.nan)


def bootstrap_aup(per_run: list[list[tuple[np.ndarray, np.ndarray]]], fixed: np.ndarray | None,
                  higher: Sequence[bool], base: int | None, tau_max: float, n: int,
                  seed: int = 0, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile confidence intervals of AUP (best attempt, best submission) over runs.

    ``per_run[m][p]`` holds the per-run best-attempt and best-submission values (NaN for runs
    without a score) of method m on task p; each replicate resamples every cell's runs with
    replacement and recomputes both tables and every method's AUP on the fixed tau grid.
    Rows listed in ``fixed`` (e.g. the baseline) keep their values. Returns two arrays of
    shape (methods, 2): lower and upper bounds.
    """
    rng = np.random.default_rng(seed)
    m_count, p_count = len(per_run), len(higher)
    samples = np.empty((2, n, m_count))
    for rep in range(n):
        tables = [np.full((m_count, p_count), math.nan), np.full((m_count, p_count), math.nan)]
        for m in range(m_count):
            for p in range(p_count):
                ba, bs = per_run[m][p]
                if fixed is not None and not math.isnan(fixed[m, p]):
                    tables[0][m, p] = tables[1][m, p] = fixed[m, p]
                    continue
                if len(ba) == 0:
                    continue
                idx = rng.integers(0, len(ba), len(ba))
                for t, vals in enumerate((ba[idx], bs[idx])):
                    vals = vals[~np.isnan(vals)]
                    if len(vals):
                        tables[t][m, p] = vals.max() if higher[p] else vals.min()
        for t in range(2):
            samples[t, rep] = aup(ratios(tables[t], higher, base)[0], tau_max)
    alpha = (1 - level) / 2
    lo_hi = [np.quantile(samples[t], [alpha, 1 - alpha], axis=0).T for t in range(2)]
    return lo_hi[0], lo_hi[1]
