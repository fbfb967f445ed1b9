"""Rich tables for the terminal, drawn from the report object (the same numbers as ``--json``)."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.table import Table


def fmt(value: Any, digits: int = 4) -> str:
    """A number for people: ``digits`` significant digits (the JSON keeps full precision)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0 or not math.isfinite(value):
            return "0" if value == 0 else str(value)
        exponent = math.floor(math.log10(abs(value)))
        if exponent >= 6 or exponent < -4:
            return f"{value:.{digits}g}"
        return f"{value:.{max(0, digits - 1 - exponent)}f}"
    return str(value)


def fmt_cost(value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value:.2f}" if value >= 0.1 or value == 0 else f"${value:.4f}"


def ordered_methods(obj: dict[str, Any]) -> list[str]:
    """Methods by best-attempt AUP, highest first (ties by name)."""
    return sorted(obj["methods"], key=lambda m: (-obj["methods"][m]["aup_best_attempt"], m))


def _aup_cell(entry: dict[str, Any], key: str) -> str:
    text = fmt(entry[key])
    ci = entry.get(f"{key}_ci")
    return f"{text} [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else text


def summary_rows(obj: dict[str, Any]) -> list[list[str]]:
    rows = []
    for m in ordered_methods(obj):
        e = obj["methods"][m]
        cost = fmt_cost(e["cost_per_run"])
        fail = "-" if e.get("failure_rate") is None else f"{100 * e['failure_rate']:.0f}%"
        rows.append([m, _aup_cell(e, "aup_best_attempt"), _aup_cell(e, "aup_best_submission"),
                     str(e["borda_best_attempt"]), fmt(e["mean_rank_best_attempt"]), cost,
                     str(e.get("runs", "")), fail])
    return rows


SUMMARY_HEADER = ["Method", "AUP (BA)", "AUP (BS)", "BORDA", "Mean rank", "Cost / run", "Runs", "Failure rate"]
SUMMARY_NOTE = "BA: best attempt, BS: best submission (last one), over the first k runs of each task"


def _table(title: str) -> Table:
    return Table(title=title)


def _col(table: Table, header: str, left: bool = False) -> None:
    # fold, never cut: a long method name wraps inside its column on a narrow terminal
    table.add_column(header, justify="left" if left else "right", overflow="fold")


def print_tables(console: Console, obj: dict[str, Any]) -> None:
    """The report's tables for the main scale, then for each other scale, then what was left out."""
    print_scale(console, obj)
    for scale, sub in (obj.get("other_scales") or {}).items():
        console.rule(f"scale {scale} (reported apart: never pooled with {obj.get('scale', 'full')})")
        print_scale(console, sub)
    excluded = obj.get("excluded") or []
    if excluded:
        t = _table(f"Left out of every table ({len(excluded)} runs: not the agent's doing)")
        for h in ("Run", "Method", "Task", "Scale", "Reason"):
            _col(t, h, left=True)
        for e in excluded:
            t.add_row(e["run"].rsplit("/", 1)[-1], e["method"], e["task"], e["scale"], e["reason"])
        console.print(t)


def print_scale(console: Console, obj: dict[str, Any]) -> None:
    methods = ordered_methods(obj)
    console.print(f"[bold]Scale[/bold]: {obj.get('scale', 'full')}")
    console.print(f"[bold]Methods compared[/bold]: {', '.join(obj['methods_compared'])}")
    boot = obj.get("bootstrap")
    extra = f", {boot['replicates']} bootstrap replicates (95% CI, seed {boot['seed']})" if boot else ""
    console.print(f"tau_max = {obj['tau_max']:.1f}, k = {obj['k']}, epsilon = {obj['epsilon']}{extra}")
    summary = _table("Summary")
    for i, h in enumerate(SUMMARY_HEADER):
        _col(summary, h, left=i == 0)
    for row in summary_rows(obj):
        summary.add_row(*row)
    summary.caption = SUMMARY_NOTE
    console.print(summary)
    for which, title in (("best_attempt", "Best Attempt@k"), ("best_submission", "Best Submission@k")):
        t = _table(title)
        _col(t, "Task", left=True)
        for m in methods:
            _col(t, m)
        for task, info in obj["tasks"].items():
            arrow = "↑" if info["higher_is_better"] else "↓"
            t.add_row(f"{task} ({info['metric']} {arrow})",
                      *[fmt(obj["methods"][m]["scores"][task][which]) for m in methods])
        console.print(t)
    _print_plugin_metrics(console, obj, methods)
    statuses = sorted({s for m in methods for s in obj["methods"][m].get("exit_status_counts", {})})
    if statuses:
        t = _table("Exit statuses (runs)")
        _col(t, "Method", left=True)
        for s in statuses:
            _col(t, s)
        for m in methods:
            counts = obj["methods"][m].get("exit_status_counts", {})
            if counts:
                t.add_row(m, *[str(counts.get(s, 0)) for s in statuses])
        console.print(t)
        texts = {}
        for m in methods:
            for key, full in obj["methods"][m].get("exit_status_texts", {}).items():
                texts.setdefault(key, set()).update(full)
        for key, full in sorted(texts.items()):
            for text in sorted(full):
                console.print(f"  {key}: {text}", markup=False, highlight=False)


def _print_plugin_metrics(console: Console, obj: dict[str, Any], methods: list[str]) -> None:
    """Metrics other plugins registered: per-method ones as a column each, any other value on a line."""
    extra = obj.get("plugin_metrics") or {}
    columns = [key for key in extra if all(key in obj["methods"][m] for m in methods)]
    if columns:
        t = _table("Metrics from plugins")
        _col(t, "Method", left=True)
        for key in columns:
            _col(t, key)
        for m in methods:
            t.add_row(m, *[fmt(obj["methods"][m][key]) for key in columns])
        console.print(t)
    for key, value in extra.items():
        if key not in columns:
            console.print(f"{key}: {value if not isinstance(value, float) else fmt(value)}", markup=False,
                          highlight=False)
