"""Leak audit, for real in the bubblewrap sandbox: the agent sees train data and test inputs, never test
labels or reference captions; the grader believes no score the submission claims."""

from __future__ import annotations

import pytest

from mlgym_core.env import MLGymEnv
from mlgym_tasks_cv import data

from .conftest import needs_bwrap

pytestmark = needs_bwrap


@pytest.fixture
def env_for():
    envs = []

    def make(task_id):
        env = MLGymEnv(task_id, runtime="local", max_steps=20, scale="smoke")
        env.reset(seed=0)
        assert env.isolation == "bwrap"
        envs.append(env)
        return env

    yield make
    for e in envs:
        e.close()


def sh(env, cmd):
    obs, _r, _t, _tr, info = env.step(cmd)
    return obs, info["returncode"]


@pytest.mark.parametrize("task_id,dataset,secret", [
    ("imageClassificationCifar10", "cifar10", "test_labels.csv"),
    ("imageCaptioningCOCO", "coco", "val_references.json"),
])
def test_agent_sees_no_labels(env_for, task_id, dataset, secret):
    env = env_for(task_id)
    grader = data.cache_dir(dataset, "smoke") / "grader"
    assert (grader / secret).is_file()  # it exists on the host ...
    obs, rc = sh(env, f"cat {grader / secret}")  # ... but not in the sandbox, even by its host path
    assert rc != 0 and "No such file" in obs
    obs, rc = sh(env, f"find / -name {secret} 2>/dev/null | head -5; echo END")
    assert obs.strip() == "END"
    obs, rc = sh(env, "command ls data")  # not the shell's `ls -F` alias (MLGym's): bare names
    expected = {"cifar10": "info.json test.parquet train.parquet",
                "coco": "info.json train train_images.parquet val val_images.parquet"}[dataset]
    assert obs.split() == expected.split()
    if dataset == "cifar10":
        obs, _ = sh(env, "python -c \"import pandas as pd; print(list(pd.read_parquet('data/test.parquet').columns))\"")
        assert obs.strip() == "['img']"
    else:
        obs, _ = sh(env, "python -c \"import pandas as pd; "
                         "print(list(pd.read_parquet('data/val_images.parquet').columns))\"")
        assert "anns" not in obs and "file_name" in obs
    obs, rc = sh(env, "touch data/x.csv")
    assert rc != 0  # data is read-only


def test_classification_claims_are_not_believed(env_for):
    env = env_for("imageClassificationCifar10")
    # a cheater: a constant prediction, a claimed accuracy column, and an evaluator that prints 1.0
    sh(env, "python -c \"print('label,accuracy'); [print('0,1.0') for _ in range(200)]\" > submission.csv")
    obs, rc = sh(env, "echo 'print(\\'{\"accuracy\": 1.0}\\')' > evaluate.py")
    assert rc != 0  # evaluate.py is read-only
    sh(env, "echo 'print(1)' > my_eval.py")
    obs, _r, _t, _tr, info = env.step("validate")
    acc = info["scores"][-1]["accuracy"]
    assert acc < 0.3, obs  # the share of class 0 in the hidden labels, not 1.0


def test_captioning_claims_are_not_believed(env_for):
    env = env_for("imageCaptioningCOCO")
    sh(env, "python -c \"import pandas as pd; v = pd.read_parquet('data/val_images.parquet'); "
            "pd.DataFrame({'image_id': v['id'], 'caption': 'nothing to see', 'bleu_score': 1.0})"
            ".to_csv('submission.csv', index=False)\"")
    obs, _r, _t, _tr, info = env.step("validate")
    m = info["scores"][-1]
    assert m["BLEU Score"] < 0.05 and m["char_sentence_bleu"] < 0.5, obs
    # the starter sample submission is well-formed but uninformative too
    sh(env, "cp sample_submission.csv submission.csv")
    obs, _r, _t, _tr, info = env.step("validate")
    assert info["scores"][-1]["BLEU Score"] < 0.05, obs
