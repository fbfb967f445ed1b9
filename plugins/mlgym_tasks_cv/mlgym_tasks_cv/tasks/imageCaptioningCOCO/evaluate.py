"""Evaluator of imageCaptioningCOCO: BLEU of the submitted captions against the hidden reference captions.

Usage: python evaluate.py --submission_file submission.csv

submission.csv has the columns `image_id` and `caption`: one generated caption for every image of
data/val_images.parquet. Any other column (e.g. a self-reported `bleu_score`) is ignored: the score is
computed here, in the grading sandbox, where data/val_references.json maps each image id to its reference
captions; the agent's workspace never holds that file.

Scoring (no NLTK needed):
* Tokenization: lower-case, then words made of letters and digits (an apostrophe inside a word is kept, as
  in "man's"); punctuation is dropped, as the COCO caption evaluation's PTB tokenizer does.
* "BLEU Score": corpus-level BLEU-4 (Papineni et al. 2002) with all references of an image: clipped n-gram
  precisions for n = 1..4 summed over the corpus, uniform weights, brevity penalty from the reference
  length closest to each hypothesis (ties: the shorter). No smoothing; 0 when some order has no match.
* "BLEU-1": the same with unigrams only.
* "char_sentence_bleu": MLGym 0.1.1's own scoring, for comparison with its baseline (0.2794): the mean
  over images of sentence BLEU-4 computed on raw strings, i.e. on characters, with the same definition.
Prints one JSON line; on a malformed submission it prints one line naming the problem to stderr and exits 1.
"""

import argparse
import csv
import json
import math
import re
import sys
from collections import Counter
from pathlib import Path

REFERENCES = Path("data/val_references.json")
TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")


def tokenize(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def bleu_stats(hyp, refs, max_n: int = 4) -> list[int]:
    """[hyp_len, closest_ref_len, match_1, total_1, ..., match_n, total_n] for one hypothesis."""
    hl = len(hyp)
    rl = min((abs(len(r) - hl), len(r)) for r in refs)[1] if refs else 0
    stats = [hl, rl]
    for n in range(1, max_n + 1):
        h = Counter(tuple(hyp[i:i + n]) for i in range(hl - n + 1))
        best: Counter = Counter()
        for r in refs:
            best |= Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
        stats += [sum(min(c, best[g]) for g, c in h.items()), max(hl - n + 1, 0)]
    return stats


def bleu_from_stats(stats, max_n: int = 4) -> float:
    hl, rl = stats[0], stats[1]
    if hl == 0:
        return 0.0
    log_p = 0.0
    for n in range(max_n):
        m, t = stats[2 + 2 * n], stats[3 + 2 * n]
        if m == 0 or t == 0:
            return 0.0
        log_p += math.log(m / t) / max_n
    bp = 1.0 if hl > rl else math.exp(1 - rl / hl)
    return bp * math.exp(log_p)


def corpus_bleu(hyps, refss, max_n: int = 4) -> float:
    total = [0] * (2 + 2 * max_n)
    for h, rs in zip(hyps, refss):
        total = [a + b for a, b in zip(total, bleu_stats(h, rs, max_n))]
    return bleu_from_stats(total, max_n)


def sentence_bleu(hyp, refs, max_n: int = 4) -> float:
    return bleu_from_stats(bleu_stats(hyp, refs, max_n), max_n)


def fail(msg: str) -> None:
    print(f"evaluate.py: {msg}", file=sys.stderr)
    sys.exit(1)


def read_submission(path: str, wanted: set[str]) -> dict[str, str]:
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            cols = reader.fieldnames or []
            if "image_id" not in cols or "caption" not in cols:
                fail(f"{path}: needs the columns image_id and caption (columns: {', '.join(cols) or 'none'})")
            out: dict[str, str] = {}
            for i, row in enumerate(reader, start=2):
                key = str(row["image_id"]).strip()
                try:
                    key = str(int(float(key)))
                except ValueError:
                    fail(f"{path}: line {i}: image_id {row['image_id']!r} is not an integer")
                if key not in wanted:
                    fail(f"{path}: line {i}: image_id {key} is not a validation image")
                if key in out:
                    fail(f"{path}: line {i}: image_id {key} appears twice")
                out[key] = row["caption"] or ""
    except FileNotFoundError:
        fail(f"{path}: file not found")
    except (csv.Error, UnicodeDecodeError) as exc:
        fail(f"{path}: not a readable CSV file ({exc})")
    missing = wanted - set(out)
    if missing:
        fail(f"{path}: no caption for {len(missing)} of {len(wanted)} validation images "
             f"(e.g. image_id {sorted(missing, key=int)[0]})")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--submission_file", default="submission.csv")
    args = ap.parse_args()
    refs = json.loads(REFERENCES.read_text())
    sub = read_submission(args.submission_file, set(refs))
    ids = sorted(refs, key=int)
    hyps = [tokenize(sub[i]) for i in ids]
    ref_toks = [[tokenize(r) for r in refs[i]] for i in ids]
    char = [sentence_bleu(list(sub[i]), [list(r) for r in refs[i]]) for i in ids]
    print(json.dumps({"BLEU Score": corpus_bleu(hyps, ref_toks), "BLEU-1": corpus_bleu(hyps, ref_toks, 1),
                      "char_sentence_bleu": sum(char) / len(char)}))


if __name__ == "__main__":
    main()
