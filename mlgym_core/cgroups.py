"""One episode's cgroups: the resource envelope (pids, memory, CPU) and a freezer for collection.

cgroup v1 (one hierarchy per controller under /sys/fs/cgroup/<controller>) and v2 (one
unified hierarchy with ``cgroup.controllers``) are both handled. Groups are made below this
process's own cgroup, so whatever limits already hold mlgym hold its sandboxes too. A group's
name carries its owner's pid and start time (``mlgym-<pid>-<start>-<id>``): :func:`reap` (``mlgym
gc``) removes the groups of owners that are gone. Where a controller cannot be written (an
ordinary user, a container without cgroup access), :attr:`EpisodeCgroup.missing` says so.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
import uuid
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("pids", "memory", "cpu", "freezer")
PREFIX = "mlgym-"


def proc_start(pid: int) -> str:
    """The start time of a process (clock ticks since boot): tells a reused pid from its owner."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            s = f.read()
        return s[s.rfind(b")") + 2:].split()[19].decode()
    except (OSError, IndexError):
        return ""


def owner_tag() -> str:
    """``<pid>-<start>`` of this process: what names its leftovers."""
    return f"{os.getpid()}-{proc_start(os.getpid())}"


def owner_gone(tag: str) -> bool:
    """Whether the process an owner tag names has exited (its pid is gone or now someone else's)."""
    pid, _, start = tag.partition("-")
    return not pid.isdigit() or proc_start(int(pid)) != start


def _own_paths() -> dict[str, str]:
    """controller (``""`` for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    out = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        _, ctrls, path = line.split(":", 2)
        for c in ctrls.split(","):
            out[c] = path
    return out


def _v2() -> bool:
    return (ROOT / "cgroup.controllers").exists()


def _write(p: Path, value: str) -> bool:
    try:
        p.write_text(value)
        return True
    except OSError:
        return False


class EpisodeCgroup:
    """The cgroups of one sandbox (or grader) run. ``wrap`` an argv so it starts inside them."""

    def __init__(self, *, pids: int | None = None, memory_gb: float | None = None, cpus: float | None = None,
                 freezer: bool = True) -> None:
        self.dirs: list[Path] = []
        self.applied: dict[str, str] = {}
        self.missing: dict[str, str] = {}
        self._freeze_file: Path | None = None
        self._v2 = _v2()
        self.name = f"{PREFIX}{owner_tag()}-{uuid.uuid4().hex[:8]}"
        own = _own_paths()
        if self._v2:
            self._make_v2(own.get("", "/"), pids, memory_gb, cpus, freezer)
        else:
            self._make_v1(own, pids, memory_gb, cpus, freezer)

    # -- creation ------------------------------------------------------------------------
    def _group(self, base: Path) -> Path | None:
        d = base / self.name
        try:
            d.mkdir()
        except OSError:
            return None
        self.dirs.append(d)
        return d

    def _make_v1(self, own: dict[str, str], pids: int | None, memory_gb: float | None, cpus: float | None,
                 freezer: bool) -> None:
        wanted = {"pids": pids if pids and pids > 0 else None,
                  "memory": int(memory_gb * 2 ** 30) if memory_gb else None,
                  "cpu": float(cpus) if cpus else None, "freezer": True if freezer else None}
        for ctrl, value in wanted.items():
            if value is None:
                continue
            base = _v1_base(ctrl, own)
            d = self._group(base) if base is not None else None
            if d is None:
                self.missing[ctrl] = f"no writable cgroup v1 {ctrl} controller"
                continue
            if ctrl == "pids" and _write(d / "pids.max", str(value)):
                self.applied["pids"] = f"cgroup pids.max={value}"
            elif ctrl == "memory" and _write(d / "memory.limit_in_bytes", str(value)):
                _write(d / "memory.memsw.limit_in_bytes", str(value))  # no escape into swap, where accounted
                self.applied["memory"] = f"cgroup memory.limit_in_bytes={value}"
            elif ctrl == "cpu" and _write(d / "cpu.cfs_period_us", "100000") \
                    and _write(d / "cpu.cfs_quota_us", str(int(value * 100000))):
                self.applied["cpu"] = f"cgroup cpu.cfs_quota_us={int(value * 100000)}/100000"
            elif ctrl == "freezer" and (d / "freezer.state").exists():
                self._freeze_file = d / "freezer.state"
                self.applied["freezer"] = "cgroup freezer"
            else:
                self.missing[ctrl] = f"cgroup v1 {ctrl} limit could not be written"

    def _make_v2(self, own: str, pids: int | None, memory_gb: float | None, cpus: float | None,
                 freezer: bool) -> None:
        parent = ROOT / own.lstrip("/")
        d = self._group(parent)
        if d is None:
            for k, v in (("pids", pids), ("memory", memory_gb), ("cpu", cpus), ("freezer", freezer)):
                if v:
                    self.missing[k] = f"cannot make a cgroup v2 group under {parent}"
            return
        enabled = set((d / "cgroup.controllers").read_text().split()) if (d / "cgroup.controllers").exists() else set()
        limits = {"pids": ("pids.max", str(pids)) if pids and pids > 0 else None,
                  "memory": ("memory.max", str(int(memory_gb * 2 ** 30))) if memory_gb else None,
                  "cpu": ("cpu.max", f"{int(float(cpus) * 100000)} 100000") if cpus else None}
        for ctrl, lim in limits.items():
            if lim is None:
                continue
            if ctrl not in enabled:
                _write(parent / "cgroup.subtree_control", f"+{ctrl}")
            if _write(d / lim[0], lim[1]):
                if ctrl == "memory":
                    _write(d / "memory.swap.max", "0")
                self.applied[ctrl] = f"cgroup {lim[0]}={lim[1]}"
            else:
                self.missing[ctrl] = f"cgroup v2 {ctrl} controller not delegated to {parent}"
        if freezer:
            if (d / "cgroup.freeze").exists():
                self._freeze_file = d / "cgroup.freeze"
                self.applied["freezer"] = "cgroup.freeze"
            else:
                self.missing["freezer"] = "no cgroup.freeze (kernel < 5.2)"

    # -- use -----------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return bool(self.dirs)

    def wrap(self, argv: list[str]) -> list[str]:
        """Join the groups before exec-ing ``argv``, so every descendant is counted (a tiny sh,
        which lets Python spawn with vfork instead of a slow fork with preexec_fn)."""
        if not self.dirs:
            return argv
        procs = " ".join(str(d / "cgroup.procs") for d in self.dirs)
        return ["/bin/sh", "-c", 'for f in $0; do echo $$ > "$f" || exit 125; done; exec "$@"', procs, *argv]

    def pids(self) -> list[int]:
        for d in self.dirs:
            try:
                return [int(p) for p in (d / "cgroup.procs").read_text().split()]
            except (OSError, ValueError):
                continue
        return []

    def freeze(self) -> bool:
        """Freeze every process of the group; False when no freezer is writable here."""
        f = self._freeze_file
        if f is None:
            return False
        frozen_word = "1" if f.name == "cgroup.freeze" else "FROZEN"
        if not _write(f, frozen_word):
            return False
        for _ in range(500):  # v1 passes through FREEZING; v2 reports in cgroup.events
            state = (f.parent / "cgroup.events").read_text() if f.name == "cgroup.freeze" else f.read_text()
            if "FROZEN" in state or "frozen 1" in state:
                return True
            time.sleep(0.002)
        return True

    def thaw(self) -> None:
        if self._freeze_file is not None:
            _write(self._freeze_file, "0" if self._freeze_file.name == "cgroup.freeze" else "THAWED")

    def close(self) -> None:
        """Kill what is left in the groups and remove them."""
        self.thaw()
        for d in self.dirs:
            _remove(d)
        self.dirs = []


def _v1_base(ctrl: str, own: dict[str, str]) -> Path | None:
    base = ROOT / ctrl
    if not base.is_dir():
        return None
    path = base / own.get(ctrl, "/").lstrip("/")
    return path if os.access(path, os.W_OK) else None


def _remove(d: Path) -> None:
    for _ in range(100):
        try:
            d.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            try:
                for pid in (d / "cgroup.procs").read_text().split():
                    os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError):
                pass
            fz = d / "freezer.state"
            if fz.exists():
                _write(fz, "THAWED")
            time.sleep(0.02)


def reap(all_owners: bool = False) -> list[str]:
    """Remove mlgym cgroups whose owner process is gone (all of them with ``all_owners``)."""
    bases = [ROOT] if _v2() else [ROOT / c for c in V1_CONTROLLERS]
    removed = []
    for base in bases:
        if not base.is_dir():
            continue
        for d in _find_groups(base, depth=4):
            tag = d.name[len(PREFIX):].rsplit("-", 1)[0]
            if not re.fullmatch(r"\d+-\d+", tag):  # no owner recorded (an older mlgym): only if empty
                with contextlib.suppress(OSError):
                    d.rmdir()
                    removed.append(str(d))
            elif all_owners or owner_gone(tag):
                _remove(d)
                if not d.exists():
                    removed.append(str(d))
    return removed


def _find_groups(base: Path, depth: int) -> list[Path]:
    found: list[Path] = []
    try:
        entries = [e for e in os.scandir(base) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return found
    for e in entries:
        if e.name.startswith(PREFIX):
            found.append(Path(e.path))
        elif depth > 1:
            found += _find_groups(Path(e.path), depth - 1)
    return found
