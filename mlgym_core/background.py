"""The two background threads of environments, off reset's hot path: one that tears episodes down
in order (stops sandboxes and services, removes episode folders) and a pool that prestarts the
next episode's sandbox."""

from __future__ import annotations

import atexit
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .grading import _rmtree
from .services import close_all

_CLEANER: queue.Queue[Callable[[], None]] | None = None
_PRESTARTER: ThreadPoolExecutor | None = None
_LOCK = threading.Lock()


def cleaner() -> queue.Queue[Callable[[], None]]:
    """The queue of the one background thread that runs teardown jobs in order."""
    global _CLEANER
    with _LOCK:
        if _CLEANER is None:
            q: queue.Queue[Callable[[], None]] = queue.Queue()

            def loop() -> None:
                while True:
                    job = q.get()
                    try:
                        job()
                    except Exception:
                        pass
                    finally:
                        q.task_done()

            threading.Thread(target=loop, name="mlgym-teardown", daemon=True).start()
            _CLEANER = q
        return _CLEANER


def prestarter() -> ThreadPoolExecutor:
    """The pool that starts next episodes' sandboxes ahead of ``reset()``."""
    global _PRESTARTER
    with _LOCK:
        if _PRESTARTER is None:
            _PRESTARTER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mlgym-prestart")
        return _PRESTARTER


def drain_cleaner() -> None:
    """Wait until every queued teardown has run (at exit; tests that look for leftovers)."""
    if _CLEANER is not None:
        _CLEANER.join()


atexit.register(drain_cleaner)


def teardown(sandbox: Any, services: list[Any], folder: Path | None, *, keep: bool, background: bool) -> None:
    """Stop a sandbox and its services, and delete the episode folder (unless ``keep``).
    ``background``: the slow part (waiting for processes, removing files) runs in the cleaner thread."""
    if sandbox is None and not services and folder is None:
        return

    def work() -> None:
        close_all((sandbox, *services))
        if folder is not None and not keep:
            _rmtree(folder)

    if background:
        cleaner().put(work)
    else:
        work()
