"""NLP full-scale baselines: MNLI and FineWeb language modelling, where their data is on the machine.

Each task's baseline (``python baseline.py``) runs in its laid-out workspace and is graded by the pristine
evaluator; the script prints the measured figure against MLGym's published one, or one line naming what
is missing (the data: ``$MLGYM_DATA_DIR/<dataset>/``, see plugins/mlgym_tasks_nlp/README.md). Tasks run in
the order below while the budget lasts; the hub is not used unless ``--online``.

MNLI's baseline fine-tunes bert-base-uncased (``$MLGYM_DATA_DIR/bert-base-uncased/``); FineWeb's
trains 500 steps on the GPUs given with ``--devices`` (MLGym used 2).

Run on a GPU machine:            python benchmarks/full_scale/nlp.py [--budget 540]
Check here in seconds:           python benchmarks/full_scale/nlp.py --dry-run
The whole pipeline on a CPU:     python benchmarks/full_scale/nlp.py --scale smoke
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _host import family_main  # noqa: E402

TASKS = ["naturalLanguageInferenceMNLI", "languageModelingFineWeb"]


def main(argv: list[str] | None = None) -> int:
    return family_main(__doc__, TASKS, argv)


if __name__ == "__main__":
    raise SystemExit(main())
