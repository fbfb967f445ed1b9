"""Score a Titanic submission: prints {"accuracy": ...} as one JSON line.

    python evaluate.py --submission_file submission.csv [--answer_file data/ground_truth.csv]

The submission is a CSV with the columns PassengerId and Survived (0 or 1), one row per
passenger of data/test.csv (any order: rows are matched by PassengerId). The ground truth
exists only where the grader runs this script (the `validate` and `submit` commands); in
your workspace you can score predictions for rows of data/train.csv you held out:

    python evaluate.py --submission_file holdout_predictions.csv --answer_file holdout.csv

Any problem with the submission ends the script with a one-line error and exit status 1.
"""

import argparse
import json
import os
import sys

ID, TARGET = "PassengerId", "Survived"


class SubmissionError(Exception):
    pass


def load(path, what):
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise SubmissionError(f"{what} file {path!r} does not exist") from None
    except Exception as exc:
        raise SubmissionError(f"{what} file {path!r} is not a readable CSV ({type(exc).__name__})") from None
    missing = [c for c in (ID, TARGET) if c not in frame.columns]
    if missing:
        raise SubmissionError(f"{what} file {path!r} lacks the column(s) {', '.join(missing)} "
                              f"(found {', '.join(map(repr, frame.columns[:10]))})")
    return frame


def indexed(frame, path, what):
    """The Survived column as 0/1 integers indexed by PassengerId."""
    import pandas as pd

    ids = pd.to_numeric(frame[ID], errors="coerce")
    if ids.isna().any() or (ids % 1 != 0).any():
        raise SubmissionError(f"{what} file {path!r}: column {ID} must hold whole numbers")
    if ids.duplicated().any():
        raise SubmissionError(f"{what} file {path!r}: {int(ids.duplicated().sum())} duplicated {ID} value(s), "
                              f"e.g. {int(ids[ids.duplicated()].iloc[0])}")
    raw = frame[TARGET]
    if raw.dtype == bool:
        raw = raw.astype(int)
    values = pd.to_numeric(raw, errors="coerce")
    bad = ~values.isin([0, 1])
    if bad.any():
        raise SubmissionError(f"{what} file {path!r}: {int(bad.sum())} {TARGET} value(s) are not 0 or 1 "
                              f"(first at {ID} {int(ids[bad].iloc[0])})")
    return pd.Series(values.astype(int).to_numpy(), index=ids.astype("int64").to_numpy())


def score(submission_file, answer_file):
    truth = indexed(load(answer_file, "answer"), answer_file, "answer")
    pred = indexed(load(submission_file, "submission"), submission_file, "submission")
    lacking = truth.index.difference(pred.index)
    extra = pred.index.difference(truth.index)
    if len(lacking) or len(extra):
        raise SubmissionError(f"submission file {submission_file!r}: {len(lacking)} expected {ID}(s) missing"
                              f"{' (e.g. ' + str(lacking[0]) + ')' if len(lacking) else ''} and {len(extra)} "
                              f"unknown {ID}(s){' (e.g. ' + str(extra[0]) + ')' if len(extra) else ''}; "
                              f"predict every row of data/test.csv")
    pred = pred.reindex(truth.index)
    return {"accuracy": float((pred == truth).mean())}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission_file", default="submission.csv")
    parser.add_argument("--answer_file", default="data/ground_truth.csv")
    args = parser.parse_args(argv)
    if args.answer_file == "data/ground_truth.csv" and not os.path.exists(args.answer_file):
        print("evaluate.py: error: data/ground_truth.csv is only available to the grader; use the `validate` "
              "command to score submission.csv, or hold out rows of data/train.csv and pass them as "
              "--answer_file", file=sys.stderr)
        return 1
    try:
        metrics = score(args.submission_file, args.answer_file)
    except SubmissionError as exc:
        print(f"evaluate.py: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
