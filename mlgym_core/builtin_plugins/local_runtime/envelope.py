"""An episode's resource envelope on this machine (cgroups, file-size cap, seccomp) and the disk watch."""

from __future__ import annotations

import os
import stat
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from ...cgroups import EpisodeCgroup
from ...etc_files import private_dir
from ...limits import disk_cap_bytes, env_number, memory_limit_bytes
from ...processes import kill_descendants
from ...seccomp import program_file
from .bwrap import RUN_TMPFS_BYTES

if TYPE_CHECKING:
    from .sandbox import LocalSandbox

_WRAPPER = r"""for f in $0; do echo $$ > "$f" || exit 125; done
ulimit -f "$1" || exit 125
bpf=$2; shift 2
if [ -n "$bpf" ]; then
  fd=9; while [ -e /proc/self/fd/$fd ]; do fd=$((fd-1)); done
  eval "exec $fd<\"\$bpf\"" || exit 125
  b=$1; shift 3; set -- "$b" --seccomp "$fd" "$@"
fi
exec "$@"
"""
"""Run by /bin/sh before bwrap: $0 the cgroup.procs files to join, $1 the file-size limit in blocks of
512 bytes, $2 the seccomp filter to open on a free fd, whose number replaces the placeholder in
``bwrap --seccomp @SECCOMP_FD@ ...`` (the second and third words of the command, see :func:`bwrap_argv`)."""


class Envelope:
    """An episode's resource envelope: cgroups (pids, memory, CPU, freezer), tmpfs sizes and the
    file-size cap, with a record of what was applied and what this machine could not apply."""

    def __init__(self, *, pids: int, memory_gb: float | None, cpus: float | None, isolated: bool,
                 freezer: bool = True) -> None:
        self.memory = memory_limit_bytes(memory_gb)
        self.disk = disk_cap_bytes()
        self.cgroup = EpisodeCgroup(pids=pids, memory_gb=self.memory / 2 ** 30, cpus=cpus,
                                    freezer=freezer) if isolated else None
        self.applied: dict[str, str] = dict(self.cgroup.applied) if self.cgroup else {}
        self.missing: dict[str, str] = dict(self.cgroup.missing) if self.cgroup else {
            k: "no isolation (bwrap missing)" for k in ("pids", "memory", "cpu", "freezer", "tmpfs")}
        if isolated:
            self.applied["tmpfs"] = (f"/tmp, /home, /dev/shm {self.memory >> 20} MiB; /run {RUN_TMPFS_BYTES >> 20} "
                                     "MiB; /dev read-only")
        self.applied["file_size"] = f"RLIMIT_FSIZE {self.disk >> 20} MiB per file"
        if isolated:
            self.applied["seccomp"] = "fallocate keeping the file size and the kernel keyring calls refused"
        if isolated:
            self.applied["disk_total"] = (f"workspace usage checked every {DiskWatch.interval():g} s; over "
                                          f"{self.disk >> 20} MiB, the sandbox's commands are killed")
        else:
            self.missing["disk_total"] = "no isolation: the workspace's total size is not watched"

    def wrap(self, argv: list[str], seccomp: bool = False) -> list[str]:
        """Join the cgroups, set the file-size limit (soft and hard, so the sandbox cannot raise it)
        and, with ``seccomp``, open the filter of :mod:`mlgym_core.seccomp` on a free fd and name it in place of
        :data:`SECCOMP_FD`, before exec-ing ``argv`` (one tiny sh: Python still spawns it with vfork)."""
        procs = " ".join(str(d / "cgroup.procs") for d in (self.cgroup.dirs if self.cgroup else []))
        bpf = str(program_file(private_dir())) if seccomp else ""
        return ["/bin/sh", "-c", _WRAPPER, procs, str(self.disk // 512), bpf, *argv]

    def record(self) -> dict[str, dict[str, str]]:
        return {"applied": dict(self.applied), "not_applied": dict(self.missing)}

    def close(self) -> None:
        if self.cgroup is not None:
            self.cgroup.close()


class DiskWatch:
    """One thread that sums the size of every live sandbox's workspace
    every ``interval`` seconds; a workspace over its cap and still growing gets the processes its
    shell started killed (the shell lives on; a clean-up that shrinks it is left alone) and a note
    in the next observation. With the per-file limit and the
    seccomp filter, one episode's disk use is bounded by about the cap plus what it writes
    between two checks."""

    _boxes: weakref.WeakSet[LocalSandbox] = weakref.WeakSet()
    _thread: threading.Thread | None = None
    _pid = 0
    _lock = threading.Lock()

    @classmethod
    def add(cls, box: LocalSandbox) -> None:
        with cls._lock:
            cls._boxes.add(box)
            if cls._thread is None or cls._pid != os.getpid():  # threads do not survive a fork
                cls._thread = threading.Thread(target=cls._loop, name="mlgym-disk-watch", daemon=True)
                cls._thread.start()
                cls._pid = os.getpid()

    @staticmethod
    def interval() -> float:
        """Seconds between two checks: ``MLGYM_DISK_CHECK_S``, default 2."""
        return env_number("MLGYM_DISK_CHECK_S", 2.0, "seconds")

    @classmethod
    def _loop(cls) -> None:
        while True:
            try:
                time.sleep(cls.interval())
            except Exception:  # a bad MLGYM_DISK_CHECK_S: reported where the envelope is made
                time.sleep(2.0)
            for box in list(cls._boxes):
                try:
                    used = usage(box.workspace_host)
                    if used <= box.envelope.disk:
                        box.killed_at = 0
                    elif used > box.killed_at and box.shell.alive():  # still growing: not a clean-up
                        box.over_disk = box.killed_at = used
                        kill_descendants(box.shell.pid, exclude_shell=True)
                except Exception:  # a sandbox closing under us
                    continue


def usage(root: Path) -> int:
    """Bytes below ``root``: files at their apparent size (set at once by a write, unlike the
    allocated blocks, which delayed allocation keeps changing after a writer is gone; a sparse
    file counts in full), links not followed."""
    total = 0
    stack = [str(root)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for e in entries:
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                stack.append(e.path)
            total += st.st_size
    return total
