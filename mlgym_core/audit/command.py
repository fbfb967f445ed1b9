"""The ``mlgym audit`` command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command("audit")
@click.argument("tasks", nargs=-1)
@click.option("--scale", type=click.Choice(["smoke", "full"]), default="smoke", show_default=True,
              help="Scale to audit at (a task without it is audited at its default scale).")
@click.option("--runtime", default="local", show_default=True, help="local | docker")
@click.option("--repeats", default=None, type=click.IntRange(2, 100),
              help="Baseline runs that estimate the noise floor (default: 2 at smoke scale, else 3).")
@click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Tasks audited at once, each in its own process.")
@click.option("--attack", "attacks", multiple=True, help="Run only this attack (repeatable; default: all).")
@click.option("--output", default="audit-runs", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the audit's episodes (each attack's trajectory is its evidence).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of tables.")
def audit_cmd(tasks: tuple[str, ...], scale: str, runtime: str, repeats: int | None, jobs: int,
              attacks: tuple[str, ...], output: str, as_json: bool) -> None:
    """Check that each task (all installed ones by default) measures what it claims: its baseline
    reproduces, doing nothing and every attack of the library do not pay, its evaluator is sound.
    Exits 1 when any task fails."""
    from rich.console import Console

    from .attacks import failed_plugins, select
    from .report import audit_json, print_summary, task_table
    from .results import AuditOptions, TaskAudit
    from .runner import audit_tasks

    from ..registry import get_runtime

    select(attacks)  # an unknown attack or runtime is an error before any episode runs
    get_runtime(runtime)
    opts = AuditOptions(scale=scale, runtime=runtime, repeats=repeats or 0, attacks=attacks, output=Path(output),
                        jobs=jobs)
    console = Console()
    err = Console(stderr=True)

    def done(res: TaskAudit) -> None:
        if as_json:  # the document comes at the end; a line per task meanwhile
            broken = ", ".join(f"{c.group}/{c.name}" for c in res.checks if c.status == "fail")
            err.print(f"mlgym audit: {res.qualified}: {res.verdict} ({res.wall_s:g} s)"
                      + (f": {broken}" if broken else ""), highlight=False)
        else:
            console.print(task_table(res))

    results = audit_tasks(list(tasks), opts, on_task=done,
                          on_start=lambda spec: err.print(f"mlgym audit: {spec.qualified} ...", highlight=False))
    failed = failed_plugins()  # a broken plugin's attacks did not run; the others' did
    if as_json:
        click.echo(json.dumps(audit_json(results, opts, failed), indent=2))
    else:
        print_summary(console, results, failed)
    if any(r.verdict == "fail" for r in results):
        sys.exit(1)
