"""Scores RL checkpoints: the environments and the returns stay here, the agent's network runs elsewhere.

Protocol (MLGym's): 5 checkpoints x 5 environment seeds (0-4) x 256 parallel environments,
actions sampled from the policy, returns summed until an episode ends or the frame cap is
reached; prints ``{"Reward Mean": ..., "Reward Std": ...}`` over the 6,400 returns.

The agent's code (``src/networks.py``, and the pickled checkpoints, which are code too) is
loaded only in a worker process. The worker receives observations and answers with actions;
this process steps the gymnax environments, checks the actions and sums the rewards, and
forbids other processes to inspect it. Nothing the worker prints reaches our standard output.
"""

from __future__ import annotations

import ctypes
import glob
import importlib
import importlib.util
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import types
from pathlib import Path
from typing import Any, BinaryIO

NUM_CHECKPOINTS = 5
NUM_SEEDS = 5
NUM_ENVS = 256

WORKER = r"""
import importlib, importlib.util, json, os, pickle, struct, sys, types
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
proto_out = os.fdopen(os.dup(1), "wb")
proto_in = os.fdopen(os.dup(0), "rb")
devnull = os.open(os.devnull, os.O_RDONLY)
os.dup2(devnull, 0)
os.dup2(2, 1)  # the agent's prints go to stderr, never into the protocol
sys.stdout = sys.stderr
sys.path.insert(0, folder)

def send(header, payload=b""):
    h = json.dumps(header).encode()
    proto_out.write(struct.pack("<II", len(h), len(payload)) + h + payload)
    proto_out.flush()

def recv():
    n = proto_in.read(8)
    if len(n) < 8:
        raise SystemExit(0)
    hl, pl = struct.unpack("<II", n)
    return json.loads(proto_in.read(hl)), proto_in.read(pl)

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
    import traceback
    traceback.print_exc()
    send({"error": f"cannot build the policy: {type(exc).__name__}: {exc}"})
    raise SystemExit(1)
send({"ready": True})
rng = jax.random.PRNGKey(0)
while True:
    header, payload = recv()
    obs = np.frombuffer(payload, dtype=header["wire"]).reshape(header["shape"]).astype(header["dtype"])
    try:
        actions = []
        for i, p in enumerate(params):
            rng, key = jax.random.split(rng)
            actions.append(np.asarray(act(p, obs[i], key)))
        out = np.ascontiguousarray(np.stack(actions))
    except BaseException as exc:
        import traceback
        traceback.print_exc()
        send({"error": f"the policy raised {type(exc).__name__}: {exc}"})
        raise SystemExit(1)
    send({"dtype": out.dtype.str, "shape": list(out.shape)}, out.tobytes())
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


def _no_inspection() -> None:
    """Forbid other processes (the agent's worker) to ptrace us or read /proc/<pid>/mem and fds."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0
    except (OSError, AttributeError):
        pass


def _read_exact(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) < n:
        raise EOFError
    return data


class Worker:
    """The agent's policy in a separate process, spoken to through pipes."""

    def __init__(self, folder: Path, config: Path, env_name: str, checkpoints: list[Path]) -> None:
        self.log = tempfile.TemporaryFile()
        env = dict(os.environ, XLA_PYTHON_CLIENT_PREALLOCATE="false")  # no up-front grab of 75% of a GPU
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", WORKER, str(folder), str(config), env_name, *map(str, checkpoints)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, cwd=str(folder), close_fds=True,
            env=env)

    def _recv(self) -> tuple[dict[str, Any], bytes]:
        try:
            hl, pl = struct.unpack("<II", _read_exact(self.proc.stdout, 8))  # type: ignore[arg-type]
            header = json.loads(_read_exact(self.proc.stdout, hl))  # type: ignore[arg-type]
            payload = _read_exact(self.proc.stdout, pl)  # type: ignore[arg-type]
        except (EOFError, ValueError, struct.error):
            raise GradingError("the policy worker exited or answered garbage" + self.log_tail()) from None
        if not isinstance(header, dict):
            raise GradingError("the policy worker answered garbage" + self.log_tail())
        if "error" in header:
            raise GradingError(str(header["error"]) + self.log_tail())
        return header, payload

    def wait_ready(self) -> None:
        header, _ = self._recv()
        if header.get("ready") is not True:
            raise GradingError("the policy worker did not start properly" + self.log_tail())

    def act(self, obs: Any) -> Any:
        import numpy as np

        wire = obs
        if obs.dtype != np.uint8 and np.array_equal(obs, obs.astype(bool)):
            wire = obs.astype(np.uint8)  # binary observations (MinAtar): 4x less to send
        h = json.dumps({"dtype": obs.dtype.str, "wire": wire.dtype.str, "shape": list(obs.shape)}).encode()
        payload = np.ascontiguousarray(wire).tobytes()
        try:
            self.proc.stdin.write(struct.pack("<II", len(h), len(payload)) + h + payload)  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
        except (BrokenPipeError, OSError):
            raise GradingError("the policy worker exited" + self.log_tail()) from None
        header, payload = self._recv()
        try:
            return np.frombuffer(payload, dtype=np.dtype(header["dtype"])).reshape(header["shape"])
        except (KeyError, TypeError, ValueError) as exc:
            raise GradingError(f"the policy worker answered a malformed action array: {exc}") from None

    def log_tail(self, n: int = 3000) -> str:
        """The end of the worker's stderr, each line prefixed so that none parses as a metrics line."""
        try:
            self.log.seek(0, os.SEEK_END)
            size = self.log.tell()
            self.log.seek(max(0, size - n))
            text = self.log.read().decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [f"  worker| {ln}" for ln in text.splitlines()[-40:]]
        return ("\n--- policy worker output (end) ---\n" + "\n".join(lines)) if lines else ""

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.log.close()


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

    @jax.jit
    def reset():
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(reset_keys, env_params)
        # drop weak types, so that step() compiles once
        return obs, jax.tree.map(lambda x: jnp.asarray(x, dtype=jnp.asarray(x).dtype), state)

    @jax.jit
    def step(state, action, t):
        keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(step_keys, t)
        obs, state, reward, terminated, truncated, _ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            keys, state, action, env_params)
        return obs, state, reward, jnp.logical_or(terminated, truncated)

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
    _no_inspection()
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
