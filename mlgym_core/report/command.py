"""The ``mlgym report`` command. Importing this module loads only click."""

from __future__ import annotations

from pathlib import Path
import click


@click.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a self-contained HTML report (tables, plots, trajectory viewer).")
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write PNG plots into this folder (needs matplotlib: pip install 'mlgym-core[report]').")
@click.option("--k", "k", type=click.IntRange(min=1), default=4, show_default=True,
              help="Runs per method and task that count (Best Attempt@k, Best Submission@k).")
@click.option("--methods", "methods", default=None,
              help="Comma-separated methods to compare (the baseline is always included); AUP depends on this set.")
@click.option("--bootstrap", "bootstrap", type=click.IntRange(min=0), default=0, show_default=True,
              help="Bootstrap replicates for confidence intervals of AUP over runs (0: none).")
@click.option("--seed", "seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
def report(run_dirs: tuple[Path, ...], as_json: bool, html_file: Path | None, plots_dir: Path | None,
           k: int, methods: str | None, bootstrap: int, seed: int) -> None:
    """Metrics over run directories: Best Attempt/Submission@k, AUP, BORDA, mean rank, cost.

    RUN_DIRS are run directories (ours or MLGym's published layout) or folders holding them.
    Methods are models (MLGym's runs) or run.json's method label (ours); the 'baseline'
    method comes from results.json. The report states the compared set and tau_max: AUP
    depends on both.
    """
    import json
    import sys

    from rich.console import Console
    from rich.progress import Progress

    from .build import build, report_object
    from .loader import load_runs

    err = Console(stderr=True)
    warnings: list[str] = []
    with Progress(console=err, transient=True, disable=not err.is_terminal) as progress:
        runs = load_runs(list(run_dirs), warnings, keep_steps=html_file is not None, progress=progress)
    if not runs:
        for w in warnings:
            click.echo(f"mlgym report: warning: {w}", err=True)
        raise click.ClickException("no run directories found (a run directory holds results.json or run.json)")
    wanted = [m.strip() for m in methods.split(",") if m.strip()] if methods else None
    built = build(runs, k=k, methods=wanted, warnings=warnings)
    if not built.table.tasks:
        for w in warnings:
            click.echo(f"mlgym report: warning: {w}", err=True)
        raise click.ClickException("no run is of a task with a known priority metric")
    obj = report_object(built, bootstrap=bootstrap, seed=seed)
    images: dict[str, bytes] = {}
    finish_plots = None
    if plots_dir is not None or html_file is not None:
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:  # pragma: no cover - matplotlib missing
            raise click.ClickException("plots need matplotlib: pip install 'mlgym-core[report]'")
        from .plots import start_plots

        finish_plots = start_plots(built, obj)
    payloads = None
    if html_file is not None:
        from .html import run_payloads

        payloads = run_payloads(built)  # while the figures are drawn
    if finish_plots is not None:
        images = finish_plots()
        if plots_dir is not None:
            plots_dir.mkdir(parents=True, exist_ok=True)
            for name, data in images.items():
                (plots_dir / name).write_bytes(data)
    if html_file is not None:
        from .html import write_html

        write_html(html_file, built, obj, images, payloads)
    for w in obj["warnings"]:
        click.echo(f"mlgym report: warning: {w}", err=True)
    if as_json:
        sys.stdout.write(json.dumps(obj, indent=2, allow_nan=False) + "\n")
    else:
        from .render import print_tables

        print_tables(Console(), obj)
    if plots_dir is not None:
        click.echo(f"mlgym report: wrote {len(images)} plots to {plots_dir}", err=True)
    if html_file is not None:
        click.echo(f"mlgym report: wrote {html_file}", err=True)
