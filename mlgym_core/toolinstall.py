"""The tools of an environment: chosen by group or name, installed once into a folder the sandbox
mounts read-only, sourced by the shell's first script, their environment variables set."""

from __future__ import annotations

import hashlib
import shutil
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .registry import collect, get_tool
from .sandbox import TOOLS_DIR, WORKSPACE
from .specs import ToolSpec


def select_tools(tools: Sequence[str] | None) -> list[ToolSpec]:
    """Tool specs by group or name; core's validate/submit are always included."""
    all_tools = collect("tools")
    wanted = set(tools or ())
    chosen = [t for t in all_tools if t.group == "core" or t.group in wanted or t.name in wanted
              or t.qualified in wanted]
    unknown = wanted - {t.group for t in all_tools} - {t.name for t in all_tools} - {t.qualified for t in all_tools}
    for name in sorted(unknown):
        get_tool(name)  # raises UnknownNameError with a suggestion
    return chosen


class ToolInstall:
    """One environment's tools: the folder they are installed in (made on first use, removed by
    :meth:`close`), the script that sources them, their variables and multi-line commands."""

    def __init__(self, specs: Sequence[ToolSpec]) -> None:
        self.specs = list(specs)
        self.end_names = {t.name: t.end_name for t in self.specs if t.end_name}
        """Multi-line commands (``edit``) -> their end line (``end_of_edit``)."""
        self._dir: Path | None = None

    @property
    def dir(self) -> Path:
        """The host folder holding the tool files (installed once per environment)."""
        if self._dir is None:
            digest = hashlib.sha1(",".join(sorted(t.qualified for t in self.specs)).encode()).hexdigest()[:10]
            d = Path(tempfile.mkdtemp(prefix=f"mlgym-tools-{digest}-"))
            for t in self.specs:
                for src in (t.source, *t.extra_files):
                    if src is not None:
                        _install(src, d)
            self._dir = d
        return self._dir

    @property
    def installed(self) -> bool:
        return self._dir is not None

    def fresh(self) -> ToolInstall:
        """The same tools, not installed yet (a forked environment installs and removes its own)."""
        return ToolInstall(self.specs)

    def init_script(self) -> str:
        """Bash the fresh shell runs: into the workspace, every ``*.sh`` tool file sourced."""
        lines = [f"cd {WORKSPACE} 2>/dev/null || true"]
        lines += [f"source {TOOLS_DIR}/{f.name}" for f in sorted(self.dir.iterdir()) if f.name.endswith(".sh")]
        return "\n".join(lines)

    def env(self) -> dict[str, str]:
        """The environment variables the chosen tools declare (``ToolSpec.env``)."""
        out: dict[str, str] = {}
        for t in self.specs:
            out.update(t.env)
        return out

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def _install(src: object, folder: Path) -> None:
    """Copy one tool file in: ``*.sh`` and ``_helpers`` keep their names, other files become
    executables named by their stem, as in MLGym."""
    name = Path(str(src)).name
    if not name.endswith(".sh") and not name.startswith("_"):
        name = Path(name).stem
    dst = folder / name
    if dst.exists():
        return
    dst.write_bytes(src.read_bytes())  # type: ignore[attr-defined]
    if not dst.name.endswith(".sh"):
        dst.chmod(dst.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
