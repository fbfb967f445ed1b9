"""Fixtures of the CV pack's tests: one private data cache per session (synthetic data prepared once)."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

TASK_IDS = ("imageClassificationCifar10", "imageClassificationCifar10L1", "imageClassificationFMnist",
            "imageCaptioningCOCO")
PKG = Path(__file__).resolve().parents[1] / "mlgym_tasks_cv"

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="torch is not installed (pip install torch==2.13.0)")
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


@pytest.fixture(scope="session")
def _cv_home_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cv-home")


@pytest.fixture(scope="module", autouse=True)
def cv_home(_cv_home_dir):
    """MLGYM_HOME for this pack's tests, one folder for the session so prepared smoke data is
    shared between them; set per module and restored after it, so nothing leaks into other
    packs' tests (they may need MLGYM_DATA_DIR)."""
    old = {k: os.environ.get(k) for k in ("MLGYM_HOME", "MLGYM_DATA_DIR")}
    os.environ["MLGYM_HOME"] = str(_cv_home_dir)
    os.environ.pop("MLGYM_DATA_DIR", None)
    yield _cv_home_dir
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def load_script(task: str, name: str):
    """Import a script of a task folder (evaluate.py, baseline.py) as a module."""
    path = PKG / "tasks" / task / name
    spec = importlib.util.spec_from_file_location(f"cv_{task}_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
