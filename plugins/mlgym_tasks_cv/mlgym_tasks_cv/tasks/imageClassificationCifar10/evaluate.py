"""Evaluator of the image-classification tasks: accuracy of submission.csv against the hidden test labels.

Usage: python evaluate.py --submission_file submission.csv
The grader runs this pristine copy in its own sandbox, where data/test_labels.csv exists; the agent's
workspace never holds that file. Prints {"accuracy": ...}; on a malformed submission it prints one line
naming the problem to stderr and exits 1.
"""

import argparse
import csv
import json
import sys
from pathlib import Path

LABELS = Path("data/test_labels.csv")


def fail(msg: str) -> None:
    print(f"evaluate.py: {msg}", file=sys.stderr)
    sys.exit(1)


def read_labels(path: Path, what: str, n_classes: int | None = None) -> list[int]:
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or "label" not in reader.fieldnames:
                fail(f"{what}: no 'label' column (columns: {', '.join(reader.fieldnames or []) or 'none'})")
            out = []
            for i, row in enumerate(reader, start=2):
                try:
                    v = int(float(str(row["label"]).strip()))
                except ValueError:
                    fail(f"{what}: line {i}: label {row['label']!r} is not an integer")
                if n_classes is not None and not 0 <= v < n_classes:
                    fail(f"{what}: line {i}: label {v} is outside 0..{n_classes - 1}")
                out.append(v)
            return out
    except FileNotFoundError:
        fail(f"{what}: file not found")
    except (csv.Error, UnicodeDecodeError) as exc:
        fail(f"{what}: not a readable CSV file ({exc})")
    return []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--submission_file", default="submission.csv")
    args = ap.parse_args()
    truth = read_labels(LABELS, str(LABELS))
    pred = read_labels(Path(args.submission_file), args.submission_file, n_classes=10)
    if len(pred) != len(truth):
        fail(f"{args.submission_file}: {len(pred)} rows, expected {len(truth)} (one per test image, in order)")
    acc = sum(int(p == t) for p, t in zip(pred, truth)) / len(truth)
    print(json.dumps({"accuracy": acc}))


if __name__ == "__main__":
    main()
