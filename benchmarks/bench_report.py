"""Benchmark ``mlgym report --json --plots DIR --html FILE`` at MLGym's published scale.

Generates 13 tasks x 5 models x 11 runs (715 run directories with results.json and a
~50-step .traj each, MLGym's layout) in a temporary folder, then times the report against a
baseline measured in the same process: json-loading every file of the run directories.
Target: under 5 s. Run: ``python benchmarks/bench_report.py [--runs-per-cell 4] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.progress import track

TASKS = {
    "regressionKaggleHousePrice": ("r2", 0.88, True), "3SATTime": ("Time", 16.158, False),
    "imageClassificationCifar10": ("accuracy", 0.4971, True), "imageClassificationFMnist": ("accuracy", 0.7835, True),
    "imageCaptioningCOCO": ("BLEU Score", 0.279, True), "languageModelingFineWeb": ("val_loss", 4.6727, False),
    "naturalLanguageInferenceMNLI": ("validation_accuracy", 52.51, True), "battleOfSexes": ("Score", 1.0227, True),
    "prisonersDilemma": ("Score", 2.3716, True), "blotto": ("Score", -0.248, True),
    "rlBreakoutMinAtar": ("Reward Mean", 48.817, True), "rlMetaMazeMisc": ("Reward Mean", 15.734, True),
    "rlMountainCarContinuous": ("Reward Mean", 33.794, True),
}
MODELS = ["gpt-4o", "claude-3-5-sonnet", "gemini-1.5-pro", "o1-preview", "llama3-405b-tools"]
STATUSES = ["submitted"] * 6 + ["autosubmission (max_steps)"] * 2 + [
    "evaluation_format_error (submit)", "submission_not_found (submit)", "autosubmission (exit_context)"]
SUFFIX = "__better_thought_action_parser_with_insert__t-0.00__p-0.95__c-4.00__install-0__parallel_agents_run_"


def _text(rng: random.Random, n: int) -> str:
    words = ["loss", "epoch", "train", "model", "accuracy", "python", "import", "def", "return", "data", "\n"]
    return " ".join(rng.choice(words) for _ in range(n // 6))


def generate(root: Path, runs_per_cell: int, steps: int, seed: int = 0) -> int:
    rng = random.Random(seed)
    count = 0
    cells = [(m, t) for m in MODELS for t in TASKS]
    for model, task in track(cells, description="generating run dirs"):
        metric, base, higher = TASKS[task]
        for k in range(runs_per_cell):
            d = root / f"{model}__{task}{SUFFIX}{k}"
            d.mkdir(parents=True)
            scores = []
            for _ in range(rng.randint(0, 6)):
                factor = rng.uniform(0.7, 1.4)
                scores.append({metric: base * factor if higher else base / factor, "other": rng.random()})
            (d / "results.json").write_text(json.dumps({"agent": scores, "baseline": {metric: base}}))
            traj = []
            history = [{"role": "system", "content": _text(rng, 3000), "agent": "primary_0"}]
            for _ in range(steps):
                thought, action, obs = _text(rng, 400), _text(rng, 200), _text(rng, rng.randint(200, 3000))
                traj.append({"action": action, "observation": obs, "response": thought + action, "state": "{}",
                             "thought": thought, "execution_time": rng.uniform(0.1, 30)})
                history.append({"role": "assistant", "content": thought + action, "thought": thought,
                                "action": action, "agent": "primary_0"})
                history.append({"role": "user", "content": obs, "agent": "primary_0"})
            info = {"model_stats": {"total_cost": 0.0, "task_cost": 0.0, "tokens_sent": rng.randint(10**5, 10**6),
                                    "tokens_received": rng.randint(10**4, 10**5), "api_calls": steps},
                    "exit_status": rng.choice(STATUSES), "submission": None, "score": scores, "summarizer": {}}
            (d / f"{task}.traj").write_text(json.dumps({"environment": "mlgym_main", "trajectory": traj,
                                                        "history": history, "info": info}))
            count += 1
    return count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs-per-cell", type=int, default=11, help="runs per model and task (65 cells)")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--keep", type=Path, default=None, help="generate here and keep it")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mlgym-bench-"))
    root = args.keep or tmp / "runs"
    if not root.exists():
        n = generate(root, args.runs_per_cell, args.steps)
    else:
        n = sum(1 for _ in root.iterdir())
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    print(f"{n} run directories, {size / 1e6:.0f} MB")

    t0 = time.perf_counter()
    for p in sorted(root.rglob("*")):
        if p.suffix in (".json", ".traj"):
            with open(p, "rb") as fh:
                json.load(fh)
    baseline = time.perf_counter() - t0

    cmd = [sys.executable, "-c", "import sys; from mlgym_core.report.command import report; "
           "report(sys.argv[1:])", str(root), "--json", "--plots", str(tmp / "plots"), "--html",
           str(tmp / "report.html")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        print(proc.stderr[-3000:])
        raise SystemExit(f"report failed with exit status {proc.returncode}")
    html_mb = (tmp / "report.html").stat().st_size / 1e6
    print(f"baseline (json.load of every file): {baseline:.2f} s")
    print(f"mlgym report --json --plots --html: {elapsed:.2f} s (HTML {html_mb:.1f} MB), "
          f"ratio {elapsed / baseline:.2f}x baseline; target < 5 s: {'PASS' if elapsed < 5 else 'FAIL'}")
    print(f"CPU time of the report (all its processes): {cpu:.2f} s; load average now {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs (a busy machine inflates both wall times)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
