"""End to end at --scale smoke, in the real bubblewrap sandbox: baselines, and submissions that cheat."""

import json
import math
import os
import shutil
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import gymnasium as gym
import pytest

FIX = Path(__file__).parent / "fixtures"
LM_DIR = Path(str(files("mlgym_tasks_nlp") / "tasks" / "languageModelingFineWeb"))
pytestmark = [pytest.mark.integration, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (apt-get install bubblewrap)")]


def _run_record(out: Path) -> dict:
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return json.loads((run_dir / "run.json").read_text())


@pytest.mark.parametrize("task,low,high", [
    ("languageModelingFineWeb", 1.6, 3.2),          # bigram entropy ~1.9 nats; uniform guess ln(1024) = 6.93
    ("naturalLanguageInferenceMNLI", 70.0, 100.0),  # chance 33.3 %; 5 % label noise caps it near 97
])
def test_baseline_smoke_run(task, low, high, nlp_home, cli, tmp_path):
    if task == "languageModelingFineWeb":  # the baseline agent: train, validate, submit
        cli("run", "--task", task, "--agent", "baseline", "--scale", "smoke", "--output", str(tmp_path / "runs"))
    else:  # train and submit (a grading of 5 s fewer; the audit checks that each evaluator repeats itself)
        from mlgym_core import get_task

        traj = tmp_path / "train-submit.traj"
        traj.write_text(json.dumps({"trajectory": [{"action": get_task(task).baseline_command}, {"action": "submit"}]}))
        cli("replay", str(traj), "--task", task, "--scale", "smoke", "--output", str(tmp_path / "runs"))
    rec = _run_record(tmp_path / "runs")
    assert rec["exit_status"] == "submitted", rec
    assert rec["isolation"] == "bwrap"
    assert low < rec["best_score"] < high, rec["scores"]
    if task == "languageModelingFineWeb":
        assert len(rec["scores"]) == 2 and rec["scores"][0] == rec["scores"][1]  # validate and submit agree
    else:
        assert len(rec["scores"]) == 1


def _env(task, workspace_from):
    import mlgym_core

    mlgym_core.register_envs()
    return gym.make(f"mlgym/{task}", scale="smoke", workspace_from=str(workspace_from), max_steps=10)


def _lm_submission(folder: Path, model_file: Path) -> Path:
    import torch

    folder.mkdir()
    shutil.copy(model_file, folder / "model.py")
    (folder / "model_config.json").write_text(json.dumps({"vocab_size": 1024}))
    torch.save({"dummy": torch.zeros(1)}, folder / "model.pt")
    return folder


def test_lm_agent_never_sees_validation_tokens_and_fake_scores_are_not_believed(nlp_home, tmp_path):
    env = _env("languageModelingFineWeb", _lm_submission(tmp_path / "ws", FIX / "cheat_model.py"))
    try:
        env.reset(seed=0)
        obs, *_ = env.step("ls -R data; find /home /tmp /opt /root /var /mnt -name '*val*.bin' 2>/dev/null; "
                           "python -c 'import model' | grep cheat")
        assert "fineweb_train_000001.bin" in obs and "fineweb_val" not in obs
        assert "cheat: val tokens visible: 0" in obs
        obs, *_ = env.step("validate")
        scores = env.unwrapped.scores
        assert len(scores) == 1, obs
        # the printed {"val_loss": 0.0} is ignored and the data lookup finds nothing: uniform logits
        assert scores[0]["val_loss"] == pytest.approx(math.log(1024), abs=1e-3)
    finally:
        env.close()


def test_lm_cheat_would_work_if_the_worker_saw_the_data(nlp_home, tmp_path):
    """The control for the test above: unsandboxed, with the worker's isolation off, the lookup wins."""
    from mlgym_core import get_task, make_task

    task = make_task(get_task("languageModelingFineWeb"), "smoke")
    task.prepare()
    ws = _lm_submission(tmp_path / "ws", FIX / "cheat_model.py")
    (ws / "data").symlink_to(task.grader_binds()["/home/agent/workspace/data"])
    res = subprocess.run([sys.executable, str(LM_DIR / "evaluate.py")], cwd=ws, capture_output=True, text=True,
                         env={**os.environ, "MLGYM_LM_WORKER_ISOLATION": "none", "CHEAT_DATA": str(ws / "data")},
                         timeout=300)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["val_loss"] < 1.0


def test_lm_non_causal_model_is_rejected(nlp_home, tmp_path):
    env = _env("languageModelingFineWeb", _lm_submission(tmp_path / "ws", FIX / "peek_model.py"))
    try:
        env.reset(seed=0)
        obs, *_ = env.step("validate")
        assert env.unwrapped.scores == []
        assert "not causal" in obs
    finally:
        env.close()


def test_mnli_labels_stay_with_the_grader_and_submission_code_never_runs(nlp_home, tmp_path):
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    ws = tmp_path / "ws"
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(vocab_size=4096, hidden_size=32, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=64,
                                                     max_position_embeddings=64, num_labels=3))
    model.save_pretrained(ws / "bert_mnli_model")
    fake = 'print(\'{"validation_accuracy": 100.0}\')\n'
    cfg = json.loads((ws / "bert_mnli_model" / "config.json").read_text())
    cfg["auto_map"] = {"AutoModelForSequenceClassification": "evil.Model"}
    (ws / "bert_mnli_model" / "config.json").write_text(json.dumps(cfg))
    for name in ("bert_mnli_model/evil.py", "transformers.py", "torch.py", "sitecustomize.py", "json.py"):
        (ws / name).write_text(fake)
    env = _env("naturalLanguageInferenceMNLI", ws)
    try:
        env.reset(seed=0)
        obs, *_ = env.step("ls data; cat data/*.jsonl | wc -l; find / -name 'validation_matched*' 2>/dev/null "
                           "| grep -v ^/proc")
        assert "train.jsonl" in obs and "validation_mismatched.jsonl" in obs
        assert "validation_matched" not in obs.replace("validation_mismatched", "")
        obs, *_ = env.step("validate")
        scores = env.unwrapped.scores
        assert len(scores) == 1, obs
        assert 15.0 < scores[0]["validation_accuracy"] < 55.0  # an untrained model, not the printed 100
    finally:
        env.close()


def test_mnli_full_scale_path_with_a_tiny_stand_in_for_bert_base_uncased(tmp_path, cli):
    """The full-scale code (local MNLI copy, bert-base-uncased folder, WordPiece tokenizer, lr 1e-7
    baseline, grader) end to end, with a 1-layer BERT in place of bert-base-uncased."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from mlgym_tasks_nlp import data as D

    local = tmp_path / "local"
    for split, seed, n in (("train", 1, 200), ("validation_matched", 2, 100), ("validation_mismatched", 3, 50)):
        D.write_jsonl(local / "mnli" / f"{split}.jsonl", D.synthetic_mnli(seed, n))
    words = sorted({w for r in D.synthetic_mnli(1, 500) for w in f"{r['premise']} {r['hypothesis']}".split()})
    bert = local / "bert-base-uncased"
    bert.mkdir()
    (bert / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    BertTokenizerFast(vocab_file=str(bert / "vocab.txt"), do_lower_case=True).save_pretrained(bert)
    BertModel(BertConfig(vocab_size=len(words) + 5, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(bert)
    env = {"MLGYM_HOME": str(tmp_path / "home"), "MLGYM_DATA_DIR": str(local)}
    cli("data", "prepare", "naturalLanguageInferenceMNLI", "--scale", "full", env=env)
    cli("run", "--task", "naturalLanguageInferenceMNLI", "--agent", "baseline", "--scale", "full",
        "--output", str(tmp_path / "runs"), env=env)
    rec = _run_record(tmp_path / "runs")
    assert rec["exit_status"] == "submitted", rec
    assert 0.0 <= rec["best_score"] <= 100.0 and len(rec["scores"]) == 2


def test_full_size_lm_is_the_papers_and_causal():
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("nlp_model_under_test", LM_DIR / "model.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    try:
        spec.loader.exec_module(mod)
    finally:
        del sys.modules[spec.name]
    cfg = mod.ModelConfig()
    assert (cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.vocab_size) == (12, 6, 768, 50304)
    torch.manual_seed(0)
    model = mod.Model(cfg)
    assert 120e6 < sum(p.numel() for p in model.parameters()) < 170e6
    for p in model.parameters():  # the zero-initialised projections would hide any leak
        torch.nn.init.normal_(p, std=0.02)
    x = torch.randint(0, 50257, (1, 32))
    y = x.clone()
    y[0, 20:] = torch.randint(0, 50257, (12,))
    with torch.no_grad():
        a, b = model(x), model(y)
    assert a.shape == (1, 32, 50304)
    assert torch.allclose(a[0, :20], b[0, :20], atol=1e-4) and not torch.allclose(a[0, 20:], b[0, 20:])
