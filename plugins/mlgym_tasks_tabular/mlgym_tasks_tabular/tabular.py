"""Task classes of the tabular pack: raw data in, agent data and grader answers out.

Two scales: ``full`` (the default, as in the other packs) reads Kaggle's files from
``$MLGYM_DATA_DIR/<dataset id>/`` (House Prices falls back to the Hugging Face hub); ``smoke`` uses
seeded synthetic data with the real files' schema (:mod:`.synthetic`), so it runs anywhere.
``prepare()`` goes through core's data cache (:mod:`mlgym_core.datacache`) and writes
``data_home()/tasks_tabular/<dataset>/<scale>-v<N>[-<hash of the raw files>]/`` with two folders:

* ``agent/``: bound read-only at ``workspace/data`` in the agent's sandbox (no labels of the
  scored split);
* ``grader/``: the answers, bound at ``workspace/data`` only in the grading sandbox.

pandas and scikit-learn are imported inside the functions that need them, so importing
this module (the plugin does, for the L1 baseline command) stays cheap.
"""

from __future__ import annotations

import hashlib
import warnings
from importlib.resources import files
from pathlib import Path
from typing import Any

from mlgym_core import WORKSPACE, DataSource, Task, TaskSpec, data_home, datacache

FORMAT_VERSION = 2
PLUGIN = "tasks_tabular"
HOUSE_PRICES = "kaggle_house_prices"
HOUSE_PRICES_HUB = "XuehangCang/House_Prices_Advanced_Regression_Techniques"
HOUSE_PRICES_ROWS = 1460
TITANIC = "titanic"
TITANIC_FILES = ("train.csv", "test.csv", "ground_truth.csv")
SMOKE_HINT = "run with --scale smoke for synthetic data"
HOUSE_PRICES_SOURCE = DataSource(
    dataset=HOUSE_PRICES, files=("train.csv",), hub=HOUSE_PRICES_HUB, hub_files=("train.csv",), hint=SMOKE_HINT,
    layout=f"Kaggle's House Prices train.csv ({HOUSE_PRICES_ROWS:,} rows)")
TITANIC_SOURCE = DataSource(
    dataset=TITANIC, files=TITANIC_FILES, hint=SMOKE_HINT,
    layout="Kaggle's Titanic train.csv (891 rows), test.csv (418 rows) and ground_truth.csv (PassengerId,Survived "
           "for the test rows)")


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


class TabularTask(Task):
    """A CSV-submission task whose answers exist only in the grading sandbox."""

    source: DataSource

    def __init__(self, spec: TaskSpec, scale: str = "default") -> None:
        super().__init__(spec, scale)
        self._prepared: Path | None = None

    # -- hooks for subclasses --------------------------------------------------------------
    def frames(self) -> tuple[Any, ...]:
        """The raw tables: read from the real files (``full``) or generated (``smoke``)."""
        raise NotImplementedError

    def build(self, frames: tuple[Any, ...], agent: Path, grader: Path) -> None:
        raise NotImplementedError

    # -- Task API --------------------------------------------------------------------------
    def _key(self) -> str:
        if self.scale == "smoke":
            return f"{PLUGIN}/{self.source.dataset}/smoke-v{FORMAT_VERSION}"
        local = datacache.local_dir(self.source)
        tag = _digest([local / f for f in self.source.files]) if local else "hub"
        return f"{PLUGIN}/{self.source.dataset}/full-v{FORMAT_VERSION}-{tag}"

    def data_sources(self) -> list[DataSource]:
        if self.scale == "smoke" or datacache.complete(data_home() / self._key()):
            return []
        return [self.source]

    def prepare(self) -> None:
        if self._prepared is not None:
            return

        def build(root: Path) -> None:
            self.build(self.frames(), root / datacache.AGENT, root / datacache.GRADER)

        self._prepared = datacache.prepare(self._key(), build)

    def data_dir(self) -> Path:
        self.prepare()
        assert self._prepared is not None
        return self._prepared / datacache.AGENT

    def grader_binds(self) -> dict[str, Path]:
        self.prepare()
        assert self._prepared is not None
        return {f"{WORKSPACE}/data": self._prepared / datacache.GRADER}


# -- House Prices -------------------------------------------------------------------------
def house_prices_raw() -> Path:
    """Kaggle's House Prices ``train.csv``: from MLGYM_DATA_DIR, else from the Hugging Face hub."""
    local = datacache.local_dir(HOUSE_PRICES_SOURCE)
    if local is not None:
        return local / "train.csv"

    def download() -> Path:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id=HOUSE_PRICES_HUB, filename="train.csv", repo_type="dataset"))

    return datacache.from_hub(HOUSE_PRICES_SOURCE, download)


def split_house_prices(df: Any) -> tuple[Any, Any, Any]:
    """MLGym's split: 20% test, then 12.5% of the rest validation (random_state 42 both times)."""
    from sklearn.model_selection import train_test_split

    rest, test = train_test_split(df, test_size=0.2, random_state=42)
    train, validation = train_test_split(rest, test_size=0.125, random_state=42)
    return train, validation, test


class HousePriceTask(TabularTask):
    """regressionKaggleHousePrice(L1): train/validation/test CSVs; SalePrice of test only for the grader."""

    source = HOUSE_PRICES_SOURCE

    def frames(self) -> tuple[Any, ...]:
        import pandas as pd

        from . import synthetic

        if self.scale == "smoke":
            return (synthetic.house_prices(),)
        raw = house_prices_raw()
        df = pd.read_csv(raw)
        missing = {"Id", "SalePrice"} - set(df.columns)
        if missing or len(df) != HOUSE_PRICES_ROWS:
            raise datacache.unavailable(self.source, (
                f"{raw} is not Kaggle's House Prices train.csv (expected {HOUSE_PRICES_ROWS} rows with Id and "
                f"SalePrice; got {len(df)} rows{', missing ' + ', '.join(sorted(missing)) if missing else ''})"))
        return (df,)

    def build(self, frames: tuple[Any, ...], agent: Path, grader: Path) -> None:
        train, validation, test = split_house_prices(frames[0])
        train.to_csv(agent / "train.csv", index=False)
        validation.to_csv(agent / "validation.csv", index=False)
        test.drop(columns=["SalePrice"]).to_csv(agent / "test.csv", index=False)
        test[["Id", "SalePrice"]].to_csv(grader / "answer.csv", index=False)


# -- Titanic ------------------------------------------------------------------------------
class TitanicTask(TabularTask):
    """titanicSurvival: Kaggle's train/test; the test labels (ground_truth.csv) only for the grader."""

    source = TITANIC_SOURCE

    def frames(self) -> tuple[Any, ...]:
        import pandas as pd

        from . import synthetic

        if self.scale == "smoke":
            return synthetic.titanic()
        folder = datacache.require(self.source)  # raises, naming the missing files
        assert folder is not None  # Titanic has no hub source
        train, test, truth = (pd.read_csv(folder / n) for n in TITANIC_FILES)
        for name, frame, cols in (("train.csv", train, {"PassengerId", "Survived"}),
                                  ("test.csv", test, {"PassengerId"}),
                                  ("ground_truth.csv", truth, {"PassengerId", "Survived"})):
            if not cols <= set(frame.columns):
                lacking = ", ".join(sorted(cols - set(frame.columns)))
                raise datacache.unavailable(self.source, f"{folder / name} lacks column(s) {lacking}")
        if set(test["PassengerId"]) != set(truth["PassengerId"]):
            raise datacache.unavailable(self.source,
                                        f"the PassengerIds of {folder}/test.csv and ground_truth.csv differ")
        merged = test[["PassengerId", "Sex"]].merge(truth, on="PassengerId")
        if (merged["Survived"] == (merged["Sex"] == "female")).all():
            warnings.warn(f"dataset '{TITANIC}': {folder / 'ground_truth.csv'} equals the gender rule (Survived = "
                          "Sex is female, Kaggle's gender_submission.csv), not the real test labels: accuracy then "
                          "measures agreement with that rule", stacklevel=2)
        return train, test, truth

    def build(self, frames: tuple[Any, ...], agent: Path, grader: Path) -> None:
        train, test, truth = frames
        train.to_csv(agent / "train.csv", index=False)
        test.drop(columns=[c for c in ("Survived",) if c in test.columns]).to_csv(agent / "test.csv", index=False)
        truth[["PassengerId", "Survived"]].to_csv(grader / "ground_truth.csv", index=False)
