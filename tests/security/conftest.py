"""Fixtures of the attack suite: real sandboxes of the local runtime, as root or as an ordinary user.

Run it both ways: ``python -m pytest tests/security`` as root, and as an ordinary user, e.g.
``runuser -u mlgymtester -- env MLGYM_HOME=/tmp/x python -m pytest tests/security -p no:cacheprovider``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from mlgym_core.builtin_plugins.local_runtime import LocalRuntime
from mlgym_core.grading import _rmtree
from mlgym_core.sandbox import SandboxConfig

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (the never-host-root promise applies to root)")


@pytest.fixture
def start_sandbox():
    """Start real LocalSandboxes on fresh workspaces (in a folder any uid may traverse, as the
    episode folders are); all closed and removed after the test."""
    base = Path(tempfile.mkdtemp(prefix="mlgym-sec-"))
    base.chmod(0o755)
    started = []

    def start(**kw):
        ws = base / f"ep{len(started)}" / "workspace"
        ws.mkdir(parents=True)
        box = LocalRuntime(isolation="bwrap").start(SandboxConfig(workspace=ws, **kw))
        started.append(box)
        return box

    yield start
    for box in started:
        box.close()
    _rmtree(base)


def out(box, command: str, timeout: float = 20) -> str:
    return box.run(command, timeout).output
