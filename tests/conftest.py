"""Core test fixtures. Installed plugins never leak into core-only tests (``core_only``)."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

from mlgym_core.plugins import reset_plugin_manager

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def core_only(monkeypatch):
    """Only core's built-in plugins, with a fresh manager, for this test."""
    monkeypatch.setenv("MLGYM_LOAD_PLUGINS", "")
    monkeypatch.setenv("MLGYM_STRICT_PLUGINS", "1")
    from mlgym_core import plugins

    saved = plugins._manager
    reset_plugin_manager()
    yield
    reset_plugin_manager(saved)


@pytest.fixture
def fresh_plugins():
    """A freshly loaded manager with every installed plugin, restored after the test."""
    from mlgym_core import plugins

    saved = plugins._manager
    reset_plugin_manager()
    yield
    reset_plugin_manager(saved)


needs_games = pytest.mark.skipif(importlib.util.find_spec("mlgym_tasks_games") is None,
                                 reason="mlgym-tasks-games is not installed")
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


@pytest.fixture
def tmp_runs(tmp_path):
    d = tmp_path / "runs"
    d.mkdir()
    return d


def pytest_configure(config):
    os.environ.setdefault("MLGYM_HOME", str(Path(os.environ.get("TMPDIR", "/tmp")) / "mlgym-test-home"))
