"""What runs one episode of a bench, in a worker process (pool or Ray): returns the run directory's files.

The worker writes the episode into a private temporary folder and sends every file back; the
driver writes them into the bench folder, so a worker's disk never holds the only copy.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from ..exits import EARLY_EXIT, INTERRUPTED
from ..records import UNKNOWN_ERROR, RunRecord

INFRA_STATUSES = (EARLY_EXIT, INTERRUPTED)
INFRA_ERRORS = ("SandboxError", "ShellDied", "OSError", "ConnectionError", "TimeoutError", "BrokenPipeError",
                "DockerException", "APIError")


def infra_status(record: RunRecord) -> bool:
    """Whether an episode's record says the infrastructure failed (not the agent): the sandbox failed,
    the episode was interrupted, or the run crashed with an error of the infrastructure."""
    if record.exit_status in INFRA_STATUSES:
        return True
    return record.exit_status == UNKNOWN_ERROR and (record.error or "").split(":", 1)[0] in INFRA_ERRORS


def init_worker(driver_pid: int | None = None) -> None:
    """Pool initializer: die with the driver, leave Ctrl-C to the driver, load plugins once.

    A forkserver worker's parent is the forkserver, not the driver, so PDEATHSIG alone does not
    fire when the driver is SIGKILLed: the worker also watches the driver's pidfd and exits when
    it goes. Once every worker is gone the forkserver sees EOF on its alive pipe and exits too.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if driver_pid is not None:
        _watch_driver(driver_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from ..plugins import plugin_manager

    plugin_manager()


def _watch_driver(pid: int) -> None:
    """Exit this process (and kill its process group's episode) when process ``pid`` ends."""
    import select
    import threading

    try:
        fd = os.pidfd_open(pid)
    except (OSError, AttributeError):  # driver already gone, or no pidfd (Linux < 5.3)
        fd = None
        if not _alive(pid):
            os._exit(1)

    def watch() -> None:
        if fd is not None:
            p = select.poll()
            p.register(fd, select.POLLIN)
            p.poll()
        else:
            while _alive(pid):
                time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="mlgym-driver-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _files(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file()}


def run_job(job: dict[str, Any], spend_handle: dict[str, Any] | None = None,
            total_limit: float | None = None) -> dict[str, Any]:
    """Run one planned episode; never raises for the episode's own failures."""
    from ..errors import MlgymError
    from ..run import RunSpec, run_episode
    from .spend import CostGuard, open_spend

    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="mlgym-bench-"))
    eid, key = job["id"], f"{job['id']}.{job.get('attempt', 1)}"
    spend = open_spend(spend_handle) if total_limit else None
    fields = dict(job["spec"])
    if job.get("gpus") and not fields.get("devices"):
        try:  # under Ray: the GPUs Ray assigned to this task
            import ray

            fields["devices"] = tuple(str(int(g)) for g in ray.get_gpu_ids())
        except Exception:
            pass
    out: dict[str, Any] = {"id": eid, "host": os.uname().nodename, "pid": os.getpid()}
    try:
        spec = RunSpec(**fields, output=str(tmp), run_name=eid)

        def on_step(episode: Any, _reward: float) -> None:
            if spend is not None:
                spend.set(key, float(episode.stats.get("total_cost") or 0.0))

        wrap = (lambda m: CostGuard(m, spend, key, float(total_limit))) if spend is not None else None
        record = run_episode(spec, on_step=on_step, wrap_model=wrap)
        out["record"] = record
        out["files"] = _files(Path(record["run_dir"]))
        out["infra"] = infra_status(RunRecord.parse(record, f"episode {eid}"))
    except KeyboardInterrupt:
        out.update(error="interrupted", infra=True)
    except MlgymError as exc:
        name = type(exc).__name__
        out.update(error=f"{name}: {exc}", infra=name in INFRA_ERRORS)
    except Exception as exc:
        out.update(error=f"{type(exc).__name__}: {exc}", infra=isinstance(exc, OSError))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["worker_s"] = time.perf_counter() - t0
    return out
