"""N episodes of one task as a ``gymnasium.vector.VectorEnv`` (text actions, text observations).

Each episode is an ordinary :class:`~mlgym_core.env.MLGymEnv` with its own sandbox, workspace and
shell (the same isolation as one episode). A step that only runs a command in a local sandbox's shell
is written to that shell at once, and one thread waits on every such shell with ``poll`` and finishes
each step as its end marker arrives (``step()``: the calling thread; ``send()``: a driver thread of the
vector env); anything slower (a timeout, a shell to restart, a grader to run, an exit action, an
autoreset, a runtime whose sandbox does not offer its shell this way) runs in a pool thread, as
``MLGymEnv.step`` does. So:

- ``step(actions)`` takes as long as the slowest command, not the sum;
- ``send(actions, env_ids)`` / ``recv(min_ready)`` (envpool's asynchronous interface) return the
  episodes that are done first: a ``sleep 3`` in one episode does not hold back an ``echo`` in another.

Autoreset follows gymnasium's default (``AutoresetMode.NEXT_STEP``): the step after an episode ends
resets that episode, ignores its action and returns the new task description. Infos are batched as
gymnasium does (``info[key]`` an array over episodes, ``info["_" + key]`` a mask of who has it).
"""

from __future__ import annotations

import heapq
import itertools
import os
import select
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .env import MLGymEnv
from .errors import MlgymError
from .shell import PersistentShell, ShellDied, ShellResult

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
        self._driver: _Driver | None = None

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
        self._send(actions, drive_here=True)  # every episode is in this step: no other one is in flight
        obs, rewards, terms, truncs, infos, _ids = self.recv(self.num_envs)
        return obs, rewards, terms, truncs, infos

    def close_extras(self, **kwargs: Any) -> None:
        if self._driver is not None:
            self._driver.stop()
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
        self._send(actions, env_ids)

    def _send(self, actions: Sequence[str], env_ids: Sequence[int] | None = None, drive_here: bool = False) -> None:
        ids = list(range(self.num_envs)) if env_ids is None else [int(i) for i in env_ids]
        if len(ids) != len(actions):
            raise MlgymError(f"send() got {len(actions)} actions for {len(ids)} episodes")
        busy = [i for i in ids if i in self._pending]
        if busy or not all(0 <= i < self.num_envs for i in ids):
            raise MlgymError(f"send(): episodes {busy or ids} are busy or out of range 0..{self.num_envs - 1}")
        started: list[_Running] = []
        for i, action in zip(ids, actions):
            running = self._start(i, action)
            if running is None:
                self._pending[i] = f = self._pool.submit(self._one, i, action)
            else:
                self._pending[i] = f = running.future
                started.append(running)
            f.add_done_callback(lambda _f, i=i: self._finish(i))
        if started and drive_here:
            _Driver(self._pool).drive(started)
        elif started:
            if self._driver is None:
                self._driver = _Driver(self._pool, background=True)
            self._driver.add(started)

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

    def _start(self, i: int, action: str) -> _Running | None:
        """Write ``action`` to episode ``i``'s shell if that is all its step does (see
        ``MLGymEnv._shell_step``) and its sandbox lets the shell be driven from outside; None: the
        step runs whole in a thread (``_one``)."""
        env = self.envs[i]
        sandbox = env.sandbox
        finish = getattr(sandbox, "finish_run", None)
        shell = getattr(sandbox, "shell", None)
        if self._autoreset[i] or finish is None or not isinstance(shell, PersistentShell) or not shell.alive():
            return None
        planned = env._shell_step(action)
        if planned is None:
            return None
        command, timeout, t0 = planned
        running = _Running(self, i, action, shell, finish, timeout, t0)
        try:
            early = shell.send(command)
        except (ShellDied, OSError) as exc:
            running.done(lambda exc=exc: env._shell_failed(exc, t0))
            return running
        if early is not None:
            running.done(lambda: env._shell_result(finish(early), t0))
        return running

    def _one(self, i: int, action: str) -> Result:
        env = self.envs[i]
        if self._autoreset[i]:
            obs, info = env.reset()
            self._autoreset[i] = False
            return obs, 0.0, False, False, info
        return self._result(i, env.step(action))

    def _result(self, i: int, out: tuple[str, Any, Any, Any, dict[str, Any]]) -> Result:
        obs, reward, term, trunc, info = out
        self._autoreset[i] = term or trunc
        return obs, float(reward), bool(term), bool(trunc), info


class _Running:
    """A step whose command :meth:`MLGymVectorEnv._start` wrote to a shell: what the driver needs
    to finish it, and the future ``recv`` waits on."""

    __slots__ = ("vec", "i", "action", "shell", "finish", "timeout", "t0", "deadline", "future", "fd")

    def __init__(self, vec: MLGymVectorEnv, i: int, action: str, shell: PersistentShell,
                 finish: Callable[[ShellResult], ShellResult], timeout: float, t0: float) -> None:
        self.vec, self.i, self.action, self.shell, self.finish = vec, i, action, shell, finish
        self.timeout, self.t0 = timeout, t0
        self.deadline = time.monotonic() + timeout
        self.future: Future[Result] = Future()
        self.fd = -1

    def done(self, rest: Callable[[], tuple[str, Any, Any, Any, dict[str, Any]]]) -> None:
        """Finish the step with ``rest()`` (the episode's part after its shell), logged as ``step`` logs it."""
        try:
            out = self.vec.envs[self.i]._logged(self.action, rest())
            self.future.set_result(self.vec._result(self.i, out))
        except BaseException as exc:  # what the episode's step would have raised
            self.future.set_exception(exc)

    def answered(self, res: ShellResult) -> None:
        env = self.vec.envs[self.i]
        self.done(lambda: env._shell_result(self.finish(res), self.t0))

    def slow(self) -> None:
        """In a pool thread: the shell's own ending of the command (timeout, exit, the grader)."""
        self.answered(self.shell.result(self.timeout, wait=max(self.deadline - time.monotonic(), 0.0)))


class _Driver:
    """Waits on the shells of running steps (``poll``) and finishes each step when its end marker
    arrives; a step past its timeout, a shell that exited and a step that goes on to the grader move to
    ``pool``, where the shell's own code handles them as ``run`` does.

    ``step()`` drives its own steps in the calling thread (:meth:`drive`: nothing else is in flight);
    ``send()`` hands them to a driver with a thread of its own (:meth:`add`), for ``recv`` to collect."""

    def __init__(self, pool: ThreadPoolExecutor, background: bool = False) -> None:
        self._pool = pool
        self._poller = select.poll()
        self._running: dict[int, _Running] = {}
        self._deadlines: list[tuple[float, int, _Running]] = []
        self._order = itertools.count()
        self._wake_r = -1
        self._stopping = False
        if background:
            self._wake_r, self._wake_w = os.pipe()
            os.set_blocking(self._wake_r, False)
            self._poller.register(self._wake_r, select.POLLIN)
            self._inbox: list[_Running] = []
            self._lock = threading.Lock()
            self._thread = threading.Thread(target=self._loop, args=(lambda: self._stopping,),
                                            name="mlgym-vector-driver", daemon=True)
            self._thread.start()

    def drive(self, steps: list[_Running]) -> None:
        """Run ``steps`` to their end here (slow endings go on in the pool)."""
        self._register(steps)
        self._loop(lambda: not self._running)

    def add(self, steps: list[_Running]) -> None:
        with self._lock:
            self._inbox.extend(steps)
        os.write(self._wake_w, b"x")

    def stop(self) -> None:
        if self._wake_r < 0:
            return
        self._stopping = True
        os.write(self._wake_w, b"x")
        self._thread.join()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _register(self, steps: list[_Running]) -> None:
        for r in steps:
            if r.future.done():  # finished at once (the shell was gone)
                continue
            r.fd = r.shell.fileno()
            self._running[r.fd] = r
            self._poller.register(r.fd, select.POLLIN)
            heapq.heappush(self._deadlines, (r.deadline, next(self._order), r))

    def _hand_over(self, r: _Running) -> None:
        del self._running[r.fd]
        self._poller.unregister(r.fd)
        self._pool.submit(r.slow)

    def _loop(self, finished: Callable[[], bool]) -> None:
        running, deadlines = self._running, self._deadlines
        poll, unregister = self._poller.poll, self._poller.unregister
        while not finished():
            wait = None
            while deadlines and deadlines[0][2].future.done():
                heapq.heappop(deadlines)
            if deadlines:
                wait = max(deadlines[0][0] - time.monotonic(), 0.0) * 1000
            for fd, _ev in poll(wait):
                r = running.get(fd)
                if r is None:
                    if fd == self._wake_r:
                        self._take_inbox()
                    continue
                try:
                    res = r.shell.ready()
                except (ShellDied, OSError):
                    self._hand_over(r)
                    continue
                if res is None:
                    continue
                del running[fd]
                unregister(fd)
                if r.vec.envs[r.i]._needs_grader(res):
                    self._pool.submit(r.answered, res)
                else:
                    r.answered(res)
            now = time.monotonic()
            while deadlines and deadlines[0][0] <= now:
                r = heapq.heappop(deadlines)[2]
                if running.get(r.fd) is r:
                    self._hand_over(r)

    def _take_inbox(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        with self._lock:
            steps, self._inbox = self._inbox, []
        self._register(steps)


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
