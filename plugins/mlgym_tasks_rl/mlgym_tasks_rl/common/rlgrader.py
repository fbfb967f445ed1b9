"""Scores RL checkpoints: the environments and the returns stay here, the agent's network runs elsewhere.

Protocol (MLGym's): 5 checkpoints x 5 environment seeds (0-4) x 256 parallel environments,
actions sampled from the policy, returns summed until an episode ends or the frame cap is
reached; prints ``{"Reward Mean": ..., "Reward Std": ...}`` over the 6,400 returns.

The agent's code (``src/networks.py``, and the pickled checkpoints, which are code too) is
loaded only in a worker started by ``mlgym_worker`` (a nested sandbox that sees the agent's
files and the Python install, never this process or the grader's folder). The worker receives
observations and answers with actions over a private pipe; this process steps the gymnax
environments, checks the actions and sums the rewards. Nothing the worker prints reaches our
standard output.
"""

from __future__ import annotations

import glob
import importlib
import importlib.util
import json
import math
import sys
import types
from pathlib import Path
from typing import Any

NUM_CHECKPOINTS = 5
NUM_SEEDS = 5
NUM_ENVS = 256
READY_TIMEOUT = 600.0  # imports, jit of the network, loading the checkpoints
STEP_TIMEOUT = 120.0

WORKER = r"""
import importlib, importlib.util, os, pickle, sys, types
def defer_import(name):
    # a stand-in that imports the real module on first attribute use (gymnax imports seaborn and
    # matplotlib, for rendering only, at import time: seconds per start)
    if name in sys.modules or importlib.util.find_spec(name.partition(".")[0]) is None:
        return

    class Deferred(types.ModuleType):
        def __getattr__(self, attr):
            if sys.modules.get(name) is self:
                del sys.modules[name]
            return getattr(importlib.import_module(name), attr)

    sys.modules[name] = Deferred(name)

defer_import("seaborn")
defer_import("matplotlib.pyplot")
folder, config_path, env_name = sys.argv[1:4]
checkpoints = sys.argv[4:]
sys.path.insert(0, folder)
import mlgym_worker

class Config(dict):
    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None
    def __setattr__(self, name, value):
        self[name] = value

def to_config(obj):
    if isinstance(obj, dict):
        return Config({k: to_config(v) for k, v in obj.items()})
    if isinstance(obj, list):
        return [to_config(v) for v in obj]
    return obj

try:
    import yaml
    import numpy as np
    import jax
    with open(config_path, encoding="utf-8") as f:
        config = to_config(yaml.safe_load(f))
    if not isinstance(config, dict) or not isinstance(config.get("train_config"), dict):
        raise ValueError(f"{os.path.basename(config_path)} has no 'train_config' mapping")
    train_config = config["train_config"]
    train_config["env_name"] = env_name
    from src.networks import get_model_ready
    model, _ = get_model_ready(jax.random.PRNGKey(0), train_config)
    params = []
    for p in checkpoints:
        with open(p, "rb") as f:
            ckpt = pickle.load(f)
        if not isinstance(ckpt, dict) or "network" not in ckpt:
            raise ValueError(f"{os.path.relpath(p, folder)} holds no 'network' entry")
        params.append(ckpt["network"])
    act = jax.jit(lambda p, o, k: model.apply(p, o, rng=k)[1].sample(seed=k))
except BaseException as exc:
    mlgym_worker.send_error(f"cannot build the policy: {type(exc).__name__}: {exc}")
    raise SystemExit(1)
channel.send({"ready": True})
rng = jax.random.PRNGKey(0)

def act_all(header, payload):
    global rng
    obs = np.frombuffer(payload, dtype=header["wire"]).reshape(header["shape"]).astype(header["dtype"])
    try:
        actions = []
        for p in params:
            rng, key = jax.random.split(rng)
            actions.append(np.asarray(act(p, obs[len(actions)], key)))
        out = np.ascontiguousarray(np.stack(actions))
    except BaseException as exc:
        raise RuntimeError(f"the policy raised {type(exc).__name__}: {exc}") from None
    return {"dtype": out.dtype.str, "shape": list(out.shape)}, out.tobytes()

mlgym_worker.serve(act_all)
"""


def defer_import(name: str) -> None:
    """A stand-in for module ``name`` that imports the real one on first attribute use (gymnax
    imports seaborn and matplotlib, for rendering only, at import time: seconds per start)."""
    if name in sys.modules or importlib.util.find_spec(name.partition(".")[0]) is None:
        return

    class Deferred(types.ModuleType):
        def __getattr__(self, attr: str) -> Any:
            if sys.modules.get(name) is self:
                del sys.modules[name]
            return getattr(importlib.import_module(name), attr)

    sys.modules[name] = Deferred(name)


class GradingError(Exception):
    pass


class Worker:
    """The agent's policy in a ``mlgym_worker`` worker, spoken to through private pipes."""

    def __init__(self, folder: Path, config: Path, env_name: str, checkpoints: list[Path]) -> None:
        try:
            import mlgym_worker  # laid next to the evaluator by mlgym (grader folder and workspace)
        except ImportError:  # run from elsewhere (the pack's own tests): core's copy
            from mlgym_core import worker_lib

            mlgym_worker = worker_lib()
        self.error = mlgym_worker.WorkerError
        self.w = mlgym_worker.spawn(WORKER, [str(folder), str(config), env_name, *map(str, checkpoints)],
                                    code=str(folder), gpus=True,
                                    env={"XLA_PYTHON_CLIENT_PREALLOCATE": "false"})  # no up-front grab of a GPU

    def wait_ready(self) -> None:
        try:
            header, _ = self.w.recv(timeout=READY_TIMEOUT)
        except self.error as exc:
            raise GradingError(str(exc)) from None
        if header.get("ready") is not True:
            raise GradingError("the policy worker did not start properly" + self.w.log_tail())

    def act(self, obs: Any) -> Any:
        import numpy as np

        wire = obs
        if obs.dtype != np.uint8 and np.array_equal(obs, obs.astype(bool)):
            wire = obs.astype(np.uint8)  # binary observations (MinAtar): 4x less to send
        try:
            header, payload = self.w.request({"dtype": obs.dtype.str, "wire": wire.dtype.str, "shape": list(obs.shape)},
                                             np.ascontiguousarray(wire).tobytes(), timeout=STEP_TIMEOUT)
        except self.error as exc:
            raise GradingError(str(exc)) from None
        try:
            return np.frombuffer(payload, dtype=np.dtype(header["dtype"])).reshape(header["shape"])
        except (KeyError, TypeError, ValueError) as exc:
            raise GradingError(f"the policy worker answered a malformed action array: {exc}") from None

    def close(self) -> None:
        self.w.close()


def fail(message: str) -> None:
    """Report a failed evaluation on stderr and exit 1. Messages may quote the agent's code, so every
    line after the first is indented: no line of the report can be read as a metrics line."""
    first, *rest = message.splitlines() or [""]
    print("Evaluation failed: " + first + "".join(f"\n  | {ln}" for ln in rest), file=sys.stderr)
    raise SystemExit(1)


def find_checkpoints(folder: Path, config_fname: str) -> tuple[Path, list[Path]]:
    config = folder / config_fname
    if Path(config_fname).name != config_fname or not config.is_file():
        raise GradingError(f"config file '{config_fname}' not found at the workspace root")
    stem = config.stem
    ckpts = sorted(Path(p) for p in glob.glob(str(folder / "checkpoints" / f"{glob.escape(stem)}*.pkl")))
    if len(ckpts) != NUM_CHECKPOINTS:
        raise GradingError(f"expected exactly {NUM_CHECKPOINTS} checkpoints matching checkpoints/{stem}*.pkl, "
                           f"found {len(ckpts)}")
    return config, ckpts


def check_actions(actions: Any, space: Any, expected_lead: tuple[int, ...]) -> Any:
    import numpy as np

    if hasattr(space, "n"):
        shape = expected_lead
        if actions.shape != shape:
            raise GradingError(f"actions have shape {actions.shape}, expected {shape}")
        if not np.issubdtype(actions.dtype, np.integer):
            raise GradingError(f"discrete actions must be integers, got {actions.dtype}")
        if actions.size and (actions.min() < 0 or actions.max() >= int(space.n)):
            raise GradingError(f"discrete actions must lie in [0, {int(space.n) - 1}]")
        return actions.astype(np.int32)
    shape = expected_lead + tuple(space.shape)
    if actions.shape != shape:
        raise GradingError(f"actions have shape {actions.shape}, expected {shape}")
    if not np.issubdtype(actions.dtype, np.floating) or not np.all(np.isfinite(actions)):
        raise GradingError("continuous actions must be finite floating-point numbers")
    return actions.astype(np.float32)


def rollout_returns(worker: Worker, env_name: str, max_frames: int, n_models: int = NUM_CHECKPOINTS,
                    n_seeds: int = NUM_SEEDS, n_envs: int = NUM_ENVS) -> Any:
    """Returns of shape (models, seeds, envs); environment seeds 0..n_seeds-1, the same for every model."""
    defer_import("seaborn")
    defer_import("matplotlib.pyplot")
    import gymnax
    import jax
    import jax.numpy as jnp
    import numpy as np

    jax.config.update("jax_platforms", "cpu")  # the environments are cheap; a GPU is left to the policy
    env, env_params = gymnax.make(env_name)
    space = env.action_space(env_params)
    per_model = n_seeds * n_envs
    total = n_models * per_model
    reset_keys, step_keys = [], []
    for seed in range(n_seeds):
        k_reset, k_step = jax.random.split(jax.random.PRNGKey(seed))
        reset_keys.append(jax.random.split(k_reset, n_envs))
        step_keys.append(jax.random.split(k_step, n_envs))
    reset_keys = jnp.tile(jnp.concatenate(reset_keys), (n_models, 1))
    step_keys = jnp.tile(jnp.concatenate(step_keys), (n_models, 1))

    def strong(tree):  # drop weak types (some environments' steps make a field weak), so step() compiles once
        return jax.tree.map(lambda x: jnp.asarray(x, dtype=jnp.asarray(x).dtype), tree)

    @jax.jit
    def reset():
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(reset_keys, env_params)
        return obs, strong(state)

    @jax.jit
    def step(state, action, t):
        keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(step_keys, t)
        obs, state, reward, terminated, truncated, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            keys, state, action, env_params)
        return obs, strong(state), reward, jnp.logical_or(terminated, truncated)

    obs, state = reset()
    returns = np.zeros(total, dtype=np.float64)
    alive = np.ones(total, dtype=bool)
    for t in range(max_frames):
        o = np.asarray(obs)
        actions = worker.act(o.reshape((n_models, per_model) + o.shape[1:]))
        actions = check_actions(actions, space, (n_models, per_model))
        actions = actions.reshape((total,) + actions.shape[2:])
        obs, state, reward, done = step(state, jnp.asarray(actions), t)
        returns += np.where(alive, np.asarray(reward, dtype=np.float64), 0.0)
        alive &= ~np.asarray(done)
        if not alive.any():
            break
    return returns.reshape(n_models, n_seeds, n_envs)


def evaluate(env_name: str, max_frames: int, argv: list[str] | None = None) -> None:
    """Command-line entry of the task evaluators: print the metrics JSON, or fail on stderr."""
    import argparse

    parser = argparse.ArgumentParser(description=f"Evaluate 5 checkpoints on {env_name}")
    parser.add_argument("--config_fname", default="config.yaml",
                        help="configuration at the workspace root (default: config.yaml)")
    args = parser.parse_args(argv)
    folder = Path.cwd()
    # nothing of the workspace is imported here (its src/ is for the worker only)
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != folder.resolve()]
    worker = None
    try:
        config, ckpts = find_checkpoints(folder, args.config_fname)
        worker = Worker(folder, config, env_name, ckpts)
        worker.wait_ready()
        returns = rollout_returns(worker, env_name, max_frames)
    except GradingError as exc:
        fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - whatever it is, report it without a parsable line
        fail(f"{type(exc).__name__}: {exc}")
    finally:
        if worker is not None:
            worker.close()
    mean, std = float(returns.mean()), float(returns.std())
    if not (math.isfinite(mean) and math.isfinite(std)):
        fail("the returns are not finite")
    print(json.dumps({"Reward Mean": mean, "Reward Std": std}))
