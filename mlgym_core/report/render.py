"""Rich tables for the terminal, drawn from the report object (the same numbers as ``--json``)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 10 ** -digits):
            return f"{value:.{digits}g}"
        return f"{value:.{digits}f}"
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
                     str(e["borda_best_attempt"]), fmt(e["mean_rank_best_attempt"], 2), cost,
                     str(e.get("runs", "")), fail])
    return rows


SUMMARY_HEADER = ["Method", "AUP (best attempt)", "AUP (best submission)", "BORDA", "Mean rank",
                  "Cost / run", "Runs", "Failure rate"]


def print_tables(console: Console, obj: dict[str, Any]) -> None:
    methods = ordered_methods(obj)
    console.print(f"[bold]Methods compared[/bold]: {', '.join(obj['methods_compared'])}")
    boot = obj.get("bootstrap")
    extra = f", {boot['replicates']} bootstrap replicates (95% CI, seed {boot['seed']})" if boot else ""
    console.print(f"tau_max = {obj['tau_max']:.1f}, k = {obj['k']}, epsilon = {obj['epsilon']}{extra}")
    summary = Table(title="Summary")
    for i, h in enumerate(SUMMARY_HEADER):
        summary.add_column(h, justify="left" if i == 0 else "right")
    for row in summary_rows(obj):
        summary.add_row(*row)
    console.print(summary)
    for which, title in (("best_attempt", "Best Attempt@k"), ("best_submission", "Best Submission@k")):
        t = Table(title=title)
        t.add_column("Task")
        for m in methods:
            t.add_column(m, justify="right")
        for task, info in obj["tasks"].items():
            arrow = "↑" if info["higher_is_better"] else "↓"
            t.add_row(f"{task} ({info['metric']} {arrow})",
                      *[fmt(obj["methods"][m]["scores"][task][which]) for m in methods])
        console.print(t)
    statuses = sorted({s for m in methods for s in obj["methods"][m].get("exit_status_counts", {})})
    if statuses:
        t = Table(title="Exit statuses (runs)")
        t.add_column("Method")
        for s in statuses:
            t.add_column(s, justify="right")
        for m in methods:
            counts = obj["methods"][m].get("exit_status_counts", {})
            if counts:
                t.add_row(m, *[str(counts.get(s, 0)) for s in statuses])
        console.print(t)
