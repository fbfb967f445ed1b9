"""Score a House Price submission: prints {"rmse": ..., "r2": ...} as one JSON line.

    python evaluate.py --submission_file submission.csv [--answer_file data/answer.csv]

The submission is a CSV with the columns Id and SalePrice, one row per Id of data/test.csv
(any order: rows are matched by Id). The answers exist only where the grader runs this
script (the `validate` and `submit` commands); in your workspace you can score predictions
for the validation split instead:

    python evaluate.py --submission_file val_predictions.csv --answer_file data/validation.csv

Any problem with the submission ends the script with a one-line error and exit status 1.
"""

import argparse
import json
import math
import sys

ID, TARGET = "Id", "SalePrice"


class SubmissionError(Exception):
    pass


def load(path, what, columns):
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise SubmissionError(f"{what} file {path!r} does not exist") from None
    except Exception as exc:
        raise SubmissionError(f"{what} file {path!r} is not a readable CSV ({type(exc).__name__})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SubmissionError(f"{what} file {path!r} lacks the column(s) {', '.join(missing)} "
                              f"(found {', '.join(map(repr, frame.columns[:10]))})")
    return frame


def numeric_ids(frame, path, what):
    import pandas as pd

    ids = pd.to_numeric(frame[ID], errors="coerce")
    if ids.isna().any() or (ids % 1 != 0).any():
        raise SubmissionError(f"{what} file {path!r}: column {ID} must hold whole numbers")
    if ids.duplicated().any():
        raise SubmissionError(f"{what} file {path!r}: {int(ids.duplicated().sum())} duplicated {ID} value(s), "
                              f"e.g. {int(ids[ids.duplicated()].iloc[0])}")
    return ids.astype("int64")


def score(submission_file, answer_file):
    import numpy as np
    import pandas as pd
    from sklearn.metrics import mean_squared_error, r2_score

    answers = load(answer_file, "answer", [ID, TARGET])
    sub = load(submission_file, "submission", [ID, TARGET])
    truth = pd.Series(answers[TARGET].to_numpy(dtype=float), index=numeric_ids(answers, answer_file, "answer"))
    pred = pd.to_numeric(sub[TARGET], errors="coerce")
    pred.index = numeric_ids(sub, submission_file, "submission")
    bad = ~np.isfinite(pred.to_numpy(dtype=float))
    if bad.any():
        raise SubmissionError(f"submission file {submission_file!r}: {int(bad.sum())} {TARGET} value(s) are "
                              f"missing or not finite numbers (first at {ID} {int(pred.index[bad][0])})")
    lacking = truth.index.difference(pred.index)
    extra = pred.index.difference(truth.index)
    if len(lacking) or len(extra):
        raise SubmissionError(f"submission file {submission_file!r}: {len(lacking)} expected {ID}(s) missing"
                              f"{' (e.g. ' + str(lacking[0]) + ')' if len(lacking) else ''} and {len(extra)} "
                              f"unknown {ID}(s){' (e.g. ' + str(extra[0]) + ')' if len(extra) else ''}; "
                              f"predict every row of data/test.csv")
    pred = pred.reindex(truth.index)
    rmse = math.sqrt(mean_squared_error(truth, pred))
    return {"rmse": rmse, "r2": float(r2_score(truth, pred))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission_file", default="submission.csv")
    parser.add_argument("--answer_file", default="data/answer.csv")
    args = parser.parse_args(argv)
    import os

    if args.answer_file == "data/answer.csv" and not os.path.exists(args.answer_file):
        print("evaluate.py: error: data/answer.csv is only available to the grader; use the `validate` command "
              "to score submission.csv, or pass --answer_file data/validation.csv to score validation "
              "predictions", file=sys.stderr)
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
