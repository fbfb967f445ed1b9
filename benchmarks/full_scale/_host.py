"""Shared by the full-scale scripts: run a task's baseline on the host and grade it with the task's
pristine evaluator, the way a grading sandbox would lay it out, but with no sandbox (so the GPU is seen).

Per task: prepare the data (offline unless ``--online``), lay out the workspace in ``<work>/<id>/ws``
with ``data/`` linked to the agent's data, run the task's ``baseline_command`` there, copy the
artifacts into ``<work>/<id>/graded`` with ``data/`` linked to the grader's data, and run the pristine
evaluator from ``<work>/<id>/grader`` in that folder; the metrics are parsed as an episode parses them.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlgym_core import WORKSPACE, Task, get_task, make_task
from mlgym_core.task import WORKER_MODULE, worker_module


@dataclass
class Outcome:
    """One baseline run: its metrics, or the one-line reason it has none."""

    task: str
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    seconds: float = 0.0


def parser(doc: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true",
                    help="lay out every workspace and grader folder at the smoke scale (synthetic data) and print "
                         "the plan; nothing is trained (seconds, CPU)")
    ap.add_argument("--scale", default="full", choices=["full", "smoke"],
                    help="scale to run (smoke: the whole pipeline on a CPU, to check it)")
    ap.add_argument("--budget", type=float, default=540.0, help="seconds for the whole script (default 540)")
    ap.add_argument("--devices", default="0", help="CUDA_VISIBLE_DEVICES for the runs (default 0)")
    ap.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    ap.add_argument("--online", action="store_true", help="allow the Hugging Face hub (default: offline)")
    return ap


def published(task_id: str, scale: str = "full") -> tuple[str, float, str]:
    """(metric, recorded baseline, its name): at full scale MLGym's published figure, else the scale's
    own recorded baseline (task.yaml ``scale_baselines``)."""
    spec = get_task(task_id)
    label = "published" if scale == "full" else f"recorded {scale} baseline"
    return spec.metric, float(spec.baseline_for(scale)[spec.metric]), label


def workdir(args: argparse.Namespace) -> Path:
    """The working folder of a real run (kept afterwards, to look into)."""
    work = args.work or Path(tempfile.mkdtemp(prefix="mlgym-full-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"working folder: {work}", flush=True)
    return work


def offline(args: argparse.Namespace) -> None:
    if not args.online:  # a machine without the hub fails at once instead of retrying
        for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
            os.environ.setdefault(var, "1")


def _link_data(folder: Path, source: Path | None) -> None:
    if source is not None:
        (folder / "data").symlink_to(source, target_is_directory=True)


def _tail(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:600] if lines else "(no output)"


def lay_out(task: Task, root: Path) -> tuple[Path, Path]:
    """The workspace and the grader folder of ``task`` under ``root`` (both new)."""
    ws, grader = root / "ws", root / "grader"
    for d in (ws, grader):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    task.layout_workspace(ws)
    task.layout_grader(grader)
    (grader / WORKER_MODULE).write_bytes(worker_module())
    _link_data(ws, task.data_dir())
    return ws, grader


def run(argv: list[str] | str, cwd: Path, timeout: float, devices: str) -> subprocess.CompletedProcess:
    # JAX takes 75% of the GPU per process unless told not to: the RL grader and its worker are two
    env = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false", **os.environ, "CUDA_VISIBLE_DEVICES": devices,
           "PYTHONUNBUFFERED": "1"}
    shell = isinstance(argv, str)
    return subprocess.run(argv, cwd=cwd, env=env, shell=shell, executable="/bin/bash" if shell else None,
                          capture_output=True, text=True, timeout=max(timeout, 1.0))


def grade(task: Task, ws: Path, grader: Path, root: Path, timeout: float, devices: str) -> dict[str, float]:
    """Copy the artifacts of ``ws`` into ``root/graded`` and run the pristine evaluator there."""
    graded = root / "graded"
    if graded.exists():
        shutil.rmtree(graded)
    graded.mkdir()
    task.check_artifacts(ws)
    for rel in task.artifact_files(ws):
        (graded / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ws / rel, graded / rel)
    _link_data(graded, task.grader_binds().get(f"{WORKSPACE}/data"))
    argv = [sys.executable, str(grader / task.spec.evaluator), *shlex.split(task.spec.evaluate_args or "")]
    r = run(argv, graded, timeout, devices)
    if r.returncode != 0:
        raise RuntimeError(f"the evaluator exited with status {r.returncode}: {_tail(r.stderr or r.stdout)}")
    return task.parse_metrics(r.stdout)


def baseline(task_id: str, scale: str, work: Path, deadline: float, devices: str) -> Outcome:
    """Prepare, train the baseline and grade it before ``deadline`` (time.monotonic())."""
    t0 = time.monotonic()
    out = Outcome(task_id)
    task = make_task(get_task(task_id), scale)
    try:
        try:
            task.prepare()
        except Exception as exc:  # noqa: BLE001 - any failure to get the data is reported in one line
            out.reason = f"data missing: {_tail(str(exc))}"
            return out
        root = work / task_id
        ws, grader = lay_out(task, root)
        try:
            r = run(task.spec.baseline_command, ws, deadline - time.monotonic(), devices)
            if r.returncode != 0:
                out.reason = f"baseline failed (status {r.returncode}): {_tail(r.stderr or r.stdout)}"
                return out
            out.metrics = grade(task, ws, grader, root, deadline - time.monotonic(), devices)
        except subprocess.TimeoutExpired:
            out.reason = f"did not finish within the budget ({deadline - t0:.0f} s left at its start)"
        except Exception as exc:  # noqa: BLE001 - reported, the next task still runs
            out.reason = _tail(f"{type(exc).__name__}: {exc}")
        return out
    finally:
        task.close()
        out.seconds = time.monotonic() - t0


def compare_line(task_id: str, measured: list[float], *, scale: str = "full", note: str = "") -> str:
    """``task metric: measured m (+- se, n runs) vs published p: d = z se``."""
    metric, pub, label = published(task_id, scale)
    n = len(measured)
    mean = sum(measured) / n
    head = f"{task_id} {metric}: measured {mean:.4g}"
    if n > 1:
        se = math.sqrt(sum((x - mean) ** 2 for x in measured) / (n - 1) / n)
        z = (mean - pub) / se if se > 0 else float("inf")
        head += f" (+- {se:.3g}, {n} runs) vs {label} {pub:.4g}: {mean - pub:+.4g} = {z:+.1f} se"
    else:
        head += f" (1 run) vs {label} {pub:.4g}: {mean - pub:+.4g}"
    return head + (f"; {note}" if note else "")


def report(outcome: Outcome, *, scale: str = "full", note: str = "") -> str:
    metric, pub, label = published(outcome.task, scale)
    if outcome.reason:
        return f"{outcome.task} {metric}: not measured ({outcome.reason}); {label} {pub:.4g}"
    line = compare_line(outcome.task, [outcome.metrics[metric]], scale=scale, note=note)
    return line + f" [{outcome.seconds:.0f} s]"


def dry_run(task_ids: list[str], work: Path, commands: dict[str, str] | None = None) -> None:
    """Lay out every task at the smoke scale (its seeded synthetic data) and print what a real run does."""
    for task_id in task_ids:
        metric, pub, _ = published(task_id)
        task = make_task(get_task(task_id), "smoke")
        try:
            task.prepare()  # the smoke data: synthetic, seconds (the CV starters write a sample from it)
            ws, grader = lay_out(task, work / task_id)
            evaluator = grader / task.spec.evaluator
            if not evaluator.is_file():
                raise SystemExit(f"{task_id}: the evaluator {task.spec.evaluator} was not laid out")
            cmd = (commands or {}).get(task_id, task.spec.baseline_command)
            grading = f"python {evaluator.name} {task.spec.evaluate_args or ''}".rstrip()
            print(f"{task_id}: would run `{cmd}` in {ws}, then `{grading}`; published {metric} {pub:.4g}")
        finally:
            task.close()


def family_main(doc: str, task_ids: list[str], argv: list[str] | None,
                extra: Callable[[Outcome, str], str] = lambda out, scale: "") -> int:
    """The CV and NLP scripts: each task's baseline in turn while the budget lasts, one line each."""
    args = parser(doc).parse_args(argv)
    if args.dry_run:
        with tempfile.TemporaryDirectory() as tmp:
            dry_run(task_ids, args.work or Path(tmp))
        return 0
    work = workdir(args)
    offline(args)
    deadline = time.monotonic() + args.budget
    ok = True
    for task_id in task_ids:
        out = baseline(task_id, args.scale, work, deadline, args.devices)
        print(report(out, scale=args.scale, note=extra(out, args.scale) if out.metrics else ""), flush=True)
        ok = ok and not out.reason
    return 0 if ok else 1
