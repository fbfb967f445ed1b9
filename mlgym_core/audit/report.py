"""``mlgym audit`` output: a rich table per task on the terminal, or one JSON document."""

from __future__ import annotations

from typing import Any

from .results import AuditOptions, TaskAudit

_STYLE = {"pass": "green", "fail": "bold red", "skip": "dim"}


def audit_json(results: list[TaskAudit], opts: AuditOptions, failed_plugins: dict[str, str] | None = None,
               ) -> dict[str, Any]:
    """The whole audit as one JSON-ready document (schema ``mlgym-audit/1``); ``failed_plugins``:
    plugin -> its one-line error, for the plugins that failed (their attacks and tasks did not run)."""
    return {"schema": "mlgym-audit/1", "scale": opts.scale, "runtime": opts.runtime, "repeats": opts.repeats,
            "output": str(opts.output), "verdict": "fail" if any(r.verdict == "fail" for r in results) else "pass",
            "failed_plugins": dict(failed_plugins or {}), "tasks": [r.to_json() for r in results]}


def task_table(res: TaskAudit) -> Any:
    """A rich table of one task's checks, titled with its verdict."""
    from rich.table import Table
    from rich.text import Text

    verdict = Text(res.verdict.upper(), style=_STYLE[res.verdict])
    title = Text.assemble(f"{res.qualified}  (scale {res.scale}, isolation {res.isolation or '?'}, {res.wall_s:g} s)  ",
                          verdict)
    t = Table(title=title, title_justify="left", box=None, header_style="bold", pad_edge=False)
    t.add_column("CHECK", no_wrap=True)
    t.add_column("NAME", no_wrap=True)
    t.add_column("RESULT", no_wrap=True)
    t.add_column("DETAIL")
    for c in res.checks:
        name = f"{c.name} ({c.attack_class})" if c.attack_class else c.name
        t.add_row(c.group, name, Text(c.label, style=_STYLE[c.status]), Text(c.detail))
    if res.note:
        t.caption = res.note
    return t


def print_summary(console: Any, results: list[TaskAudit], failed_plugins: dict[str, str] | None = None) -> None:
    from rich.markup import escape

    for name, error in (failed_plugins or {}).items():
        console.print(f"[yellow]plugin '{escape(name)}' failed[/yellow] (its attacks and tasks did not run): "
                      f"{escape(error)}", highlight=False)
    failed = [r for r in results if r.verdict == "fail"]
    for r in failed:
        broken = [f"{c.group}/{c.name}" for c in r.checks if c.status == "fail"]
        console.print(f"[bold red]FAIL[/bold red] {r.qualified}: {', '.join(broken)}", highlight=False)
    passed = sum(r.verdict == "pass" for r in results)
    skipped = sum(r.verdict == "skip" for r in results)
    console.print(f"{passed} passed, {len(failed)} failed, {skipped} skipped", highlight=False)
