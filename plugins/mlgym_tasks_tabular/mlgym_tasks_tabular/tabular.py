"""Task classes of the tabular pack: raw data in, agent data and grader answers out.

Raw files come from ``MLGYM_DATA_DIR/<dataset id>/`` (default ``<mlgym home>/data``); House
Prices falls back to the Hugging Face hub. ``prepare()`` writes two folders into the cache
(``data_home()/tasks_tabular/<dataset>/v<N>-<hash of the raw files>/``):

* ``public/``: bound read-only at ``workspace/data`` in the agent's sandbox (no labels of the
  scored split);
* ``grader/``: the answers, bound at ``workspace/data`` only in the grading sandbox.

pandas and scikit-learn are imported inside the functions that need them, so importing
this module (the plugin does, for the L1 baseline command) stays cheap.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path
from typing import Any

from mlgym_core import WORKSPACE, MlgymError, Task, TaskSpec, data_home

FORMAT_VERSION = 1
PLUGIN = "tasks_tabular"
HOUSE_PRICES = "kaggle_house_prices"
HOUSE_PRICES_HUB = "XuehangCang/House_Prices_Advanced_Regression_Techniques"
HOUSE_PRICES_ROWS = 1460
TITANIC = "titanic"


class DatasetUnavailableError(MlgymError):
    """The raw files of a dataset are neither on disk nor downloadable."""


def data_root() -> Path:
    """Where raw datasets live: ``MLGYM_DATA_DIR``, else ``<mlgym home>/data``."""
    return Path(os.environ.get("MLGYM_DATA_DIR") or data_home() / "data")


def _digest(paths: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def _publish(build: Path, final: Path) -> None:
    """Move a finished build folder into place (another process may have won the race)."""
    for p in [build, *build.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(build, final)
    except OSError:
        if not (final / ".complete").exists():
            raise
        shutil.rmtree(build, ignore_errors=True)


class TabularTask(Task):
    """A CSV-submission task whose answers exist only in the grading sandbox."""

    dataset = ""

    def __init__(self, spec: TaskSpec, scale: str = "default") -> None:
        super().__init__(spec, scale)
        self._prepared: Path | None = None

    # -- hooks for subclasses --------------------------------------------------------------
    def raw_files(self) -> list[Path]:
        raise NotImplementedError

    def build(self, raw: list[Path], public: Path, grader: Path) -> None:
        raise NotImplementedError

    # -- Task API --------------------------------------------------------------------------
    def prepare(self) -> None:
        if self._prepared is not None:
            return
        raw = self.raw_files()
        final = data_home() / PLUGIN / self.dataset / f"v{FORMAT_VERSION}-{_digest(raw)}"
        if not (final / ".complete").exists():
            final.parent.mkdir(parents=True, exist_ok=True)
            build = Path(tempfile.mkdtemp(prefix=".build-", dir=final.parent))
            try:
                (build / "public").mkdir()
                (build / "grader").mkdir()
                self.build(raw, build / "public", build / "grader")
                (build / ".complete").write_text("ok\n")
                _publish(build, final)
            finally:
                if build.exists():
                    shutil.rmtree(build, ignore_errors=True)
        self._prepared = final

    def data_dir(self) -> Path:
        self.prepare()
        assert self._prepared is not None
        return self._prepared / "public"

    def grader_binds(self) -> dict[str, Path]:
        self.prepare()
        assert self._prepared is not None
        return {f"{WORKSPACE}/data": self._prepared / "grader"}


# -- House Prices -------------------------------------------------------------------------
def house_prices_raw() -> Path:
    """Kaggle's House Prices ``train.csv``: from MLGYM_DATA_DIR, else from the Hugging Face hub."""
    local = data_root() / HOUSE_PRICES / "train.csv"
    if local.is_file():
        return local
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id=HOUSE_PRICES_HUB, filename="train.csv", repo_type="dataset"))
    except Exception as exc:  # ImportError, network and hub errors alike
        raise DatasetUnavailableError(
            f"dataset '{HOUSE_PRICES}': {local} does not exist and the download of train.csv from the "
            f"Hugging Face hub dataset '{HOUSE_PRICES_HUB}' failed ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())}; the hub needs "
            f"`pip install huggingface_hub`); put Kaggle's "
            f"House Prices train.csv (1,460 rows) at $MLGYM_DATA_DIR/{HOUSE_PRICES}/train.csv") from None


def split_house_prices(df: Any) -> tuple[Any, Any, Any]:
    """MLGym's split: 20% test, then 12.5% of the rest validation (random_state 42 both times)."""
    from sklearn.model_selection import train_test_split

    rest, test = train_test_split(df, test_size=0.2, random_state=42)
    train, validation = train_test_split(rest, test_size=0.125, random_state=42)
    return train, validation, test


class HousePriceTask(TabularTask):
    """regressionKaggleHousePrice(L1): train/validation/test CSVs; SalePrice of test only for the grader."""

    dataset = HOUSE_PRICES

    def raw_files(self) -> list[Path]:
        return [house_prices_raw()]

    def build(self, raw: list[Path], public: Path, grader: Path) -> None:
        import pandas as pd

        df = pd.read_csv(raw[0])
        missing = {"Id", "SalePrice"} - set(df.columns)
        if missing or len(df) != HOUSE_PRICES_ROWS:
            raise DatasetUnavailableError(
                f"dataset '{HOUSE_PRICES}': {raw[0]} is not Kaggle's House Prices train.csv "
                f"(expected {HOUSE_PRICES_ROWS} rows with Id and SalePrice; got {len(df)} rows"
                f"{', missing ' + ', '.join(sorted(missing)) if missing else ''})")
        train, validation, test = split_house_prices(df)
        train.to_csv(public / "train.csv", index=False)
        validation.to_csv(public / "validation.csv", index=False)
        test.drop(columns=["SalePrice"]).to_csv(public / "test.csv", index=False)
        test[["Id", "SalePrice"]].to_csv(grader / "answer.csv", index=False)


# -- Titanic ------------------------------------------------------------------------------
TITANIC_FILES = ("train.csv", "test.csv", "ground_truth.csv")


class TitanicTask(TabularTask):
    """titanicSurvival: Kaggle's train/test; the test labels (ground_truth.csv) only for the grader."""

    dataset = TITANIC

    def raw_files(self) -> list[Path]:
        folder = data_root() / TITANIC
        missing = [n for n in TITANIC_FILES if not (folder / n).is_file()]
        if missing:
            raise DatasetUnavailableError(
                f"dataset '{TITANIC}': {', '.join(missing)} missing from {folder}; put Kaggle's Titanic "
                f"train.csv (891 rows), test.csv (418 rows) and ground_truth.csv (PassengerId,Survived for "
                f"the test rows) in $MLGYM_DATA_DIR/{TITANIC}/")
        return [folder / n for n in TITANIC_FILES]

    def build(self, raw: list[Path], public: Path, grader: Path) -> None:
        import pandas as pd

        train, test, truth = (pd.read_csv(p) for p in raw)
        for name, frame, cols in (("train.csv", train, {"PassengerId", "Survived"}),
                                  ("test.csv", test, {"PassengerId"}),
                                  ("ground_truth.csv", truth, {"PassengerId", "Survived"})):
            if not cols <= set(frame.columns):
                raise DatasetUnavailableError(
                    f"dataset '{TITANIC}': {raw[0].parent / name} lacks column(s) "
                    f"{', '.join(sorted(cols - set(frame.columns)))}")
        if set(test["PassengerId"]) != set(truth["PassengerId"]):
            raise DatasetUnavailableError(
                f"dataset '{TITANIC}': the PassengerIds of test.csv and ground_truth.csv differ")
        merged = test[["PassengerId", "Sex"]].merge(truth, on="PassengerId")
        if (merged["Survived"] == (merged["Sex"] == "female")).all():
            warnings.warn(f"dataset '{TITANIC}': {raw[2]} equals the gender rule (Survived = Sex is female, "
                          "Kaggle's gender_submission.csv), not the real test labels: accuracy then measures "
                          "agreement with that rule", stacklevel=2)
        train.to_csv(public / "train.csv", index=False)
        test.drop(columns=[c for c in ("Survived",) if c in test.columns]).to_csv(public / "test.csv", index=False)
        truth[["PassengerId", "Survived"]].to_csv(grader / "ground_truth.csv", index=False)


# -- the L1 variant's baseline ------------------------------------------------------------
def heredoc_command(script: str, end: str = "MLGYM_BASELINE_EOF") -> str:
    """A shell command that runs ``script`` with python without writing it into the workspace."""
    return f"python - <<'{end}'\n{script.rstrip()}\n{end}"


def with_l1_baseline(specs: list[TaskSpec]) -> list[TaskSpec]:
    """Give regressionKaggleHousePriceL1 a baseline command that pipes the main task's
    baseline.py into python: the L1 agent never sees the script, the ``baseline`` agent runs it."""
    script = (files(__package__) / "tasks" / "regressionKaggleHousePrice" / "baseline.py").read_text()
    return [s.model_copy(update={"baseline_command": heredoc_command(script)})
            if s.id == "regressionKaggleHousePriceL1" and not s.baseline_command else s for s in specs]
