"""RL full-scale baselines: MountainCar and MetaMaze trained and graded as many times as the budget allows.

Each run is the task's baseline (``src/train.py``: 5 agents, keys split from ``PRNGKey(seed)``) graded by
the pristine evaluator (5 checkpoints x 5 environment seeds x 256 episodes); run k uses seed 42 + k
(42 is the starter's). Runs alternate between the tasks (MetaMaze, the cheaper, first) while the next
one is expected to fit the budget (its task's last run time); a task's first run may take at most its
share of the time left, so one task cannot starve the other. Prints each run's ``Reward Mean`` and, per
task, the mean over runs with its standard error against MLGym's published figure (MountainCar 33.79,
MetaMaze 15.73).

Run on a GPU machine (jax[cuda12] installed):  python benchmarks/full_scale/rl.py [--budget 540]
Check here in seconds:                         python benchmarks/full_scale/rl.py --dry-run
The whole pipeline on a CPU (minutes):         python benchmarks/full_scale/rl.py --scale smoke
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _host import compare_line, dry_run, grade, lay_out, offline, parser, published, run, workdir  # noqa: E402

from mlgym_core import get_task, make_task  # noqa: E402

TASKS = ["rlMetaMazeMisc", "rlMountainCarContinuous"]  # the cheaper first
TRAIN = "python -c 'import sys; sys.path.insert(0, \".\"); import src.train as t; t.SEED = {seed}; t.main()'"


def one_run(task_id: str, scale: str, seed: int, work: Path, deadline: float, devices: str) -> tuple[float | None, str]:
    """Train with ``seed`` and grade; (Reward Mean, "") or (None, why)."""
    task = make_task(get_task(task_id), scale)
    root = work / task_id / f"seed-{seed}"
    try:
        ws, grader = lay_out(task, root)
        r = run(TRAIN.format(seed=seed), ws, deadline - time.monotonic(), devices)
        if r.returncode != 0:
            tail = (r.stderr or r.stdout).strip().splitlines()
            return None, f"training failed (status {r.returncode}): {tail[-1] if tail else ''}"
        metrics = grade(task, ws, grader, root, deadline - time.monotonic(), devices)
        return metrics[published(task_id)[0]], ""
    except Exception as exc:  # noqa: BLE001 - a timeout or an evaluator failure ends this run only
        return None, f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"[:300]
    finally:
        task.close()


def backend(devices: str) -> str:
    r = run([sys.executable, "-c", "import jax; print(jax.default_backend(), jax.device_count())"],
            Path.cwd(), 120, devices)
    return r.stdout.strip() or f"jax unavailable: {(r.stderr.strip().splitlines() or ['?'])[-1]}"


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__).parse_args(argv)
    if args.dry_run:
        with tempfile.TemporaryDirectory() as tmp:
            dry_run(TASKS, args.work or Path(tmp), {t: TRAIN.format(seed="42+k") for t in TASKS})
        return 0
    work = workdir(args)
    offline(args)
    deadline = time.monotonic() + args.budget
    print(f"jax backend: {backend(args.devices)}; scale {args.scale}; budget {args.budget:.0f} s", flush=True)
    scores: dict[str, list[float]] = {t: [] for t in TASKS}
    last: dict[str, float] = {t: 0.0 for t in TASKS}
    active = list(TASKS)
    k = 0
    while active:
        for task_id in list(active):
            left = deadline - time.monotonic()
            if last[task_id] > left:
                print(f"{task_id}: stopping after {len(scores[task_id])} run(s); the next needs about "
                      f"{last[task_id]:.0f} s, {left:.0f} s left", flush=True)
                active.remove(task_id)
                continue
            t0 = time.monotonic()
            untried = sum(1 for t in active if not scores[t] and not last[t])
            # a first run may take its share of what is left, so that one task cannot starve the other
            limit = t0 + left / untried if untried and not last[task_id] else deadline
            value, why = one_run(task_id, args.scale, 42 + k, work, limit, args.devices)
            last[task_id] = time.monotonic() - t0
            if value is None:
                print(f"{task_id} seed {42 + k}: no score ({why})", flush=True)
                active.remove(task_id)
                continue
            scores[task_id].append(value)
            print(f"{task_id} seed {42 + k}: Reward Mean {value:.4f} ({last[task_id]:.0f} s)", flush=True)
        k += 1
    for task_id in TASKS:
        if scores[task_id]:
            print(compare_line(task_id, scores[task_id], scale=args.scale))
        else:
            _, base, label = published(task_id, args.scale)
            print(f"{task_id}: not measured; {label} {base:.4g}")
    return 0 if all(scores.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
