"""The ``mlgym bench`` command. Importing this module loads only click."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..run_options import run_options


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(x.strip() for x in (value or "").split(",") if x.strip())


@click.command("bench")
@click.option("--tasks", required=True, help="Comma-separated task ids, or 'all'.")
@click.option("--agents", required=True, help="Comma-separated agent names.")
@click.option("--models", default=None, help="Comma-separated BACKEND:NAME (not needed for baseline/replay).")
@click.option("--runs", type=click.IntRange(min=1), default=4, show_default=True, help="Runs per task and method.")
@click.option("--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Bench folder: run directories, ledger.json, report.html.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Episodes at once (local default: 1; ray default: the cluster's CPUs).")
@click.option("--gpus", default=None, help="GPU ids to share out, e.g. 0,1,2,3 (no run gets one another holds).")
@click.option("--gpus-per-run", type=click.IntRange(min=0), default=None,
              help="GPUs per episode (default: the task's resources.gpus).")
@click.option("--total-cost-limit", type=float, default=None, help="USD over all episodes, checked before each "
              "model call.")
@click.option("--cost-limit", type=float, default=None, help="USD per episode.")
@click.option("--resume", is_flag=True, help="Continue the bench in --output (re-running the command does too).")
@run_options
@click.option("--ray-address", default=None, help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray).")
@click.option("--retries", type=click.IntRange(min=0), default=1, show_default=True,
              help="In-run retries of an episode lost to an infrastructure failure.")
@click.option("--html", "html", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="HTML report file (default: OUTPUT/report.html).")
@click.option("--no-report", is_flag=True, help="Skip the final report.")
@click.option("--no-progress", is_flag=True, help="No live progress display.")
def bench(tasks: str, agents: str, models: str | None, runs: int, output: Path, executor: str,
          workers: int | None, gpus: str | None, gpus_per_run: int | None, total_cost_limit: float | None,
          cost_limit: float | None, resume: bool, runtime: str, max_steps: int, seed: int, scale: str,
          options: tuple[str, ...], ray_address: str | None, retries: int, html: Path | None, no_report: bool,
          no_progress: bool) -> None:
    """Run tasks x agents x models x runs episodes with a ledger; safe to interrupt and resume."""
    from rich.console import Console

    from ..run_options import parse_options
    from .driver import run_bench
    from .plan import BenchConfig

    console = Console(stderr=True)
    cfg = BenchConfig(tasks=_csv(tasks), agents=_csv(agents), models=_csv(models) or (None,), runs=runs,
                      output=output, executor=executor, workers=workers or (1 if executor == "local" else 0),
                      gpus=_csv(gpus), gpus_per_run=gpus_per_run, total_cost_limit=total_cost_limit,
                      cost_limit=cost_limit, runtime=runtime, max_steps=max_steps, seed=seed, scale=scale,
                      agent_options=parse_options(options), ray_address=ray_address, retries=retries)
    try:
        s = run_bench(cfg, resume=resume, console=console, show_progress=not no_progress, report=not no_report,
                      html=html)
    except KeyboardInterrupt:
        click.echo(f"mlgym bench: interrupted; the ledger in {output} is saved: run the same command (or add "
                   "--resume) to finish", err=True)
        sys.exit(130)
    c = s["counts"]
    click.echo(f"mlgym bench: {c['done']} done, {c['failed']} failed, {c['pending']} pending of {s['planned']} "
               f"in {s['wall_s']} s; spend ${s['spent']:.4f}; ledger {output}/ledger.json", err=True)
    for eid, cause in s["failed"].items():
        click.echo(f"mlgym bench: failed {eid}: {cause}", err=True)
    if s.get("report_html"):
        click.echo(f"mlgym bench: report {s['report_html']}", err=True)
    if s["stopped_for_cost"]:
        click.echo(f"mlgym bench: stopped: the total cost limit ${total_cost_limit:g} is reached; "
                   f"{c['pending']} episode(s) not started", err=True)
        sys.exit(3)
    if c["failed"]:
        sys.exit(1)
