"""The bench ledger (DIR/ledger.json): every planned episode and its state; and the lock that guards it.

States: ``pending``, ``running``, ``done`` (ended with an exit status of the episode, whatever it
was) and ``failed`` with a ``cause``; ``infra: true`` marks failures of the infrastructure
(sandbox died, executor lost, bench stopped), which a resume retries. Only the bench driver
writes the ledger, atomically (temporary file + rename).
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
from pathlib import Path
from typing import Any

from ..errors import ConfigError, MlgymError

SCHEMA = "mlgym-bench-ledger/1"
STATES = ("pending", "running", "done", "failed")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class BenchLocked(MlgymError):
    """Another bench process holds the lock of this output folder."""


class BenchLock:
    """An exclusive ``flock`` on DIR/bench.lock; the kernel drops it when the holder dies (even SIGKILL)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "bench.lock"
        self.fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise BenchLocked(f"{self.path}: another mlgym bench (pid {holder}) is writing this ledger") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> BenchLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


class Ledger:
    """DIR/ledger.json in memory; ``save()`` writes it atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "ledger.json"
        self.data: dict[str, Any] = {"schema": SCHEMA, "created": _now(), "config": {}, "episodes": {}}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise ConfigError(f"{self.path}: not valid JSON ({exc}); move it away to start afresh") from None
            if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(
                    data.get("episodes"), dict):
                raise ConfigError(f"{self.path}: not an mlgym bench ledger (schema {SCHEMA})")
            for eid, e in data["episodes"].items():  # checked before the driver acts on (or deletes) anything
                state = e.get("state") if isinstance(e, dict) else e
                if not isinstance(e, dict) or state not in STATES:
                    raise ConfigError(f"{self.path}: episode {eid!r} has state {state!r}, not one of "
                                      f"{', '.join(STATES)}; nothing was changed: fix that entry, or delete it "
                                      "to run the episode again")
            self.data = data

    @property
    def exists(self) -> bool:
        return self.path.exists()

    @property
    def episodes(self) -> dict[str, dict[str, Any]]:
        return self.data["episodes"]

    def get(self, eid: str) -> dict[str, Any] | None:
        return self.episodes.get(eid)

    def add(self, eid: str, **fields: Any) -> dict[str, Any]:
        entry = {"state": "pending", "cause": None, "infra": False, "attempts": 0, "exit_status": None,
                 "spent": 0.0, "updated": _now(), **fields}
        self.episodes[eid] = entry
        return entry

    def update(self, eid: str, **fields: Any) -> dict[str, Any]:
        if "state" in fields and fields["state"] not in STATES:
            raise ValueError(f"unknown state {fields['state']!r}")
        entry = self.episodes[eid]
        entry.update(fields, updated=_now())
        return entry

    def counts(self, ids: list[str] | None = None) -> dict[str, int]:
        c = dict.fromkeys(STATES, 0)
        for eid, e in self.episodes.items():
            if ids is None or eid in ids:
                c[e["state"]] += 1
        return c

    def total_spent(self) -> float:
        return float(sum(float(e.get("spent") or 0.0) for e in self.episodes.values()))

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".ledger.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.data, f, indent=1, sort_keys=False)
        os.replace(tmp, self.path)  # atomic: a reader or a resumed bench sees the old or the new ledger
