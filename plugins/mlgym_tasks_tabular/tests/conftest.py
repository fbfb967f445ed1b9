"""Fixtures of the tabular pack's tests: the shared raw data, a private cache, this plugin only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlgym_core.testing import fresh_manager

REPO = Path(__file__).resolve().parents[3]


def shared_data() -> Path:
    """Raw data for the tests: MLGYM_DATA_DIR if set, else <repo>/../shared/data (never copied)."""
    d = Path(os.environ.get("MLGYM_DATA_DIR") or REPO.parent / "shared" / "data")
    if not (d / "kaggle_house_prices" / "train.csv").is_file() or not (d / "titanic").is_dir():
        pytest.fail(f"the tabular tests need the raw data at {d} (kaggle_house_prices/train.csv, titanic/); "
                    "set MLGYM_DATA_DIR", pytrace=False)
    return d


@pytest.fixture(scope="module")
def tabular_env(tmp_path_factory):
    """Environment variables for one test module: real data, a fresh cache, only this plugin loaded."""
    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("mlgym-home")
    home.chmod(0o755)
    values = {"MLGYM_DATA_DIR": str(shared_data()), "MLGYM_HOME": str(home),
              "MLGYM_LOAD_PLUGINS": "tasks_tabular", "MLGYM_NO_GYM_REGISTER": "1"}
    for k, v in values.items():
        mp.setenv(k, v)
    with fresh_manager():
        yield values
    mp.undo()
