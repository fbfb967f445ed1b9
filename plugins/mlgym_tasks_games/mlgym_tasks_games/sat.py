"""Seeded 3-SAT instances near the satisfiability threshold, and the 3SATTime task class.

Instances are uniform random 3-CNF formulas with a clause/variable ratio close to 4.26, where
about half are satisfiable. Labels come from an exhaustive DPLL run at generation time.
The agent's ``data/`` holds a practice set; the grader uses a second set generated from a
seed that only the grader knows, so answers cannot be looked up in advance.
"""

from __future__ import annotations

import pickle
import random
from importlib.resources import files
from pathlib import Path

from mlgym_core import WORKSPACE, Task, data_home

FORMAT_VERSION = 1
PRACTICE_SEED = 20240
COUNT = 103  # the evaluator skips the first 3, as MLGym's did


def _label(clauses: list[list[int]], n: int) -> bool:
    """Exact satisfiability by DPLL with unit propagation (most-frequent-variable branching)."""
    def simplify(cs: list[list[int]], lit: int) -> list[list[int]] | None:
        out = []
        for c in cs:
            if lit in c:
                continue
            if -lit in c:
                c = [x for x in c if x != -lit]
                if not c:
                    return None
            out.append(c)
        return out

    def solve(cs: list[list[int]] | None) -> bool:
        while cs:
            unit = next((c[0] for c in cs if len(c) == 1), None)
            if unit is None:
                break
            cs = simplify(cs, unit)
        if cs is None:
            return False
        if not cs:
            return True
        counts: dict[int, int] = {}
        for c in cs:
            for lit in c:
                counts[lit] = counts.get(lit, 0) + 1
        lit = max(counts, key=counts.__getitem__)
        return solve(simplify(cs, lit)) or solve(simplify(cs, -lit))

    return solve(clauses)


def generate(seed: int, count: int = COUNT, n_min: int = 40, n_max: int = 60) -> list[tuple]:
    """``count`` instances as MLGym's tuples (index, num_vars, num_clauses, clauses, is_sat, None)."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        n = rng.randint(n_min, n_max)
        m = round(4.26 * n)
        clauses = []
        for _ in range(m):
            vs = rng.sample(range(1, n + 1), 3)
            clauses.append([v if rng.random() < 0.5 else -v for v in vs])
        out.append((i, n, m, clauses, _label(clauses, n), None))
    return out


def _write(path: Path, seed: int) -> Path:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            pickle.dump(generate(seed), f)
        tmp.replace(path)
    return path.parent


class SatTask(Task):
    """3SATTime: practice instances in the workspace, secret instances for the grader."""

    def _cache(self) -> Path:
        return data_home() / "tasks_games" / "3SATTime" / f"v{FORMAT_VERSION}"

    def _grader_seed(self) -> int:
        return int((self.folder / "hidden_seed.txt").read_text().strip())

    def prepare(self) -> None:
        _write(self._cache() / "practice" / "dataset.pkl", PRACTICE_SEED)
        _write(self._cache() / f"grader-{self._grader_seed()}" / "dataset.pkl", self._grader_seed())

    def data_dir(self) -> Path:
        return self._cache() / "practice"

    def grader_binds(self) -> dict[str, Path]:
        return {f"{WORKSPACE}/data": self._cache() / f"grader-{self._grader_seed()}"}


def task_folder() -> Path:
    return Path(str(files("mlgym_tasks_games") / "tasks" / "3SATTime"))
