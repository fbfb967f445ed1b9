"""The evaluators: BLEU by hand, tokenization, malformed submissions, self-reported scores ignored."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from mlgym_tasks_cv import data

from .conftest import PKG, load_script

bleu = load_script("imageCaptioningCOCO", "evaluate.py")


def test_tokenize():
    assert bleu.tokenize("A man's dog, running!  2 Cats.") == ["a", "man's", "dog", "running", "2", "cats"]


def test_bleu_by_hand():
    assert bleu.corpus_bleu([["a", "b", "c", "d", "e"]], [[["a", "b", "c", "d", "e"]]]) == 1.0
    # all precisions 1, hypothesis 5 words vs reference 7: brevity penalty exp(1 - 7/5)
    got = bleu.corpus_bleu([list("abcde")], [[list("abcdefg")]])
    assert got == pytest.approx(math.exp(1 - 7 / 5))
    # clipping: "the" counts at most as often as in the reference
    assert bleu.corpus_bleu([["the"] * 4], [[["the", "cat"]]], max_n=1) == pytest.approx(0.25)
    # closest reference length (3 beats 9) decides the brevity penalty
    assert bleu.corpus_bleu([list("abc")], [[list("abcdefghi"), list("abc")]], max_n=1) == 1.0
    assert bleu.corpus_bleu([["x", "y", "z", "w"]], [[["a", "b", "c", "d"]]]) == 0.0
    assert bleu.corpus_bleu([[]], [[["a"]]]) == 0.0


def test_corpus_bleu_sums_statistics():
    """Corpus BLEU is not the mean of sentence BLEUs: statistics are pooled over the corpus."""
    hyps = [["a", "b", "c", "d"], ["e", "f", "g", "h", "i"]]
    refs = [[["a", "b", "c", "d"]], [["e", "f", "g", "x", "i"]]]
    p = [8 / 9, 5 / 7, 3 / 5, 1 / 3]  # matches/totals pooled over both sentences
    assert bleu.corpus_bleu(hyps, refs) == pytest.approx(math.exp(sum(math.log(x) for x in p) / 4))
    assert bleu.sentence_bleu(hyps[1], refs[1]) == 0.0


def _run_eval(folder, task, sub_text, name="submission.csv"):
    (folder / name).write_text(sub_text)
    return subprocess.run([sys.executable, str(PKG / "tasks" / task / "evaluate.py"), "--submission_file", name],
                          cwd=folder, capture_output=True, text=True, timeout=60)


@pytest.fixture
def coco_grader(tmp_path):
    root = data.prepare("coco", "smoke")
    (tmp_path / "data").symlink_to(root / "grader")
    refs = json.loads((root / "grader" / "val_references.json").read_text())
    return tmp_path, refs


def test_captioning_scores_captions_not_claims(coco_grader):
    folder, refs = coco_grader
    ids = sorted(refs, key=int)
    cheat = "image_id,caption,bleu_score\n" + "".join(f"{i},a photo of an object,1.0\n" for i in ids)
    res = _run_eval(folder, "imageCaptioningCOCO", cheat)
    assert res.returncode == 0, res.stderr
    m = json.loads(res.stdout)
    assert m["BLEU Score"] < 0.05 and set(m) == {"BLEU Score", "BLEU-1", "char_sentence_bleu"}
    perfect = "image_id,caption\n" + "".join(f'{i},"{refs[i][0]}"\n' for i in ids)
    m = json.loads(_run_eval(folder, "imageCaptioningCOCO", perfect).stdout)
    assert m["BLEU Score"] == 1.0 and m["char_sentence_bleu"] == 1.0


@pytest.mark.parametrize("text,msg", [
    ("image,caption\n1,a\n", "needs the columns image_id and caption"),
    ("image_id,caption\nabc,a\n", "line 2: image_id 'abc' is not an integer"),
    ("image_id,caption\n999999,a\n", "image_id 999999 is not a validation image"),
    ("image_id,caption\n", "no caption for"),
])
def test_captioning_malformed(coco_grader, text, msg):
    res = _run_eval(coco_grader[0], "imageCaptioningCOCO", text)
    assert res.returncode == 1 and res.stdout == ""
    assert msg in res.stderr and res.stderr.count("\n") == 1


def test_captioning_duplicate(coco_grader):
    folder, refs = coco_grader
    i = sorted(refs, key=int)[0]
    res = _run_eval(folder, "imageCaptioningCOCO", f"image_id,caption\n{i},a\n{i},b\n")
    assert res.returncode == 1 and f"image_id {i} appears twice" in res.stderr


@pytest.fixture
def cifar_grader(tmp_path):
    root = data.prepare("cifar10", "smoke")
    (tmp_path / "data").symlink_to(root / "grader")
    labels = (root / "grader" / "test_labels.csv").read_text().split()[1:]
    return tmp_path, labels


def test_classification_accuracy(cifar_grader):
    folder, labels = cifar_grader
    res = _run_eval(folder, "imageClassificationCifar10", "label,accuracy\n" + "".join(f"{v},1.0\n" for v in labels))
    assert json.loads(res.stdout) == {"accuracy": 1.0}
    wrong = [(int(v) + 1) % 10 for v in labels]
    half = [int(v) if k % 2 == 0 else w for k, (v, w) in enumerate(zip(labels, wrong))]
    res = _run_eval(folder, "imageClassificationCifar10", "label\n" + "".join(f"{v}\n" for v in half))
    assert json.loads(res.stdout)["accuracy"] == pytest.approx(sum(1 for k in range(len(labels)) if k % 2 == 0)
                                                               / len(labels))


@pytest.mark.parametrize("text,msg", [
    ("pred\n1\n", "no 'label' column"),
    ("label\n1\n", "1 rows, expected 200"),
    ("label\ncat\n", "line 2: label 'cat' is not an integer"),
    ("label\n12\n", "line 2: label 12 is outside 0..9"),
])
def test_classification_malformed(cifar_grader, text, msg):
    res = _run_eval(cifar_grader[0], "imageClassificationCifar10", text)
    assert res.returncode == 1 and res.stdout == "" and msg in res.stderr


def test_classification_missing_file(cifar_grader):
    res = subprocess.run([sys.executable, str(PKG / "tasks/imageClassificationCifar10/evaluate.py"),
                          "--submission_file", "nope.csv"], cwd=cifar_grader[0], capture_output=True, text=True)
    assert res.returncode == 1 and "nope.csv: file not found" in res.stderr
