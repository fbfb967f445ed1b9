"""Executors of a bench: ``local`` (a process pool on this machine) and ``ray`` (a Ray cluster).

Both take jobs with ``submit`` and hand back finished ones with ``wait``, as (handle, result)
pairs; a result is what :func:`worker.run_job` returns, or ``{"error": ..., "infra": True}``
when the executor lost the job (worker killed, node died).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as fwait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..errors import ConfigError
from .worker import init_worker, run_job


class LocalExecutor:
    """A pool of worker processes (forkserver: each starts from a clean, preloaded interpreter)."""

    name = "local"

    def __init__(self, workers: int, spend_handle: dict[str, Any] | None, total_limit: float | None) -> None:
        if workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {workers}")
        self.workers = workers
        self.spend_handle = spend_handle
        self.total_limit = total_limit
        self.ctx = mp.get_context("forkserver")
        self.ctx.set_forkserver_preload(["mlgym_core.bench.worker", "mlgym_core.run"])
        self.pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=self.ctx, initializer=init_worker,
                                   initargs=(os.getpid(),))

    @property
    def capacity(self) -> int:
        return self.workers

    def submit(self, job: dict[str, Any], cpus: float, gpus: int) -> Future:
        try:
            return self.pool.submit(run_job, job, self.spend_handle, self.total_limit)
        except BrokenProcessPool:
            self.pool = self._new_pool()
            return self.pool.submit(run_job, job, self.spend_handle, self.total_limit)

    def wait(self, handles: list[Future], timeout: float) -> list[tuple[Future, dict[str, Any]]]:
        done, _ = fwait(handles, timeout=timeout, return_when=FIRST_COMPLETED)
        out = []
        broken = False
        for f in done:
            try:
                out.append((f, f.result()))
            except BrokenProcessPool as exc:
                broken = True
                out.append((f, {"error": f"executor lost: a worker process died ({exc})", "infra": True}))
            except Exception as exc:
                out.append((f, {"error": f"executor lost: {type(exc).__name__}: {exc}", "infra": True}))
        if broken:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._new_pool()
        return out

    def close(self, cancel: bool = False) -> None:
        if cancel:
            for p in list(getattr(self.pool, "_processes", {}).values()):
                try:
                    p.terminate()
                except Exception:
                    pass
        self.pool.shutdown(wait=not cancel, cancel_futures=True)


def _ray_run(job: dict[str, Any], spend_handle: dict[str, Any] | None, total_limit: float | None) -> dict:
    import ray

    out = run_job(job, spend_handle, total_limit)
    # the Ray node too: several nodes may share a host name (containers, nodes started on one machine)
    out["host"] = f"{out.get('host')}/{ray.get_runtime_context().get_node_id()[:12]}"
    return out


class _SpendActor:
    def __init__(self, prior: float) -> None:
        self.prior = prior
        self.slots: dict[str, float] = {}

    def set(self, key: str, value: float) -> None:
        self.slots[key] = value

    def total(self) -> float:
        return self.prior + sum(self.slots.values())


class RayExecutor:
    """Each episode is a Ray task with the task's ``num_cpus`` and ``num_gpus``.

    Ray places it on a node with that many GPUs free (GPUs are counted per node, and the run gets
    the ids Ray assigned there); an episode asking for more GPUs than any node has is an error.

    Connects to ``address`` (or RAY_ADDRESS); without one it starts a local Ray for the bench
    (``num_cpus`` = the workers asked for) and stops it at the end.
    """

    name = "ray"

    def __init__(self, workers: int | None, address: str | None, prior_spend: float,
                 total_limit: float | None, gpus: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("--executor ray needs Ray: pip install 'mlgym-core[ray]'") from None
        self.ray = ray
        address = address or os.environ.get("RAY_ADDRESS")
        self.started = False
        if not ray.is_initialized():
            kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if address:
                ray.init(address=address, **kw)
            else:
                ray.init(num_cpus=workers or os.cpu_count() or 1, num_gpus=gpus or 0, **kw)
                self.started = True
        res = ray.cluster_resources()
        self.cluster_cpus = float(res.get("CPU", 1))
        self.cluster_gpus = int(res.get("GPU", 0))
        # an episode's GPUs come from one node: what each node has decides what can be placed
        self.node_gpus = sorted((int(n.get("Resources", {}).get("GPU", 0)) for n in ray.nodes() if n.get("Alive")),
                                reverse=True)
        self.workers = workers or int(self.cluster_cpus)
        self.total_limit = total_limit
        self.spend_handle: dict[str, Any] | None = None
        self.spend: Any = None
        if total_limit:
            from .spend import _ActorSpend

            actor = ray.remote(num_cpus=0)(_SpendActor).remote(prior_spend)
            self.spend_handle = {"kind": "actor", "actor": actor}
            self.spend = _ActorSpend(actor)
        self.remote = ray.remote(max_retries=0)(_ray_run)
        self._refs: dict[Any, Any] = {}

    @property
    def capacity(self) -> int:
        return self.workers

    def submit(self, job: dict[str, Any], cpus: float, gpus: int) -> Any:
        if gpus and not self.cluster_gpus:
            gpus = 0  # a CPU-only cluster: run on the CPU rather than wait for ever
        elif gpus > (self.node_gpus[0] if self.node_gpus else 0):
            raise ConfigError(f"an episode asks for {gpus} GPUs (--gpus-per-run or the task's resources.gpus) but "
                              f"no Ray node has that many (GPUs per node: {', '.join(map(str, self.node_gpus))}); "
                              "Ray would wait for ever")
        cpus = min(cpus, self.cluster_cpus)
        return self.remote.options(num_cpus=cpus, num_gpus=gpus).remote(job, self.spend_handle, self.total_limit)

    def wait(self, handles: list[Any], timeout: float) -> list[tuple[Any, dict[str, Any]]]:
        ready, _ = self.ray.wait(handles, num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            try:
                out.append((ref, self.ray.get(ref)))
            except Exception as exc:  # worker crashed, node died, task cancelled
                out.append((ref, {"error": f"executor lost: {type(exc).__name__}: {str(exc)[:300]}",
                                  "infra": True}))
        return out

    def close(self, cancel: bool = False) -> None:
        if self.started:
            self.ray.shutdown()
