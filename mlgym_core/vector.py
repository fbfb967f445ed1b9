"""N episodes of one task as a ``gymnasium.vector.VectorEnv`` (text actions, text observations).

Each episode is an ordinary :class:`~mlgym_core.env.MLGymEnv` with its own sandbox, workspace and
shell (the same isolation as one episode). Each episode's step runs in its own thread (a step is a
wait on its shell's pipe), so:

- ``step(actions)`` takes as long as the slowest command, not the sum;
- ``send(actions, env_ids)`` / ``recv(min_ready)`` (envpool's asynchronous interface) return the
  episodes that are done first: a ``sleep 3`` in one episode does not hold back an ``echo`` in another.

Autoreset follows gymnasium's default (``AutoresetMode.NEXT_STEP``): the step after an episode ends
resets that episode, ignores its action and returns the new task description. Infos are batched as
gymnasium does (``info[key]`` an array over episodes, ``info["_" + key]`` a mask of who has it).
"""

from __future__ import annotations

from collections.abc import Sequence
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .env import MLGymEnv
from .errors import MlgymError

Result = tuple[str, float, bool, bool, dict[str, Any]]


class MLGymVectorEnv(VectorEnv):
    """``num_envs`` independent episodes of ``task``; ``env_kwargs`` go to each :class:`MLGymEnv`."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, task: Any, num_envs: int, **env_kwargs: Any) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise MlgymError(f"num_envs must be a positive integer, got {num_envs!r}")
        env_kwargs.setdefault("prestart", False)  # N live sandboxes already; no N spares
        self.envs: list[MLGymEnv] = []
        try:
            for _ in range(num_envs):
                self.envs.append(MLGymEnv(task, **env_kwargs))
        except BaseException:
            for e in self.envs:
                e.close()
            raise
        self.num_envs = num_envs
        self.single_action_space = self.envs[0].action_space
        self.single_observation_space = self.envs[0].observation_space
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self._pool = ThreadPoolExecutor(max_workers=num_envs, thread_name_prefix="mlgym-vector")
        self._pending: dict[int, Future[Result]] = {}
        self._finished: set[int] = set()
        """Ids of sent steps that are done and not yet received (each step's done callback adds its id)."""
        self._cond = threading.Condition()
        self._want = 0
        """How many finished steps the waiting recv() needs: only the step that reaches it wakes it."""
        self._autoreset = np.zeros(num_envs, dtype=np.bool_)

    # -- the gymnasium API ---------------------------------------------------------------------
    def reset(self, *, seed: int | Sequence[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[tuple[str, ...], dict[str, Any]]:
        """Reset every episode (in parallel); ``seed`` an int gives episode i the seed ``seed + i``."""
        if self._pending:
            raise MlgymError("reset() while steps are in flight: recv() them first")
        if seed is None or isinstance(seed, int):
            seeds = [None if seed is None else seed + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise MlgymError(f"reset(seed=...) got {len(seeds)} seeds for {self.num_envs} episodes")
        if seed is not None:
            self._np_random_seed = seeds[0]
        futures = [self._pool.submit(e.reset, seed=s, options=options) for e, s in zip(self.envs, seeds)]
        results = [f.result() for f in futures]
        self._autoreset[:] = False
        return tuple(r[0] for r in results), batch_infos([r[1] for r in results])

    def step(self, actions: Sequence[str]) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray,
                                                     dict[str, Any]]:
        """One action per episode, run concurrently; returns when every episode has answered."""
        if len(actions) != self.num_envs:
            raise MlgymError(f"step() got {len(actions)} actions for {self.num_envs} episodes")
        self.send(actions)
        obs, rewards, terms, truncs, infos, _ids = self.recv(self.num_envs)
        return obs, rewards, terms, truncs, infos

    def close_extras(self, **kwargs: Any) -> None:
        for f in self._pending.values():
            f.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pending.clear()
        with self._cond:
            self._finished.clear()
        closing = ThreadPoolExecutor(max_workers=min(32, self.num_envs))
        list(closing.map(lambda e: e.close(), self.envs))
        closing.shutdown()

    # -- asynchronous: whoever is done first ---------------------------------------------------
    def send(self, actions: Sequence[str], env_ids: Sequence[int] | None = None) -> None:
        """Start ``actions[k]`` in episode ``env_ids[k]`` (all episodes by default) and return at once."""
        ids = list(range(self.num_envs)) if env_ids is None else [int(i) for i in env_ids]
        if len(ids) != len(actions):
            raise MlgymError(f"send() got {len(actions)} actions for {len(ids)} episodes")
        busy = [i for i in ids if i in self._pending]
        if busy or not all(0 <= i < self.num_envs for i in ids):
            raise MlgymError(f"send(): episodes {busy or ids} are busy or out of range 0..{self.num_envs - 1}")
        for i, action in zip(ids, actions):
            self._pending[i] = f = self._pool.submit(self._one, i, action)
            f.add_done_callback(lambda _f, i=i: self._finish(i))

    def _finish(self, i: int) -> None:
        with self._cond:
            self._finished.add(i)
            if len(self._finished) >= self._want:
                self._cond.notify()

    def recv(self, min_ready: int = 1, timeout: float | None = None) -> tuple[
            tuple[str, ...], np.ndarray, np.ndarray, np.ndarray, dict[str, Any], np.ndarray]:
        """Wait until at least ``min_ready`` sent steps are done (or ``timeout``) and return every step
        done by then: observations, rewards, terminations, truncations, infos and the episodes' ids."""
        if not self._pending:
            raise MlgymError("recv() with nothing sent")
        min_ready = max(1, min(min_ready, len(self._pending)))
        with self._cond:  # on timeout: what is done by then (maybe nothing)
            self._want = min_ready
            self._cond.wait_for(lambda: len(self._finished) >= min_ready, timeout)
            self._want = 0
            done = sorted(i for i in self._finished if i in self._pending)
            self._finished.difference_update(done)
        results = [self._pending.pop(i).result() for i in done]
        return (tuple(r[0] for r in results), np.array([r[1] for r in results], dtype=np.float64),
                np.array([r[2] for r in results], dtype=np.bool_), np.array([r[3] for r in results], dtype=np.bool_),
                batch_infos([r[4] for r in results]), np.array(done, dtype=np.int64))

    def _one(self, i: int, action: str) -> Result:
        env = self.envs[i]
        if self._autoreset[i]:
            obs, info = env.reset()
            self._autoreset[i] = False
            return obs, 0.0, False, False, info
        obs, reward, term, trunc, info = env.step(action)
        self._autoreset[i] = term or trunc
        return obs, float(reward), bool(term), bool(trunc), info


def batch_infos(infos: list[dict[str, Any]]) -> dict[str, Any]:
    """Infos of several episodes as gymnasium batches them: ``out[key]`` an array over the episodes
    (numbers as numbers, anything else, None included, as objects; dicts recursively) and
    ``out["_" + key]`` a mask of the episodes whose info has ``key``."""
    n = len(infos)
    keys = list(dict.fromkeys(k for info in infos for k in info))
    out: dict[str, Any] = {}
    for key in keys:
        have = np.array([key in info for info in infos], dtype=np.bool_)
        values = [info.get(key) for info in infos]
        present = [v for v, h in zip(values, have) if h]
        if present and all(isinstance(v, dict) for v in present):
            out[key] = batch_infos([v if isinstance(v, dict) else {} for v in values])
        elif present and len({type(v) for v in present}) == 1 and type(present[0]) in (int, float, bool):
            arr = np.zeros(n, dtype=type(present[0]))
            arr[have] = present
            out[key] = arr
        else:
            arr = np.full(n, None, dtype=object)
            for j, v in enumerate(values):
                arr[j] = v
            out[key] = arr
        out["_" + key] = have
    return out
