"""Grading outside the agent's shell: a fresh folder, the pristine evaluator, artifacts read-only.

The score comes only from the pristine evaluator: its exit status must be 0 and its metrics
are read from its standard output, which agent code never holds (code the grader runs on the
agent's behalf goes through ``mlgym_worker``: a nested sandbox with its own pipes). The
output is read with a cap; the host never buffers it whole.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path

from .collect import collect
from .errors import EvaluationFormatError, MlgymError
from .sandbox import GRADER_DIR, GradeConfig, GradeResult
from .task import WORKER_MODULE, Task, worker_lib, worker_module

log = logging.getLogger(__name__)
WORKER_ISOLATION_LINE = "mlgym-worker-isolation:"
"""What ``mlgym_worker.spawn`` writes on the evaluator's stderr: the isolation its worker got."""
OUTPUT_CAP = 1 << 20
"""Bytes of the evaluator's standard output kept (its end); the rest is read and dropped."""
STDERR_CAP = 64 << 10


class EvaluationTimeoutError(MlgymError):
    """The evaluator ran past the task's evaluation timeout."""


class EvaluationFailedError(EvaluationFormatError):
    """The evaluator exited with a non-zero status: no score."""


def grade(task: Task, runtime: object, workspace: Path, *, devices: tuple[str, ...] = (),
          hide: tuple[Path, ...] = (),
          freeze: Callable[[], AbstractContextManager[object]] | None = None) -> tuple[dict[str, float], str]:
    """Evaluate the artifacts in ``workspace``; return (metrics, artifact path).

    ``freeze``: a context manager factory that stops every agent process while the artifacts
    are collected (the sandbox's ``frozen``). Raises SubmissionNotFoundError,
    EvaluationFormatError (EvaluationFailedError, ArtifactTooLargeError) or EvaluationTimeoutError.
    """
    root = Path(tempfile.mkdtemp(prefix="mlgym-grade-"))
    try:
        folder = root / "workspace"
        folder.mkdir()
        grader = root / "grader"
        grader.mkdir()
        with freeze() if freeze is not None else contextlib.nullcontext():
            collect(workspace, folder, task.spec.artifacts)
        path = task.check_artifacts(folder)
        task.layout_grader(grader)
        (grader / WORKER_MODULE).write_bytes(worker_module())
        res = runtime.grade(GradeConfig(  # type: ignore[attr-defined]
            folder=folder, command=task.evaluate_command(), timeout=task.eval_timeout(),
            ro_binds={GRADER_DIR: grader, **task.grader_binds()}, devices=devices, pids=task.spec.resources.pids,
            memory_gb=task.spec.resources.memory_gb, hide=hide))
    finally:
        _rmtree(root)
    if res.timed_out:
        raise EvaluationTimeoutError(f"evaluation took longer than {task.eval_timeout():g} s")
    if res.returncode != 0:
        tail = res.stderr.strip()[-3000:] or res.output.strip()[-3000:]
        raise EvaluationFailedError(f"Failed to decode metrics from evaluation script: it exited with status "
                                    f"{res.returncode}, so there is no score. Output:\n---\n{tail}\n---")
    weak = sorted({ln.split(":", 1)[1].strip() for ln in res.stderr.splitlines()
                   if ln.startswith(WORKER_ISOLATION_LINE)} - {"bwrap"})
    if weak:
        log.warning("task %s: the grader ran the agent's code with worker isolation '%s' (no nested sandbox: "
                    "the code may read the grader's files)", task.spec.id, ",".join(weak))
    return task.parse_metrics(res.output), path


def run_capped(argv: list[str], *, env: dict[str, str], cwd: str | None, timeout: float,
               out_cap: int = OUTPUT_CAP, err_cap: int = STDERR_CAP) -> GradeResult:
    """Run an evaluator command (in its own session) and read its output with caps: the last
    ``out_cap`` bytes of stdout and ``err_cap`` of stderr are kept, the rest is drained."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=cwd, start_new_session=True)
    tail = worker_lib().Tail
    out, err = tail(proc.stdout, out_cap), tail(proc.stderr, err_cap)
    try:
        proc.wait(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # what is left of the session (e.g. an escaped worker)
    proc.wait()
    text = out.finish().decode("utf-8", "backslashreplace")
    if out.dropped:
        text = f"[mlgym: the first {out.dropped} bytes of the evaluator's output were dropped]\n" + text
    return GradeResult(text, proc.returncode, timed_out, time.monotonic() - t0,
                       stderr=err.finish().decode("utf-8", "backslashreplace"), dropped=out.dropped)


def keep_tail(chunks: Iterable[bytes], cap: int) -> tuple[bytes, int]:
    """The last ``cap`` bytes of a stream of chunks, and how many bytes before them were dropped."""
    buf, dropped = bytearray(), 0
    for chunk in chunks:
        buf += chunk
        if len(buf) > 2 * cap:
            dropped += len(buf) - cap
            del buf[:len(buf) - cap]
    if len(buf) > cap:
        dropped += len(buf) - cap
        del buf[:len(buf) - cap]
    return bytes(buf), dropped


def _rmtree(p: Path) -> None:
    def onerror(func, path, _exc):  # type: ignore[no-untyped-def]
        try:
            os.chmod(os.path.dirname(path), 0o700)
            os.chmod(path, 0o700)
            func(path)
        except OSError:
            pass

    shutil.rmtree(p, onerror=onerror)
