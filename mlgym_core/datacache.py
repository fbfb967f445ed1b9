"""The one data-preparation service every task pack uses.

A task's data is prepared once per *key* (a path under :func:`~mlgym_core.data_home`, e.g.
``tasks_cv/cifar10/smoke-v1``) into a folder with two parts:

* ``agent/``: bound read-only at ``workspace/data`` in the agent's sandbox;
* ``grader/``: bound at ``workspace/data`` only in the grading sandbox (labels, answers, secret instances).

:func:`prepare` builds a key under an exclusive lock (``fcntl.flock`` on ``.<name>.lock`` next to it), in a
private staging folder in the same parent, and publishes it with one ``rename`` once the builder has returned
and the marker ``.complete`` is written: concurrent episodes (bench workers, parallel tests) never see a half
built folder, the builder runs once, and a builder that fails or is killed leaves nothing that looks complete.

Raw data comes from a local copy ``$MLGYM_DATA_DIR/<dataset id>/`` (:func:`local_dir`) or from the Hugging Face
hub (:func:`from_hub`). A hub that is switched off (``HF_HUB_OFFLINE=1``) or does not answer fails at once with
:class:`DataUnavailableError`, one line saying what to set, instead of the hub client's minute of retries;
:func:`check_available` does the same check cheaply before a run starts.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import secrets
import shutil
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from .errors import MlgymError
from .task import data_home

if TYPE_CHECKING:
    from .specs import TaskSpec

AGENT = "agent"
"""The sub-folder the agent sees (read-only, at ``workspace/data``)."""
GRADER = "grader"
"""The sub-folder only the grading sandbox sees (at ``workspace/data``)."""
MARKER = ".complete"
"""Written last into a staged folder: a published folder without it is not trusted."""
HUB_PROBE_S = 1.5
"""How long the hub may take to answer before it counts as unreachable."""

T = TypeVar("T")


class DataUnavailableError(MlgymError):
    """The data of a task can be found neither locally nor on the hub (or is not what it should be)."""


# -- the cache ---------------------------------------------------------------------------------------------
def complete(folder: Path) -> bool:
    """Whether ``folder`` is a published, complete preparation."""
    return (folder / MARKER).is_file()


def prepare(key: str, build: Callable[[Path], None], *, force: bool = False) -> Path:
    """``data_home()/key``, built by ``build(staging)`` unless already complete; returns the folder.

    ``build`` receives a fresh staging folder holding empty ``agent/`` and ``grader/`` sub-folders and fills
    it; it may raise (nothing is published then, and the next call builds again). With ``force`` the key is
    rebuilt and the new folder replaces the old one atomically.
    """
    final = data_home() / key
    if complete(final) and not force:
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with _locked(final.parent / f".{final.name}.lock"):
        if complete(final) and not force:  # built by another process while we waited
            return final
        for stale in final.parent.glob(f".{final.name}.*.staging"):  # left by a killed builder
            shutil.rmtree(stale, ignore_errors=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".staging", dir=final.parent))
        try:
            stage.chmod(0o755)  # mkdtemp's 0700 would hide the data from the sandbox's user
            (stage / AGENT).mkdir()
            (stage / GRADER).mkdir()
            build(stage)
            _readable(stage / AGENT, stage / GRADER)
            stamp = {"key": key, "built": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
            (stage / MARKER).write_text(json.dumps(stamp) + "\n")
            _publish(stage, final)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    return final


def _publish(stage: Path, final: Path) -> None:
    """Rename ``stage`` to ``final``; an old folder there (forced rebuild, a stale format) is moved aside first."""
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".staging", dir=final.parent))
        os.replace(final, old)  # ``old`` is empty, so this replaces it
        os.rename(stage, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(stage, final)


def _readable(*folders: Path) -> None:
    """Make everything under ``folders`` readable by all: the sandboxes' users are not this process's user, and
    a restrictive umask must not hide the data from them (best effort: a hard-linked file of another owner
    stays as it is)."""
    for folder in folders:
        for root, dirs, names in os.walk(folder):
            for name, bits in [(d, 0o555) for d in dirs] + [(n, 0o444) for n in names]:
                path = os.path.join(root, name)
                try:
                    mode = os.lstat(path).st_mode
                    if not stat.S_ISLNK(mode) and mode & bits != bits:
                        os.chmod(path, stat.S_IMODE(mode) | bits)
                except OSError:
                    pass
        os.chmod(folder, 0o755)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel if this process dies
        yield
    finally:
        os.close(fd)


def write_secret(path: Path, nbytes: int = 32) -> bytes:
    """Write ``nbytes`` fresh random bytes (hex) to ``path``, mode 0600, and return them.

    Call it inside a :func:`prepare` builder, outside ``agent/`` and ``grader/``, so the secret is published
    atomically with what is derived from it and lives only under ``MLGYM_HOME``, never in a package."""
    value = secrets.token_bytes(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value.hex() + "\n")
    return value


def read_secret(path: Path) -> bytes:
    return bytes.fromhex(path.read_text().strip())


# -- where raw data comes from -----------------------------------------------------------------------------
@dataclass(frozen=True)
class DataSource:
    """Where the raw data of one dataset can come from, for :func:`check_available` and error messages.

    ``dataset``: the folder name under ``MLGYM_DATA_DIR``; ``layout``: what that folder must hold, in words;
    ``files``: paths it must hold to count (none: any folder counts); ``hub``: the Hugging Face hub id the data
    can be fetched from (None: local only), a ``hub_kind`` repository ("dataset" or "model"); ``hub_files``:
    files of that repository whose presence in the hub client's cache makes an offline run possible;
    ``hint``: an alternative for the message."""

    dataset: str
    layout: str
    files: tuple[str, ...] = ()
    hub: str | None = None
    hub_kind: str = "dataset"
    hub_files: tuple[str, ...] = ()
    hint: str = ""


def local_dir(source: DataSource | str) -> Path | None:
    """``$MLGYM_DATA_DIR/<dataset>/`` when it exists (and holds ``source.files``), else None."""
    root = os.environ.get("MLGYM_DATA_DIR")
    dataset = source if isinstance(source, str) else source.dataset
    if not root or not (Path(root) / dataset).is_dir():
        return None
    folder = Path(root) / dataset
    if isinstance(source, DataSource) and not all((folder / f).exists() for f in source.files):
        return None
    return folder


def where(source: DataSource | str) -> str:
    """``$MLGYM_DATA_DIR/<dataset>/`` in words, with the real path when the variable is set."""
    dataset = source if isinstance(source, str) else source.dataset
    root = os.environ.get("MLGYM_DATA_DIR")
    return f"$MLGYM_DATA_DIR/{dataset}/" + (f" (= {Path(root) / dataset})" if root else " (MLGYM_DATA_DIR is not set)")


def unavailable(source: DataSource, why: str) -> DataUnavailableError:
    """The one-line error for ``source``: ``why`` it is unavailable, and what to set."""
    fix = f"set MLGYM_DATA_DIR=/path so that /path/{source.dataset}/ holds {source.layout}"
    if source.hub:
        fix += f", or give this machine network access to the Hugging Face hub (it holds '{source.hub}')"
    if source.hint:
        fix += f", or {source.hint}"
    return DataUnavailableError(f"dataset '{source.dataset}': {' '.join(why.split())}; {fix}")


OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


def _offline_var() -> str | None:
    """The offline variable that is set (``HF_HUB_OFFLINE=1``), else None."""
    for var in OFFLINE_VARS:
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"{var}={os.environ[var]}"
    return None


_probes: dict[str, tuple[float, str | None]] = {}


def hub_problem(source: DataSource | None = None) -> str | None:
    """None when the Hugging Face hub may be used now (for ``source``'s repository), else why not (a phrase).

    ``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE`` switch it off; otherwise one request to ``HF_ENDPOINT``
    (default https://huggingface.co), to the repository's API page when ``source`` is given, must be answered
    within :data:`HUB_PROBE_S` seconds (name resolution included), and for a repository not with "not found"
    or a server error. The answer is remembered for a minute."""
    offline = _offline_var()
    if offline:
        return f"the Hugging Face hub is switched off ({offline})"
    endpoint = (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
    url = f"{endpoint}/api/{source.hub_kind}s/{source.hub}" if source is not None and source.hub else endpoint
    hit = _probes.get(url)
    if hit is not None and time.monotonic() - hit[0] < 60:
        return hit[1]
    import urllib.error
    import urllib.request

    result: list[str | None] = []

    def probe() -> None:
        try:
            urllib.request.urlopen(url, timeout=HUB_PROBE_S).close()
            result.append(None)
        except urllib.error.HTTPError as exc:  # it answered; 401/403: gated, a token may open it
            bad = url != endpoint and (exc.code == 404 or exc.code >= 500)
            result.append(f"the Hugging Face hub answers HTTP {exc.code} for {url}" if bad else None)
        except Exception as exc:
            reason = getattr(exc, "reason", exc)
            result.append(f"the Hugging Face hub does not answer at {endpoint} ({type(reason).__name__}: {reason})")

    t = threading.Thread(target=probe, name="mlgym-hub-probe", daemon=True)
    t.start()
    t.join(HUB_PROBE_S)
    problem = result[0] if result else f"the Hugging Face hub does not answer at {endpoint} within {HUB_PROBE_S} s"
    _probes[url] = (time.monotonic(), problem)
    return problem


def _hub_cached(source: DataSource) -> bool:
    """Whether all ``source.hub_files`` are in the hub client's local cache (usable offline)."""
    if not source.hub or not source.hub_files:
        return False
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return all(isinstance(try_to_load_from_cache(source.hub, f, repo_type=source.hub_kind), str)
               for f in source.hub_files)


@contextmanager
def _clients_offline() -> Iterator[None]:
    """The hub clients read HF_HUB_OFFLINE once, at import: a client imported before the variable was
    set would still go to the network (and retry for tens of seconds). Tell the imported ones again."""
    saved = []
    for mod_name, attrs in (("huggingface_hub.constants", ("HF_HUB_OFFLINE",)),
                            ("datasets.config", ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))):
        mod = sys.modules.get(mod_name)
        for attr in attrs:
            if mod is not None and hasattr(mod, attr):
                saved.append((mod, attr, getattr(mod, attr)))
                setattr(mod, attr, True)
    try:
        yield
    finally:
        for mod, attr, value in saved:
            setattr(mod, attr, value)


def from_hub(source: DataSource, fetch: Callable[[], T]) -> T:
    """``fetch()`` (a hub client call), unless the hub is unusable: then DataUnavailableError at once.

    Offline mode still calls ``fetch`` (the hub clients answer from their own cache, or fail at once); an
    unreachable hub is never called, so its retries cannot take a minute. Any failure of ``fetch`` becomes a
    one-line DataUnavailableError."""
    assert source.hub, f"dataset '{source.dataset}' has no hub id"
    problem = hub_problem(source)
    if problem is not None and not _offline_var():
        raise unavailable(source, f"no local copy at {where(source)} and {problem}")
    try:
        if _offline_var():
            with _clients_offline():
                return fetch()
        return fetch()
    except Exception as exc:  # ImportError, offline cache miss, HTTP and repository errors alike
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        failed = f"loading '{source.hub}' from the Hugging Face hub failed ({type(exc).__name__}: {first})"
        raise unavailable(source, f"no local copy at {where(source)} and "
                                  f"{problem + ', and its cache could not serve it' if problem else failed}") from None


def require(source: DataSource) -> Path | None:
    """The local copy of ``source``, else None when the hub is usable; else DataUnavailableError.

    Cheap: nothing is downloaded (at most one short request to the hub)."""
    local = local_dir(source)
    if local is not None:
        return local
    folder = local_dir(source.dataset)
    missing = [f for f in source.files if folder is not None and not (folder / f).exists()]
    why = f"{folder} lacks {', '.join(missing)}" if missing else f"no local copy at {where(source)}"
    if not source.hub:
        raise unavailable(source, why)
    problem = hub_problem(source)
    if problem is not None and not _hub_cached(source):
        raise unavailable(source, f"{why} and {problem}")
    return None


def check_available(spec: TaskSpec, scale: str = "default") -> None:
    """Raise DataUnavailableError, before any run directory exists, when the task cannot get its data.

    Asks the task's ``data_sources()`` (a list of :class:`DataSource`, empty when its data is prepared already or
    synthetic) and checks each with :func:`require`; tasks without that method need nothing."""
    from .task import make_task

    task = make_task(spec, scale)
    try:
        sources = getattr(task, "data_sources", None)
        for source in (sources() if sources is not None else ()):
            require(source)
    finally:
        task.close()
