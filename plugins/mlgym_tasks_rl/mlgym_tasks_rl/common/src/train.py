"""Train 5 agents (one per seed) and save their checkpoints.

Usage (from the workspace root): ``python src/train.py [--config src/config.yaml]``

``PRNGKey(42)`` is split into 6 keys: key 0 drives training (one sub-key per run) and keys
1-5 initialise the 5 networks. Each run is saved as ``checkpoints/config-42-<i>.pkl`` holding
``log_steps``, ``log_return``, ``network`` (the parameters) and ``train_config``. The
configuration used is copied to ``config.yaml`` at the workspace root: the evaluator reads the
checkpoints and that file. Keep the 5-seed loop; to change the algorithm, replace only the
training function.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the workspace
sys.path.insert(0, str(ROOT))

from src.helpers import defer_import, load_config, save_pkl_object  # noqa: E402

defer_import("seaborn")  # imported by gymnax for rendering only
defer_import("matplotlib.pyplot")

import jax  # noqa: E402

from src.networks import get_model_ready  # noqa: E402
from src.policy import make_train  # noqa: E402

NUM_SEEDS = 5
SEED = 42


def main(config_path: str | Path = ROOT / "src" / "config.yaml",
         checkpoints_dir: str | Path = ROOT / "checkpoints") -> list[float]:
    config = load_config(config_path)
    train_config = config.train_config
    rng = jax.random.PRNGKey(SEED)
    keys = jax.random.split(rng, NUM_SEEDS + 1)
    train_keys = jax.random.split(keys[0], NUM_SEEDS)
    model, _ = get_model_ready(keys[1], train_config)
    train = make_train(train_config, model)
    stem = Path(config_path).stem
    finals = []
    for i in range(NUM_SEEDS):
        t0 = time.time()
        _, params = get_model_ready(keys[i + 1], train_config)
        print(f"run {i}: training {train_config.env_name}", flush=True)
        log_steps, log_return, params = train(train_keys[i], params)
        save_pkl_object({"log_steps": log_steps, "log_return": log_return, "network": params,
                         "train_config": train_config},
                        Path(checkpoints_dir) / f"{stem}-{SEED}-{i}.pkl")
        finals.append(float(log_return[-1]))
        print(f"run {i}: final mean episode return {finals[-1]:.3f} ({time.time() - t0:.1f} s)", flush=True)
    if Path(config_path).resolve() != (ROOT / "config.yaml").resolve():
        shutil.copyfile(config_path, ROOT / "config.yaml")
    print(f"mean final return over {NUM_SEEDS} runs: {sum(finals) / len(finals):.3f}")
    return finals


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", "-config", default=str(ROOT / "src" / "config.yaml"),
                        help="training configuration (default: src/config.yaml)")
    args = parser.parse_args()
    main(args.config)
