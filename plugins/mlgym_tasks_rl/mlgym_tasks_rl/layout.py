"""Lay out an RL task's workspace outside any sandbox, e.g. to reproduce the full-scale baselines on a GPU.

    python -m mlgym_tasks_rl.layout rlMountainCarContinuous full /path/to/ws
    cd /path/to/ws && python src/train.py && python evaluate.py --config_fname config.yaml
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlgym_core import MlgymError, get_task, make_task


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", help="task id, e.g. rlMetaMazeMisc")
    parser.add_argument("scale", choices=["smoke", "full"])
    parser.add_argument("folder", type=Path, help="new (or empty) folder for the workspace")
    args = parser.parse_args(argv)
    if args.folder.exists() and any(args.folder.iterdir()):
        print(f"mlgym_tasks_rl.layout: {args.folder} is not empty", file=sys.stderr)
        return 2
    try:
        spec = get_task(args.task)
        if spec.plugin != "tasks_rl":
            raise MlgymError(f"task '{args.task}' is not an RL task of this pack")
        task = make_task(spec, args.scale)
    except (LookupError, MlgymError) as exc:
        print(f"mlgym_tasks_rl.layout: {exc}", file=sys.stderr)
        return 2
    try:
        args.folder.mkdir(parents=True, exist_ok=True)
        task.layout_workspace(args.folder)
    finally:
        task.close()
    print(f"{args.task} ({args.scale}) laid out in {args.folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
