"""Seeded 3-SAT instances near the satisfiability threshold, and the 3SATTime task class.

Instances are uniform random 3-CNF formulas with a clause/variable ratio close to 4.26, where
about half are satisfiable. Labels come from an exhaustive DPLL run at generation time.
The agent's ``data/`` holds a practice set; the grader uses a second set drawn the same way
from a secret generated once per installation (``grader-seed`` under ``MLGYM_HOME``, mode 0600,
never in the package and never in a sandbox), so answers can neither be looked up nor derived.
"""

from __future__ import annotations

import hashlib
import pickle
import random
from importlib.resources import files
from pathlib import Path

from mlgym_core import WORKSPACE, Task, data_home, datacache

FORMAT_VERSION = 2
KEY = f"tasks_games/3SATTime/v{FORMAT_VERSION}"
SEED_FILE = "grader-seed"
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


def grader_seed(secret: bytes) -> int:
    """The generator seed of the grader's instances, derived from the installation's secret."""
    return int.from_bytes(hashlib.sha256(b"mlgym 3SATTime grader\0" + secret).digest(), "big")


def _build(root: Path) -> None:
    secret = datacache.write_secret(root / SEED_FILE)
    for folder, seed in ((datacache.AGENT, PRACTICE_SEED), (datacache.GRADER, grader_seed(secret))):
        with open(root / folder / "dataset.pkl", "wb") as f:
            pickle.dump(generate(seed), f)


class SatTask(Task):
    """3SATTime: practice instances in the workspace, secret instances for the grader."""

    def prepare(self) -> None:
        datacache.prepare(KEY, _build)

    def data_dir(self) -> Path:
        return data_home() / KEY / datacache.AGENT

    def grader_binds(self) -> dict[str, Path]:
        return {f"{WORKSPACE}/data": data_home() / KEY / datacache.GRADER}


def task_folder() -> Path:
    return Path(str(files("mlgym_tasks_games") / "tasks" / "3SATTime"))
