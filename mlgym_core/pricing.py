"""LLM list prices and the cost of a run from its token counts.

The table ships as package data (``mlgym_core/data/prices.yaml``: model name -> ``{input, output}``
in US dollars per million tokens). ``MLGYM_PRICES`` may name a YAML file of the same shape whose
entries are added to, and win over, the shipped ones.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import yaml

from .errors import MlgymError

_PREFIXES = ("metagen-",)


def normalise(model: str) -> str:
    """Canonical key for a model name: last ``/`` or ``:`` segment, lower case, alphanumerics only."""
    name = re.split(r"[/:]", model.strip())[-1].lower()
    for prefix in _PREFIXES:
        name = name.removeprefix(prefix)
    return re.sub(r"[^a-z0-9]", "", name)


def _parse(data: object, where: str) -> dict[str, tuple[float, float]]:
    if not isinstance(data, dict):
        raise MlgymError(f"{where}: expected a mapping of model name -> {{input, output}}")
    table: dict[str, tuple[float, float]] = {}
    for name, entry in data.items():
        if not isinstance(entry, dict) or not {"input", "output"} <= set(entry):
            raise MlgymError(f"{where}: entry '{name}' needs 'input' and 'output' ($ per million tokens)")
        try:
            table[normalise(str(name))] = (float(entry["input"]), float(entry["output"]))
        except (TypeError, ValueError):
            raise MlgymError(f"{where}: entry '{name}': prices must be numbers") from None
    return table


@lru_cache(maxsize=8)
def _table(override: str | None) -> dict[str, tuple[float, float]]:
    shipped = files("mlgym_core") / "data" / "prices.yaml"
    table = _parse(yaml.safe_load(shipped.read_text(encoding="utf-8")), "mlgym_core/data/prices.yaml")
    if override:
        path = Path(override)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise MlgymError(f"MLGYM_PRICES={override}: cannot read: {exc}") from None
        table.update(_parse(data, str(path)))
    return table


def price_table() -> dict[str, tuple[float, float]]:
    """Normalised model key -> (input, output) dollars per million tokens, overrides applied."""
    return dict(_table(os.environ.get("MLGYM_PRICES") or None))


def price_for(model: str | None) -> tuple[float, float] | None:
    """List price of ``model`` as (input, output) dollars per million tokens, or None if unknown.

    An exact (normalised) match wins; otherwise the longest table entry that is a prefix of
    the name (``gpt-4o-2024-08-06`` -> ``gpt-4o``).
    """
    if not model:
        return None
    table = _table(os.environ.get("MLGYM_PRICES") or None)
    key = normalise(model)
    if key in table:
        return table[key]
    best = max((k for k in table if key.startswith(k)), key=len, default=None)
    return table[best] if best else None


def cost_of(model: str | None, tokens_sent: int | float, tokens_received: int | float) -> float | None:
    """Dollars for a run's tokens at list price, or None when the model's price is unknown."""
    price = price_for(model)
    if price is None:
        return None
    return (float(tokens_sent) * price[0] + float(tokens_received) * price[1]) / 1e6
