"""The ``mlgym`` command line (click + rich)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from .errors import MlgymError
from .run_options import POSITIVE_INT, KeyValues, episode_options, parse_options

ENV_HELP = """
\b
Environment variables:
  MLGYM_LOAD_PLUGINS=a,b     load only these plugins (empty: none but core's built-ins)
  MLGYM_DISABLE_PLUGINS=a,b  never load these plugins
  MLGYM_TRACE_PLUGINS=1      print each hook call and its result
  MLGYM_STRICT_PLUGINS=1     a plugin that fails to load is an error, with its traceback
  MLGYM_HOME                 caches (prepared datasets, memory stores); default ~/.cache/mlgym
  MLGYM_DATA_DIR             local copies of datasets, MLGYM_DATA_DIR/<dataset id>/
  MLGYM_SANDBOX_UID_BASE     run as root: sandboxes use this uid and the next two (default 60100)
  MLGYM_MEMORY_GB            memory of an episode whose task declares none (default: half the RAM)
  MLGYM_WORKSPACE_GB         largest file, and total size, of a workspace (default 4)
"""

KINDS = ("tasks", "datasets", "tools", "agents", "metrics", "runtimes", "models")


class _Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        _add_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> Any:
        _add_plugin_commands()
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MlgymError as exc:
            click.echo(f"mlgym: error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group, epilog=ENV_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlgym-core", prog_name="mlgym")
def cli() -> None:
    """mlgym: run AI research agents on MLGym-Bench tasks and score them."""


def _console() -> Any:
    from rich.console import Console

    return Console()


def _plugins_rows(include_builtin: bool) -> list[dict[str, Any]]:
    from .plugins import list_plugins
    from .registry import collect
    from .specs import SPEC_KINDS

    rows = []
    counts: dict[str, dict[str, int]] = {}
    for kind in SPEC_KINDS:
        try:
            for item in collect(kind):
                counts.setdefault(item.plugin, {}).setdefault(kind, 0)
                counts[item.plugin][kind] += 1
        except MlgymError as exc:
            click.echo(f"mlgym: {exc}", err=True)
    for r in list_plugins(include_builtin):
        rows.append({"name": r.name, "distribution": r.distribution, "version": r.version,
                     "hooks": r.hooks, "provides": counts.get(r.name, {}), "status": r.status,
                     "error": r.error, "builtin": r.builtin})
    return rows


@cli.command("list-plugins")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
@click.option("--all", "include_builtin", is_flag=True, help="Include core's built-in plugins.")
def list_plugins_cmd(as_json: bool, include_builtin: bool) -> None:
    """Show installed plugins, what they provide, and whether they loaded."""
    rows = _plugins_rows(include_builtin)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    t = Table("NAME", "DISTRIBUTION", "VERSION", "PROVIDES", "STATUS", box=None, header_style="bold")
    for r in rows:
        prov = ", ".join(f"{n} {k if n != 1 else k.rstrip('s')}" for k, n in r["provides"].items()) or "-"
        status = "ok" if r["status"] == "ok" else f"[red]error: {r['error']}[/red]"
        t.add_row(r["name"], r["distribution"], r["version"], prov, status)
    _console().print(t)


def _describe(kind: str, item: Any) -> str:
    if kind == "tasks":
        return item.name
    if kind == "tools":
        return item.docstring.splitlines()[0] if item.docstring else ""
    if kind == "runtimes" and hasattr(item.factory, "promises"):
        return f"{item.description}. Here: {item.factory.promises()}"
    return getattr(item, "description", "") or ""


def item_json(kind: str, item: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"id": item.key, "qualified": item.qualified, "plugin": item.plugin}
    if kind == "tasks":
        base.update(name=item.name, version=item.version, metric=item.metric, higher_is_better=item.higher_is_better,
                    baseline=dict(item.baseline_scores), submission=item.submission, scales=list(item.scales),
                    baselines={sc: item.baseline_for(sc) for sc in item.scales},
                    gpus=item.resources.gpus, training_timeout=item.training_timeout, domain=item.domain)
    elif kind == "tools":
        base.update(name=item.name, signature=item.signature, docstring=item.docstring, group=item.group,
                    end_name=item.end_name, arguments=[a.model_dump() for a in item.arguments])
    elif kind == "datasets":
        base.update(name=item.name, description=item.description, source=item.source)
    else:
        base.update(description=getattr(item, "description", ""))
    return base


@cli.command("list")
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_cmd(kind: str, as_json: bool) -> None:
    """List tasks, datasets, tools, agents, metrics, runtimes or models."""
    from .registry import collect

    its = sorted(collect(kind), key=lambda i: (i.key.lower(), i.plugin))
    if as_json:
        click.echo(json.dumps([item_json(kind, i) for i in its], indent=2))
        return
    from rich.table import Table

    t = Table(box=None, header_style="bold")
    t.add_column("ID", no_wrap=True)
    t.add_column("PLUGIN", no_wrap=True)
    t.add_column("DESCRIPTION")
    for i in its:
        desc = _describe(kind, i)
        if kind == "tasks":
            desc = f"{i.name} ({i.metric}, {'max' if i.higher_is_better else 'min'})"
        elif kind == "tools":
            desc = f"{i.signature}  {desc}"
        t.add_row(i.key, i.plugin, desc)
    _console().print(t)


@cli.command("gc")
@click.option("--all", "all_owners", is_flag=True, help="Remove every leftover, live owners' too.")
def gc_cmd(all_owners: bool) -> None:
    """Remove what runs killed with SIGKILL left (episode and tools folders, cgroups)."""
    from .leftovers import reap_local

    removed = reap_local(all_owners)
    for name in removed:
        click.echo(f"removed {name}")
    click.echo(f"{len(removed)} local leftover(s) removed")


@cli.command("check")
@click.argument("ids", nargs=-1)
@click.option("--run", "run_baselines", is_flag=True,
              help="Also run each task's baseline through its evaluator in the local sandbox and check the "
                   "metrics it prints (names, case included, finite values, direction).")
@click.option("--scale", default=None,
              help="Scale of the --run baselines (default: smoke where a task has one; a task without one "
                   "that needs a GPU is skipped).")
def check_cmd(ids: tuple[str, ...], run_baselines: bool, scale: str | None) -> None:
    """Conformance checks of installed plugins and their items (all when no ID is given)."""
    from .checks import run_baselines as run_all, run_checks
    from .registry import collect

    failures = run_checks(ids)
    for line in failures:
        click.echo(f"FAIL {line}", err=True)
    if run_baselines:
        tasks = [i for i in ids if any(i in (t.key, t.qualified) for t in collect("tasks"))]
        rows = run_all(tasks, scale) if tasks or not ids else []
        _baseline_table(rows)
        failures += [r.task for r in rows if r.status == "fail"]
    if failures:
        sys.exit(1)
    click.echo("all checks passed")


def _baseline_table(rows: list[Any]) -> None:
    from rich.table import Table

    t = Table("TASK", "SCALE", "RESULT", "METRICS / REASON", "SECONDS", box=None, header_style="bold")
    colour = {"ok": "green", "fail": "red", "skip": "yellow"}
    for r in rows:
        shown = ", ".join(f"{k} {v:.6g}" for k, v in r.metrics.items())
        text = "; ".join(x for x in (shown, r.detail) if x) or "-"
        t.add_row(r.task, r.scale, f"[{colour[r.status]}]{r.status}[/]", text, f"{r.seconds:.1f}")
    from rich.console import Console

    Console(width=200 if not sys.stdout.isatty() else None).print(t)


def _do_run(spec: Any) -> None:
    from .progress import RunProgress, outcome, print_summary
    from .run import run_episode

    try:
        with RunProgress(task=spec.task, max_steps=spec.max_steps) as progress:
            rec = run_episode(spec, on_step=progress.on_step)
    except KeyboardInterrupt:
        click.echo("mlgym: interrupted; the trajectory and run.json were saved", err=True)
        sys.exit(130)
    print_summary(rec)
    for w in rec.get("warnings", []):
        click.echo(f"mlgym: warning: {w}", err=True)
    failed = outcome(rec)
    if failed:  # the episode did not really run: a script must not read this as a result
        click.echo(f"mlgym: error: {failed}", err=True)
        sys.exit(1)


@cli.command("run")
@episode_options
@click.option("--agent", required=True, help="Agent name (mlgym list agents).")
@click.option("--model", default=None, help="BACKEND:NAME, e.g. openai:gpt-4o or scripted:replies.json.")
@click.option("--cost-limit", type=float, default=None, help="Per-episode cost limit in USD.")
@click.option("--model-option", "model_options", multiple=True, cls=KeyValues,
              help="Model backend option KEY=VALUE (value as YAML), e.g. temperature=0.2; repeat it or give "
                   "several pairs: --model-option base_url=URL api_key=KEY.")
@click.option("--resume-from", type=click.Path(exists=True, file_okay=False), default=None,
              help="Continue the episode saved in this snapshot folder (e.g. RUN_DIR/snapshot of replay --until).")
def run_cmd(task: str, agent: str, model: str | None, runtime: str, max_steps: int, seed: int, scale: str,
            output: str, workspace_from: str | None, options: tuple[str, ...], short_timeout: float | None,
            training_timeout: float | None, cost_limit: float | None, devices: str | None,
            model_options: tuple[str, ...] = (), resume_from: str | None = None) -> None:
    """Run one episode and write its trajectory, results.json and run.json."""
    from .run import RunSpec

    _do_run(RunSpec(task=task, agent=agent, model=model, runtime=runtime, max_steps=max_steps, seed=seed,
                    scale=scale, output=output, workspace_from=workspace_from, agent_options=parse_options(options),
                    short_timeout=short_timeout, training_timeout=training_timeout, cost_limit=cost_limit,
                    model_options=parse_options(model_options, "--model-option"), devices=_devices(task, devices),
                    resume_from=str(Path(resume_from).resolve()) if resume_from else None))


@cli.command("replay")
@click.argument("trajectory", type=click.Path(exists=True, dir_okay=False))
@episode_options
@click.option("--until", type=POSITIVE_INT, default=None,
              help="Stop after N steps and keep the episode in RUN_DIR/snapshot (mlgym run --resume-from).")
def replay_cmd(trajectory: str, task: str, runtime: str, max_steps: int, seed: int, scale: str, output: str,
               workspace_from: str | None, options: tuple[str, ...], short_timeout: float | None,
               training_timeout: float | None, devices: str | None, until: int | None = None) -> None:
    """Re-execute the actions of a trajectory (ours or MLGym's) in a fresh episode."""
    from .run import RunSpec

    opts = parse_options(options)
    opts["trajectory"] = str(Path(trajectory).resolve())
    if until is not None:
        opts["until"] = until
    _do_run(RunSpec(task=task, agent="replay", runtime=runtime, max_steps=max_steps, seed=seed, scale=scale,
                    output=output, workspace_from=workspace_from, agent_options=opts, trajectory=trajectory,
                    short_timeout=short_timeout, training_timeout=training_timeout, devices=_devices(task, devices)))


@cli.command("export")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["inspect"]), default="inspect", show_default=True,
              help="inspect: inspect_ai eval logs (inspect view shows them).")
@click.option("--output", default="logs", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the logs (inspect's default log folder is ./logs).")
def export_cmd(run_dirs: tuple[str, ...], fmt: str, output: str) -> None:
    """Export runs (run directories or folders of them) as inspect_ai eval logs, one per task and method."""
    from .export_inspect import export_inspect

    for path in export_inspect(run_dirs, output):
        click.echo(str(path))


@cli.command("grade")
@click.option("--task", required=True, help="Task id (or plugin/id).")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--scale", default="default", show_default=True, help="smoke | full | default")
@click.option("--runtime", default="local", show_default=True)
@click.option("--devices", default=None, help="GPU ids for the grader, e.g. 0 (default: as for run).")
@click.option("--json-out", "json_out", type=click.Path(dir_okay=False), default=None,
              help="Where to write the result JSON (default: grade-<taskId>.json here).")
def grade_cmd(task: str, directory: str, scale: str, runtime: str, devices: str | None, json_out: str | None) -> None:
    """Grade a folder of artifacts (e.g. submission.csv) with the task's pristine evaluator, in the grading sandbox."""
    from .grade_dir import grade_directory
    from .progress import human
    from .records import write_json

    rec = grade_directory(task, directory, scale=scale, runtime=runtime, devices=_devices(task, devices))
    out = Path(json_out or f"grade-{rec['task']}.json")
    write_json(out, rec)
    if rec["error"]:
        click.echo(f"mlgym: error: {rec['error']}", err=True)
        click.echo(f"result    {out}")
        sys.exit(1)
    for k, v in rec["metrics"].items():
        base = rec["baseline"].get(k)
        mark = "  (priority metric)" if k == rec["metric"] else ""
        click.echo(f"{k:<20} {human(v):>12}   baseline {human(base)}{mark}")
    click.echo(f"result    {out}")


@cli.command("view")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (keep it local).")
@click.option("--port", default=8765, show_default=True, type=int, help="Port (0: any free one).")
@click.option("--poll", "poll_s", default=2.0, show_default=True, type=float,
              help="Seconds between the page's checks for new steps and runs.")
def view_cmd(run_dirs: tuple[str, ...], host: str, port: int, poll_s: float) -> None:
    """Serve the HTML report and trajectory viewer of RUN_DIRS on localhost; the page follows running episodes."""
    from .view import ViewServer

    server = ViewServer(run_dirs, host=host, port=port, poll_s=poll_s)
    click.echo(f"mlgym view: serving {server.url} (Ctrl-C to stop)", err=False)
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def _devices(task: str, devices: str | None) -> tuple[str, ...]:
    """``--devices`` as given; else as many of the host's GPUs as the task asks for (none: CPU)."""
    if devices is not None:
        return tuple(d.strip() for d in devices.split(",") if d.strip())
    from .registry import get_task

    want = get_task(task).resources.gpus
    if not want:
        return ()
    import os

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [d for d in visible.split(",") if d.strip()] if visible is not None else \
        sorted(p for p in (os.listdir("/proc/driver/nvidia/gpus") if os.path.isdir("/proc/driver/nvidia/gpus") else ()))
    if visible is None:
        ids = [str(i) for i in range(len(ids))]
    if len(ids) < want:
        click.echo(f"mlgym: warning: task '{task}' asks for {want} GPU(s); {len(ids)} found", err=True)
    return tuple(ids[:want])


from .audit.command import audit_cmd  # noqa: E402  (issue 16: mlgym audit)

cli.add_command(audit_cmd)

_commands_added: set[tuple[int, str]] = set()


def _add_plugin_commands() -> None:
    """Let each loaded plugin add its commands, once per plugin manager and plugin."""
    from .plugins import plugin_manager

    m = plugin_manager()
    for impl in m.pm.hook.register_commands.get_hookimpls():
        key = (id(m), m.pm.get_name(impl.plugin) or "?")
        if key in _commands_added:
            continue
        _commands_added.add(key)
        try:
            impl.function(cli=cli)
        except Exception as exc:  # a broken plugin command must not take the CLI down; list-plugins shows it
            from .errors import PluginSpecError

            m.fail(key[1], PluginSpecError(f"plugin '{key[1]}' failed in register_commands(): "
                                           f"{type(exc).__name__}: {exc}"))


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="mlgym")
