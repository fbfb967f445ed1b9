"""Small utilities: configuration loading and checkpoint (pickle) saving."""

from __future__ import annotations

import importlib
import importlib.util
import pickle
import sys
import types
from pathlib import Path
from typing import Any

import yaml


def defer_import(name: str) -> None:
    """Put a stand-in for module ``name`` in ``sys.modules`` that imports the real module when one of
    its attributes is first used. gymnax imports seaborn and matplotlib (for rendering only) at
    import time, which costs seconds per process start.
    """
    if name in sys.modules or importlib.util.find_spec(name.partition(".")[0]) is None:
        return

    class Deferred(types.ModuleType):
        def __getattr__(self, attr: str):
            if sys.modules.get(name) is self:
                del sys.modules[name]
            return getattr(importlib.import_module(name), attr)

    sys.modules[name] = Deferred(name)


class Config(dict):
    """A dict whose keys can also be read as attributes (``config.train_config.gamma``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"config has no key '{name}'") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


def to_config(obj: Any) -> Any:
    if isinstance(obj, dict):
        return Config({k: to_config(v) for k, v in obj.items()})
    if isinstance(obj, list):
        return [to_config(v) for v in obj]
    return obj


def load_config(path: str | Path) -> Config:
    """Read a YAML configuration file into a :class:`Config`."""
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict) or "train_config" not in data:
        raise ValueError(f"{path}: expected a mapping with a 'train_config' section")
    return to_config(data)


def to_plain(obj: Any) -> Any:
    """Nested dicts/lists of numpy arrays (no JAX arrays, no Config objects) for pickling."""
    import numpy as np

    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if hasattr(obj, "shape") and hasattr(obj, "dtype"):
        return np.asarray(obj)
    return obj


def save_pkl_object(obj: Any, filename: str | Path) -> None:
    """Pickle ``obj`` (converted to plain Python and numpy) to ``filename``."""
    path = Path(filename)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(to_plain(obj), f)
    print(f"Stored data at {path}.")


def load_pkl_object(filename: str | Path) -> Any:
    with open(filename, "rb") as f:
        return pickle.load(f)
