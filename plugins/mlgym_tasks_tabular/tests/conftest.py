"""Fixtures of the tabular pack's tests: a private cache, this plugin only, Kaggle's files when present.

Most tests use the ``smoke`` scale (seeded synthetic data with the real schema) and run anywhere; the tests
of the real data (``needs_real_data``) run when ``$MLGYM_DATA_DIR`` holds Kaggle's files, else they skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlgym_core.testing import fresh_manager

REAL_FILES = ("kaggle_house_prices/train.csv", "titanic/train.csv", "titanic/test.csv", "titanic/ground_truth.csv")


def real_data() -> Path | None:
    """``$MLGYM_DATA_DIR`` when it holds Kaggle's House Prices and Titanic files."""
    root = os.environ.get("MLGYM_DATA_DIR")
    return Path(root) if root and all((Path(root) / f).is_file() for f in REAL_FILES) else None


needs_real_data = pytest.mark.skipif(
    real_data() is None, reason="needs Kaggle's files in $MLGYM_DATA_DIR (kaggle_house_prices/train.csv, "
                                "titanic/{train,test,ground_truth}.csv)")


@pytest.fixture(scope="module")
def tabular_env(tmp_path_factory):
    """Environment variables for one test module: a fresh cache, only this plugin loaded, and
    MLGYM_DATA_DIR holding the real data (or empty when there is none)."""
    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("mlgym-home")
    home.chmod(0o755)
    data = real_data() or tmp_path_factory.mktemp("no-data")
    values = {"MLGYM_DATA_DIR": str(data), "MLGYM_HOME": str(home),
              "MLGYM_LOAD_PLUGINS": "tasks_tabular"}
    for k, v in values.items():
        mp.setenv(k, v)
    with fresh_manager():
        yield values
    mp.undo()
