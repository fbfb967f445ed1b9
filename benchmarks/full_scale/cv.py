"""CV full-scale baselines: F-MNIST, CIFAR-10 and COCO captioning, where their data is on the machine.

Each task's baseline (``python baseline.py``) runs in its laid-out workspace and is graded by the pristine
evaluator; the script prints the measured figure against MLGym's published one, or one line naming what
is missing (the data: ``$MLGYM_DATA_DIR/<dataset>/``, see plugins/mlgym_tasks_cv/README.md). Tasks run in
the order below while the budget lasts; the hub is not used unless ``--online``.

COCO prints both scores: ``BLEU Score`` (corpus BLEU-4 of the captions, the metric the AUP uses) and
``char_sentence_bleu`` (MLGym's character-level scoring, the scale of its published 0.2794), i.e. the
re-measurement of the baseline under the scorer in use.

Run on a GPU machine:            python benchmarks/full_scale/cv.py [--budget 540]
Check here in seconds:           python benchmarks/full_scale/cv.py --dry-run
The whole pipeline on a CPU:     python benchmarks/full_scale/cv.py --scale smoke
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _host import Outcome, family_main  # noqa: E402

from mlgym_core import get_task  # noqa: E402

TASKS = ["imageClassificationFMnist", "imageClassificationCifar10", "imageCaptioningCOCO"]


def coco_scores(out: Outcome, scale: str) -> str:
    """COCO's second figure: MLGym's character-level scoring against its recorded value."""
    if out.task != "imageCaptioningCOCO":
        return ""
    base = get_task(out.task).baseline_for(scale)["char_sentence_bleu"]
    label = "published" if scale == "full" else f"recorded {scale} baseline"
    return (f"char_sentence_bleu (MLGym's scoring) {out.metrics['char_sentence_bleu']:.4f} vs {label} {base:.4g}; "
            f"BLEU-1 {out.metrics.get('BLEU-1', float('nan')):.4f}")


def main(argv: list[str] | None = None) -> int:
    return family_main(__doc__, TASKS, argv, coco_scores)


if __name__ == "__main__":
    raise SystemExit(main())
