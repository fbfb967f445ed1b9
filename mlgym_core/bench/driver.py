"""The bench driver: plan, ledger, scheduling with GPU assignment, live progress, the final report."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import ConfigError, MlgymError
from ..records import UNKNOWN_ERROR, RunRecord, redact_secrets
from .ledger import BenchLock, Ledger
from .plan import BenchConfig, PlannedEpisode, plan_episodes

# Settings that change what an episode gives: a bench folder's finished episodes hold for these values only.
RESULT_SETTINGS = {"runtime": "--runtime", "max_steps": "--max-steps", "seed": "--seed", "scale": "--scale",
                   "agent_options": "--option", "cost_limit": "--cost-limit"}


def _config_json(cfg: BenchConfig) -> dict[str, Any]:
    """The config as the ledger stores it: JSON values, secrets redacted."""
    d = asdict(cfg)
    d["output"] = str(cfg.output)
    return redact_secrets(json.loads(json.dumps(d, default=str)))


def check_same_settings(ledger: Ledger, cfg: BenchConfig) -> None:
    """Refuse (one line) to continue a bench whose episodes ran with other result-changing settings."""
    old, new = redact_secrets(ledger.data.get("config") or {}), _config_json(cfg)
    if all(e.get("state") == "pending" for e in ledger.episodes.values()):
        return  # nothing ran yet: nothing to keep consistent with
    for key, flag in RESULT_SETTINGS.items():
        if key in old and old[key] != new[key]:
            raise ConfigError(f"{ledger.folder}: {flag} is {json.dumps(new[key])} but the episodes of this bench ran "
                              f"with {json.dumps(old[key])}; give the same value to resume, or a new --output "
                              "folder for a bench with other settings")


def _write_run_dir(out: Path, eid: str, files: dict[str, bytes]) -> Path:
    """Write an episode's files into OUT/<id> atomically (a temporary folder renamed into place)."""
    tmp = out / f".incoming-{eid}"
    shutil.rmtree(tmp, ignore_errors=True)
    for rel, data in files.items():
        p = tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if rel == "run.json":
            rec = RunRecord.parse(json.loads(data), f"episode {eid}: run.json")
            rec.spec["output"] = str(out)
            data = json.dumps({**rec.to_json(), "run_dir": str(out / eid)}, indent=2).encode()
        p.write_bytes(data)
    final = out / eid
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def _finished_run(run_dir: Path) -> RunRecord | None:
    """run.json of a complete run directory (written by the driver), else None."""
    try:
        rec = RunRecord.read(run_dir / "run.json")
    except MlgymError:
        return None
    return rec if rec.timings.ended else None


def reconcile(ledger: Ledger, plan: list[PlannedEpisode], out: Path) -> list[PlannedEpisode]:
    """Bring the ledger up to date with the plan; return the episodes to run now.

    Done episodes are skipped; infra failures and episodes left ``running`` by a stopped bench
    are retried (unless their run directory is complete: then they are done); failures of
    another kind and agent exit statuses are never rerun.
    """
    todo = []
    for ep in plan:
        e = ledger.get(ep.id)
        if e is None:
            ledger.add(ep.id, task=ep.task, agent=ep.agent, model=ep.model, run=ep.run, seed=ep.seed)
            todo.append(ep)
            continue
        if e["state"] == "done":
            continue
        if e["state"] == "running":
            rec = _finished_run(out / ep.id)
            if rec is not None:
                ledger.update(ep.id, state="done", exit_status=rec.exit_status, cause=None, infra=False)
                continue
            ledger.update(ep.id, state="pending", cause="executor lost (the bench stopped while it ran)", infra=True)
        if e["state"] == "failed" and not e.get("infra"):
            continue
        if e["state"] == "failed":
            ledger.update(ep.id, state="pending")
        elif e["state"] != "pending":  # (Ledger refuses such a file on load; never delete on a guess)
            raise ConfigError(f"{ledger.path}: episode {ep.id!r} has unknown state {e['state']!r}")
        stale = out / ep.id
        if stale.exists():
            shutil.rmtree(stale)
        todo.append(ep)
    return todo


class _Progress:
    """Rich live progress: done/running/failed, spend vs limit, ETA."""

    def __init__(self, total: int, already: int, limit: float | None, console: Any, enabled: bool) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
            TimeRemainingColumn

        self.limit = limit
        self.progress = Progress(TextColumn("[bold]bench"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TextColumn("ETA"),
                                 TimeRemainingColumn(), console=console, disable=not enabled, transient=False)
        self.task = self.progress.add_task("bench", total=total, completed=already, status="")

    def update(self, done: int, running: int, failed: int, spent: float) -> None:
        lim = f" / ${self.limit:g}" if self.limit else ""
        self.progress.update(self.task, completed=done + failed,
                             status=f"done {done}  running {running}  failed {failed}  spend ${spent:.4f}{lim}")

    def __enter__(self) -> _Progress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)


def run_bench(cfg: BenchConfig, *, resume: bool = False, console: Any = None, show_progress: bool = True,
              report: bool = True, html: Path | None = None) -> dict[str, Any]:
    """Run (or resume) a bench; return a summary. Raises ConfigError on bad input, BenchLocked if busy."""
    from rich.console import Console

    console = console or Console(stderr=True)
    out = Path(cfg.output).resolve()
    plan = plan_episodes(cfg)
    if isinstance(cfg.max_steps, bool) or not isinstance(cfg.max_steps, int) or cfg.max_steps < 1:
        raise ConfigError(f"--max-steps must be a positive integer, got {cfg.max_steps!r}")
    if cfg.executor not in ("local", "ray"):
        raise ConfigError(f"--executor must be local or ray, got '{cfg.executor}'")
    lock = BenchLock(out)
    lock.acquire()
    t_start = time.perf_counter()
    try:
        ledger = Ledger(out)
        if resume and not ledger.exists:
            raise ConfigError(f"--resume: {ledger.path} does not exist (nothing to resume)")
        check_same_settings(ledger, cfg)
        ledger.data["config"] = _config_json(cfg)
        todo = reconcile(ledger, plan, out)
        ledger.save()
        ids = [ep.id for ep in plan]
        summary = _execute(cfg, ledger, todo, ids, out, console, show_progress)
        summary["wall_s"] = round(time.perf_counter() - t_start, 3)
    finally:
        lock.release()
    if report and summary["counts"]["done"]:
        summary["report_html"] = _report(out, cfg, html, console)
    return summary


def _execute(cfg: BenchConfig, ledger: Ledger, todo: list[PlannedEpisode], ids: list[str], out: Path,
             console: Any, show_progress: bool) -> dict[str, Any]:
    from .spend import FileSpend

    prior = ledger.total_spent()
    spend_files = FileSpend(out / ".spend", prior)
    spend_files.reset()
    executor: Any
    if cfg.executor == "ray":
        from .executors import RayExecutor

        executor = RayExecutor(cfg.workers or None, cfg.ray_address, prior, cfg.total_cost_limit,
                               gpus=len(cfg.gpus) or None)
        spend = executor.spend or spend_files
    else:
        from .executors import LocalExecutor

        spend = spend_files
        executor = LocalExecutor(cfg.workers, spend_files.handle() if cfg.total_cost_limit else None,
                                 cfg.total_cost_limit)
    free_gpus = list(cfg.gpus)
    pending = list(todo)
    inflight: dict[Any, tuple[PlannedEpisode, list[str]]] = {}
    retries: dict[str, int] = {}
    stopped_for_cost = False
    interrupted = False
    prog = _Progress(len(ids), 0, cfg.total_cost_limit, console, show_progress)

    def refresh() -> None:
        c = ledger.counts(ids)
        prog.update(c["done"], c["running"], c["failed"], spend.total())

    try:
        with prog:
            refresh()
            while pending or inflight:
                # launch what fits: a free slot and, with the local executor, free GPUs
                while pending and len(inflight) < executor.capacity and not stopped_for_cost:
                    if cfg.total_cost_limit and spend.total() >= cfg.total_cost_limit:
                        stopped_for_cost = True
                        break
                    idx = next((i for i, ep in enumerate(pending)
                                if cfg.executor == "ray" or ep.gpus <= len(free_gpus)), None)
                    if idx is None:
                        break
                    ep = pending.pop(idx)
                    devs: list[str] = []
                    if cfg.executor == "local" and ep.gpus:
                        devs, free_gpus[:] = free_gpus[:ep.gpus], free_gpus[ep.gpus:]
                    entry = ledger.get(ep.id)
                    assert entry is not None
                    attempt = int(entry.get("attempts") or 0) + 1
                    spec = ep.spec_fields(cfg)
                    if devs:
                        spec["devices"] = tuple(devs)
                    job = {"id": ep.id, "spec": spec, "attempt": attempt, "gpus": ep.gpus}
                    handle = executor.submit(job, ep.cpus, ep.gpus)
                    inflight[handle] = (ep, devs)
                    ledger.update(ep.id, state="running", attempts=attempt, cause=None, infra=False,
                                  devices=devs or None)
                    ledger.save()
                    refresh()
                if not inflight:
                    break
                for handle, res in executor.wait(list(inflight), timeout=0.5):
                    ep, devs = inflight.pop(handle)
                    free_gpus.extend(devs)
                    _record(ledger, ep, res, out)
                    if ledger.get(ep.id)["state"] == "failed" and ledger.get(ep.id).get("infra") \
                            and retries.get(ep.id, 0) < cfg.retries:
                        retries[ep.id] = retries.get(ep.id, 0) + 1
                        ledger.update(ep.id, state="pending")
                        pending.append(ep)
                    ledger.save()
                refresh()
    except KeyboardInterrupt:
        interrupted = True
        for ep, _devs in inflight.values():
            ledger.update(ep.id, state="failed", cause="interrupted (Ctrl-C)", infra=True)
        ledger.save()
    finally:
        executor.close(cancel=bool(inflight) or interrupted)
    c = ledger.counts(ids)
    summary = {"output": str(out), "planned": len(ids), "counts": c, "spent": round(spend.total(), 6),
               "interrupted": interrupted, "stopped_for_cost": stopped_for_cost,
               "failed": {eid: ledger.get(eid)["cause"] for eid in ids if ledger.get(eid)["state"] == "failed"}}
    if interrupted:
        raise KeyboardInterrupt
    return summary


def _record(ledger: Ledger, ep: PlannedEpisode, res: dict[str, Any], out: Path) -> None:
    entry = ledger.get(ep.id)
    assert entry is not None
    if "record" in res:
        rec = RunRecord.parse(res["record"], f"episode {ep.id}")
        cost = rec.cost.total_cost or 0.0
        _write_run_dir(out, ep.id, res.get("files") or {})
        fields = {"exit_status": rec.exit_status, "spent": float(entry.get("spent") or 0.0) + cost,
                  "wall_s": rec.timings.wall_s, "best_score": rec.best_score, "host": res.get("host")}
        status = f"{rec.exit_status} ({rec.error})" if rec.error else rec.exit_status
        if res.get("infra"):
            ledger.update(ep.id, state="failed", infra=True, cause=f"infrastructure: {status}", **fields)
        elif rec.exit_status == UNKNOWN_ERROR:
            ledger.update(ep.id, state="failed", infra=False, cause=status, **fields)
        else:
            ledger.update(ep.id, state="done", cause=None, infra=False, **fields)
    else:
        ledger.update(ep.id, state="failed", infra=bool(res.get("infra")), cause=res.get("error") or "unknown",
                      host=res.get("host"))


def _report(out: Path, cfg: BenchConfig, html: Path | None, console: Any) -> str | None:
    """Print the metrics report of the bench folder and write it as HTML."""
    from ..report.command import report as report_cmd

    html = html or out / "report.html"
    try:
        report_cmd.main([str(out), "--html", str(html), "--k", str(cfg.runs)], standalone_mode=False)
    except SystemExit as exc:
        if exc.code:
            console.print(f"mlgym bench: warning: the report failed (exit {exc.code})")
            return None
    except Exception as exc:
        console.print(f"mlgym bench: warning: the report failed: {type(exc).__name__}: {exc}")
        return None
    return str(html)
