"""What a run killed with SIGKILL leaves behind (episode folders, tools folders, grading folders,
cgroups), found again and removed by ``mlgym gc`` once its owner is gone.

Each such folder holds a marker file naming its owner (pid and start time); a folder whose
owner has exited (or whose pid now belongs to another process) is removed. Only folders
under this machine's temporary folder and ``MLGYM_WORK_DIR`` are looked at.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from . import cgroups

MARKER = ".mlgym-owner"
PATTERNS = ("mlgym-work-*/*", "mlgym-tools-*", "mlgym-grade-*")


def mark_owner(folder: Path) -> None:
    """Record this process as the owner of ``folder`` (a no-op when already recorded)."""
    m = folder / MARKER
    if not m.exists():
        try:
            m.write_text(cgroups.owner_tag())
        except OSError:
            pass


def _owner(folder: Path) -> str | None:
    try:
        return (folder / MARKER).read_text().strip()
    except OSError:
        return None


def leftover_folders(all_owners: bool = False) -> list[Path]:
    """Marked folders whose owner is gone (every marked one with ``all_owners``)."""
    roots = [Path(tempfile.gettempdir())]
    work = os.environ.get("MLGYM_WORK_DIR")
    found = []
    for root in roots:
        for pattern in PATTERNS:
            for d in root.glob(pattern):
                tag = _owner(d)
                if tag is not None and (all_owners or cgroups.owner_gone(tag)):
                    found.append(d)
    if work:
        for d in Path(work).glob("*"):
            tag = _owner(d)
            if tag is not None and (all_owners or cgroups.owner_gone(tag)):
                found.append(d)
    return found


def reap_local(all_owners: bool = False) -> list[str]:
    """Remove the local runtime's leftovers of dead owners; return what was removed."""
    from .grading import _rmtree

    removed = []
    for d in leftover_folders(all_owners):
        _rmtree(d)
        if not d.exists():
            removed.append(str(d))
    return removed + cgroups.reap(all_owners)
