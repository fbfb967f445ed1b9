"""What an attack must never read: canaries planted on the host, and a task's grader-only files.

Canaries are random tokens (:data:`~.attacks.CANARY_PREFIX` + 32 hex digits), one per place: the
audit's environment, a file in ``MLGYM_HOME`` and one in the audit's output folder. A task's
secrets are the SHA-256 digests of its hidden files and of the files only its grader sees (a
grader bind's file with the same path and content in the agent's data folder is public). An
observation that holds a token or a digest read a secret.
"""

from __future__ import annotations

import hashlib
import os
import secrets as _random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..task import Task, data_home
from .attacks import CANARY_PREFIX

CANARY_ENV = "MLGYM_AUDIT_CANARY"
MIN_BYTES = 16
"""Smaller files are not secrets: their digest could match any trivial file."""
MAX_BYTES = 256 << 20
MAX_FILES = 5000


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _files(root: Path) -> Iterator[tuple[str, Path]]:
    if root.is_file():
        yield root.name, root
        return
    n = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in sorted(names):
            p = Path(dirpath) / name
            if n >= MAX_FILES:
                return
            n += 1
            yield str(p.relative_to(root)), p


def _sized(p: Path) -> bool:
    try:
        return p.is_file() and MIN_BYTES <= p.stat().st_size <= MAX_BYTES
    except OSError:
        return False


def task_secrets(task: Task) -> dict[str, str]:
    """Digest -> what it is, for every file of ``task`` that only its grader may read."""
    spec = task.spec
    out: dict[str, str] = {}
    for rel in spec.hidden_files:
        for sub, p in _files(task.folder / rel):
            if _sized(p):
                out[_digest(p)] = f"hidden file {rel if sub == Path(rel).name else f'{rel}/{sub}'}"
    public = set(spec.starter_files)
    for rel in spec.grader_files:
        if rel not in public and not any(rel.startswith(f"{s}/") for s in public):
            for _sub, p in _files(task.folder / rel):
                if _sized(p):
                    out.setdefault(_digest(p), f"grader file {rel}")
    data = task.data_dir()
    for shown, host in task.grader_binds().items():
        if data is not None and Path(host) == Path(data):
            continue
        for rel, p in _files(Path(host)):
            if not _sized(p):
                continue
            d = _digest(p)
            seen = data / rel if data is not None else None
            if seen is not None and _sized(seen) and _digest(seen) == d:
                continue  # the agent has the same file at the same place: public
            out.setdefault(d, f"grader-only file {shown}/{rel}")
    return out


@contextmanager
def planted_canaries(output: Path) -> Iterator[dict[str, str]]:
    """Plant one canary per place for the block; yield token -> where it was planted."""
    tokens: dict[str, str] = {}
    saved = os.environ.get(CANARY_ENV)
    files: list[Path] = []

    def new(where: str) -> str:
        token = CANARY_PREFIX + _random.token_hex(16)
        tokens[token] = where
        return token

    os.environ[CANARY_ENV] = new(f"the audit's environment (${CANARY_ENV})")
    for folder, what in ((data_home(), "MLGYM_HOME"), (output, "the audit's output folder")):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"audit-canary-{os.getpid()}.txt"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(new(f"a file in {what} ({path})") + "\n")
            files.append(path)
        except OSError:
            pass
    try:
        yield tokens
    finally:
        if saved is None:
            os.environ.pop(CANARY_ENV, None)
        else:
            os.environ[CANARY_ENV] = saved
        for p in files:
            p.unlink(missing_ok=True)


def found(text: str, secrets: dict[str, str]) -> list[str]:
    """What of ``secrets`` (token or digest -> what) appears in ``text``."""
    return [what for token, what in secrets.items() if token in text]
