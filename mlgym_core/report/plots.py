"""Matplotlib figures of a report, returned as PNG bytes (matplotlib is imported only here)."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import metrics as fm
from .build import Built, exit_category
from .render import ordered_methods

DPI = 90


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def _colors(methods: list[str]) -> dict[str, Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab20" if len(methods) > 10 else "tab10"]
    return {m: cmap(i % cmap.N) for i, m in enumerate(methods)}


def pareto_front(points: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """Points (cost, aup, name) not beaten by another that is no dearer and scores at least as well."""
    front = []
    for c, a, n in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or a > front[-1][1]:
            front.append((c, a, n))
    return front


FIGURES = ("profile_best_attempt.png", "profile_best_submission.png", "aup_vs_cost.png", "task_scores.png",
           "exit_status.png", "action_distribution.png", "steps_per_task.png")
"""The paper's figures: profiles, AUP vs cost, scores per task, failure modes (exit statuses) per model,
the action distribution by command kind, and steps per task."""

_JOB: tuple[Built, dict[str, Any]] | None = None


def _draw_all() -> dict[str, bytes]:
    assert _JOB is not None
    return make_plots(*_JOB)


def make_plots(built: Built, obj: dict[str, Any]) -> dict[str, bytes]:
    """All figures: file name -> PNG bytes (other scales' figures are prefixed ``<scale>_``).

    Library warnings (matplotlib's) never reach the terminal."""
    import warnings

    import matplotlib

    matplotlib.use("Agg", force=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = {name: draw(name, built, obj) for name in FIGURES}
        for scale, other in built.others.items():
            sub = obj["other_scales"][scale]
            out.update({f"{scale}_{name}": draw(name, other, sub) for name in FIGURES})
    return out


def _legend(ax: Any, **kw: Any) -> None:
    """A legend only when something is labelled (matplotlib warns about an empty one)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)


def start_plots(built: Built, obj: dict[str, Any]) -> Callable[[], dict[str, bytes]]:
    """Begin drawing every figure; call the result to get them (file name -> PNG bytes).

    With ``fork`` and more than one CPU the figures are drawn in a child process, so that the
    caller can build the HTML page meanwhile; otherwise they are drawn when the result is called.
    """
    global _JOB
    import multiprocessing
    import os

    if (os.cpu_count() or 1) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return lambda: make_plots(built, obj)
    _JOB = (built, obj)
    try:
        pool = multiprocessing.get_context("fork").Pool(1)
        pending = pool.apply_async(_draw_all)
    except OSError:
        return lambda: make_plots(built, obj)
    finally:
        _JOB = None

    def finish() -> dict[str, bytes]:
        try:
            return pending.get()
        finally:
            pool.terminate()
            pool.join()

    return finish


def draw(name: str, built: Built, obj: dict[str, Any]) -> bytes:
    """One figure by file name, as PNG bytes."""
    import matplotlib.pyplot as plt

    table = built.table
    methods = ordered_methods(obj)
    colors = _colors(methods)
    tau_max = obj["tau_max"]
    taus = fm.grid(tau_max)
    for which, title in (("best_attempt", "Best attempt"), ("best_submission", "Best submission")):
        if name != f"profile_{which}.png":
            continue
        rho = fm.profiles(table.ratios(which)[0], taus)
        fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
        for m in methods:
            i = table.methods.index(m)
            ax.step(taus, rho[i], where="post", label=f"{m} (AUP {obj['methods'][m][f'aup_{which}']:.3f})",
                    color=colors[m], linestyle="--" if m == "baseline" else "-")
        ax.set_xlabel("τ (log10 of performance ratio)")
        ax.set_ylabel("Share of tasks with log10 ratio ≤ τ")
        ax.set_title(f"Performance profile: {title.lower()} (τ_max = {tau_max:.1f})")
        ax.set_xlim(0, tau_max)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        _legend(ax, loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8, frameon=False)
        return _png(fig)

    if name == "aup_vs_cost.png":
        return _aup_vs_cost(obj, methods, colors)
    if name == "task_scores.png":
        return _task_scores(obj, methods, colors)
    if name == "exit_status.png":
        return _exit_status(obj, methods)
    if name == "action_distribution.png":
        return _action_distribution(obj, methods)
    if name == "steps_per_task.png":
        return _steps_per_task(obj, methods, colors)
    raise ValueError(f"unknown figure {name!r}")


def _aup_vs_cost(obj: dict[str, Any], methods: list[str], colors: dict[str, Any]) -> bytes:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    points = []
    for m in methods:
        e = obj["methods"][m]
        if e["cost_per_run"] is None:
            continue
        x, y = e["cost_per_run"], e["aup_best_attempt"]
        points.append((x, y, m))
        ci = e.get("aup_best_attempt_ci")
        yerr = [[max(0.0, y - ci[0])], [max(0.0, ci[1] - y)]] if ci else None
        ax.errorbar([x], [y], yerr=yerr, fmt="o", color=colors[m], label=m, capsize=3)
    front = pareto_front(points)
    if len(front) > 1:
        ax.plot([p[0] for p in front], [p[1] for p in front], color="0.4", linestyle=":", label="Pareto front")
    if not points:
        ax.text(0.5, 0.5, "no cost data (no token counts or prices)", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel("Mean cost per run ($)")
    ax.set_ylabel("AUP (best attempt)")
    ax.set_title("AUP vs cost")
    ax.grid(alpha=0.3)
    _legend(ax, loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8, frameon=False)
    return _png(fig)


def _task_scores(obj: dict[str, Any], methods: list[str], colors: dict[str, Any]) -> bytes:
    import matplotlib.pyplot as plt

    tasks = list(obj["tasks"])
    agents = [m for m in methods if m != "baseline"]
    cols = min(4, max(1, len(tasks)))
    rows = max(1, math.ceil(len(tasks) / cols))
    width = 3.4 * cols + 2.2
    fig, axes = plt.subplots(rows, cols, figsize=(width, 2.6 * rows + 0.6), squeeze=False)
    fig.subplots_adjust(left=0.6 / width, right=1 - 2.2 / width, bottom=0.1 / rows, top=1 - 0.7 / (2.6 * rows + 0.6),
                        wspace=0.45, hspace=0.35)
    for idx, ax in enumerate(axes.ravel()):
        if idx >= len(tasks):
            ax.axis("off")
            continue
        task = tasks[idx]
        info = obj["tasks"][task]
        vals = [obj["methods"][m]["scores"][task]["best_attempt"] for m in agents]
        xs = np.arange(len(agents))
        ax.bar(xs, [v if v is not None else 0 for v in vals], color=[colors[m] for m in agents])
        for x, v in zip(xs, vals):
            if v is None:
                ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=7)
        base = obj["methods"]["baseline"]["scores"][task]["best_attempt"]
        if base is not None:
            ax.axhline(base, color="black", linestyle="--", linewidth=1)
        ax.set_title(f"{task}", fontsize=9)
        ax.set_ylabel(f"{info['metric']} ({'higher' if info['higher_is_better'] else 'lower'} is better)",
                      fontsize=7)
        ax.set_xticks([])
        ax.tick_params(labelsize=7)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[m]) for m in agents]
    handles.append(plt.Line2D([0], [0], color="black", linestyle="--"))
    fig.legend(handles, agents + ["baseline"], loc="upper left",
               bbox_to_anchor=(1 - 2.0 / width, 1 - 0.5 / (2.6 * rows + 0.6)), fontsize=8, frameon=False)
    fig.suptitle("Best Attempt@k per task (dashed: baseline)")
    return _png(fig)


def _exit_status(obj: dict[str, Any], methods: list[str]) -> bytes:
    import matplotlib.pyplot as plt

    agents = [m for m in methods if m != "baseline"]
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.45 * len(agents) + 1.2)), layout="constrained")
    categories: list[str] = []
    counts: dict[str, dict[str, int]] = {}
    for m in agents:
        c: dict[str, int] = {}
        for status, n in obj["methods"][m].get("exit_status_counts", {}).items():
            cat = exit_category(status)
            c[cat] = c.get(cat, 0) + n
            if cat not in categories:
                categories.append(cat)
        counts[m] = c
    order = ["Success", "Max Steps", "Context", "Cost", "Format", "Evaluation", "Submit", "Runtime", "API",
             "Permission", "Forfeit", "Unknown error", "No trajectory"]
    categories.sort(key=lambda c: order.index(c) if c in order else len(order))
    cat_colors = _colors(order)
    left = np.zeros(len(agents))
    for cat in categories:
        widths = np.array([counts[m].get(cat, 0) for m in agents], dtype=float)
        ax.barh(agents, widths, left=left, label=cat, color=cat_colors.get(cat))
        left += widths
    ax.set_xlabel("Runs")
    ax.set_ylabel("Method")
    ax.set_title("Failure modes (exit statuses) per method")
    ax.invert_yaxis()
    _legend(ax, loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8, frameon=False)
    return _png(fig)


def _stacked_counts(agents: list[str], counts: dict[str, dict[str, float]], order: list[str], title: str,
                    xlabel: str) -> bytes:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.45 * len(agents) + 1.2)), layout="constrained")
    colors = _colors(order)
    left = np.zeros(len(agents))
    for kind in order:
        widths = np.array([counts[m].get(kind, 0) for m in agents], dtype=float)
        if widths.any():
            ax.barh(agents, widths, left=left, label=kind, color=colors[kind])
            left += widths
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.invert_yaxis()
    _legend(ax, loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8, frameon=False)
    return _png(fig)


def _action_distribution(obj: dict[str, Any], methods: list[str]) -> bytes:
    from .build import ACTION_KINDS

    agents = [m for m in methods if m != "baseline"]
    order = [kind for kind, _ in ACTION_KINDS] + ["Bash"]
    counts: dict[str, dict[str, float]] = {}
    for m in agents:
        c = obj["methods"][m].get("action_counts", {})
        total = sum(c.values()) or 1
        counts[m] = {k: 100 * v / total for k, v in c.items()}
    return _stacked_counts(agents, counts, order, "Action distribution by command kind", "Share of actions (%)")


def _steps_per_task(obj: dict[str, Any], methods: list[str], colors: dict[str, Any]) -> bytes:
    import matplotlib.pyplot as plt

    agents = [m for m in methods if m != "baseline"]
    tasks = list(obj["tasks"])
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(tasks) + 3), 4.2), layout="constrained")
    width = 0.8 / max(1, len(agents))
    xs = np.arange(len(tasks))
    for i, m in enumerate(agents):
        steps = obj["methods"][m].get("mean_steps", {})
        ax.bar(xs + i * width, [steps.get(t, 0) for t in tasks], width, label=m, color=colors[m])
    ax.set_xticks(xs + width * (len(agents) - 1) / 2, tasks, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("Mean steps per run")
    ax.set_title("Steps per task")
    _legend(ax, loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8, frameon=False)
    return _png(fig)
