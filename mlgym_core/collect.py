"""Race-free collection of the agent's artifacts for grading.

The agent's processes may still run while ``validate`` grades (background jobs), so the
workspace can change under us: a file swapped for a symlink to a host path between a check
and the copy. Collection therefore

- runs while the agent's processes are frozen, where the caller can freeze them;
- walks the workspace with directory file descriptors (:func:`os.fwalk`) and opens every
  file relative to its directory with ``O_NOFOLLOW|O_NONBLOCK``: no path component is ever
  resolved through a link, and a FIFO cannot block us;
- copies only regular files (``fstat`` of the opened descriptor), size-capped per file and in
  total by apparent size (``st_size``: a sparse file counts at its full size), refusing, never
  truncating, what is over a cap: nothing over the cap is written on the host.

The walk runs in the host process. Where mlgym runs as root that is as safe as copying with
the agent's uid: root's extra rights only matter for a file the agent could not reach, and
reaching one needs a link out of the workspace (never followed here), a hard link (impossible
across the sandbox's mounts) or a mount (the sandbox's mounts are not visible to the host).
"""

from __future__ import annotations

import fnmatch
import os
import stat
from pathlib import Path

from .errors import EvaluationFormatError

MAX_FILE_BYTES = 2 << 30
"""Default cap of one artifact file (apparent size)."""
MAX_TOTAL_BYTES = 4 << 30
"""Default cap of all artifact files together."""
_CHUNK = 1 << 20


class ArtifactTooLargeError(EvaluationFormatError):
    """An artifact, or all of them together, is over the collection cap."""


def _gb(n: int) -> str:
    return f"{n / (1 << 30):.2f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.1f} MiB"


def collect(workspace: Path, dest: Path, patterns: tuple[str, ...], *, max_file: int = MAX_FILE_BYTES,
            max_total: int = MAX_TOTAL_BYTES, skip_top: tuple[str, ...] = ("data",)) -> list[str]:
    """Copy the regular files of ``workspace`` whose relative path matches one of ``patterns``
    into ``dest`` (made read-only); return their relative paths.

    Links, FIFOs, devices and sockets are skipped; folders named in ``skip_top`` and hidden
    folders at the top are not entered. Raises ArtifactTooLargeError when a file or the total
    is over its cap (nothing of that file is written)."""
    if not patterns:
        return []
    top = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    copied: list[str] = []
    total = 0
    try:
        for root, dirs, files, dfd in os.fwalk(".", dir_fd=top, follow_symlinks=False):
            rel_root = os.path.normpath(root)
            if rel_root == ".":
                dirs[:] = [d for d in dirs if d not in skip_top and not d.startswith(".")]
            for name in sorted(files):
                rel = name if rel_root == "." else f"{rel_root}/{name}"
                if not any(fnmatch.fnmatch(rel, p) for p in patterns):
                    continue
                try:
                    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY, dir_fd=dfd)
                except OSError:  # a link (ELOOP), gone, unreadable
                    continue
                try:
                    st = os.fstat(fd)
                    if not stat.S_ISREG(st.st_mode):
                        continue
                    if st.st_size > max_file:
                        raise ArtifactTooLargeError(
                            f"artifact '{rel}' is {_gb(st.st_size)}, over the cap of {_gb(max_file)} per file; "
                            "it was not evaluated")
                    total += st.st_size
                    if total > max_total:
                        raise ArtifactTooLargeError(
                            f"the artifacts add up to more than {_gb(max_total)} (at '{rel}'); they were not "
                            "evaluated")
                    _copy_fd(fd, dest / rel, st.st_size)
                finally:
                    os.close(fd)
                copied.append(rel)
    finally:
        os.close(top)
    return copied


def _copy_fd(fd: int, dst: Path, size: int) -> None:
    """Copy at most ``size`` bytes (the size checked against the caps) from ``fd`` to ``dst``."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o444)
    try:
        left = size
        while left > 0:
            buf = os.read(fd, min(_CHUNK, left))
            if not buf:
                break
            left -= len(buf)
            view = memoryview(buf)
            while view:
                view = view[os.write(out, view):]
    finally:
        os.close(out)
