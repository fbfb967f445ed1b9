import base64
import json
import os

import numpy as np
import pytest

from mlgym_tasks_nlp import data as D


def test_shard_round_trip_and_header(tmp_path):
    toks = np.arange(1000, dtype=np.uint16) * 50
    p = D.write_shard(tmp_path / "s.bin", toks)
    header = np.fromfile(p, dtype=np.int32, count=256)
    assert list(header[:3]) == [20240520, 1, 1000] and not header[3:].any()
    assert os.path.getsize(p) == 256 * 4 + 2 * 1000
    assert np.array_equal(D.read_shard(p), toks)


def test_malformed_shards_are_named(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\0" * 2000)
    with pytest.raises(ValueError, match=r"bad\.bin: not a token shard"):
        D.read_shard(bad)
    short = D.write_shard(tmp_path / "short.bin", np.arange(10))
    short.write_bytes(short.read_bytes()[:-4])
    with pytest.raises(ValueError, match=r"short\.bin: header says 10 tokens but the file holds 8"):
        D.read_shard(short)
    with pytest.raises(ValueError, match="token ids"):
        D.write_shard(tmp_path / "big.bin", np.array([70000]))


def test_synthetic_tokens_are_seeded_and_learnable():
    a, b = D.synthetic_tokens(1, 20000), D.synthetic_tokens(1, 20000)
    assert np.array_equal(a, b) and not np.array_equal(a, D.synthetic_tokens(2, 20000))
    assert a.dtype == np.uint16 and a.max() < 1024
    # bigram structure: the most frequent successor of a token carries about half the mass
    pairs = {}
    for x, y in zip(a[:-1].tolist(), a[1:].tolist()):
        pairs.setdefault(x, []).append(y)
    top = np.mean([np.bincount(v).max() / len(v) for v in pairs.values() if len(v) >= 20])
    assert 0.35 < top < 0.7


def test_synthetic_mnli_schema_and_balance():
    rows = D.synthetic_mnli(3, 600)
    assert rows == D.synthetic_mnli(3, 600)
    assert set(rows[0]) == {"premise", "hypothesis", "label", "idx"}
    counts = np.bincount([r["label"] for r in rows], minlength=3)
    assert counts.min() > 150
    assert all(isinstance(r["premise"], str) and r["hypothesis"] for r in rows)


def test_hub_failure_names_dataset_hub_id_and_local_path(nlp_home, monkeypatch):
    from mlgym_core import get_task, make_task

    monkeypatch.delenv("MLGYM_DATA_DIR", raising=False)
    task = make_task(get_task("languageModelingFineWeb"), "full")
    with pytest.raises(D.DataUnavailableError) as err:
        task.prepare()
    msg = str(err.value)
    assert "'fineweb'" in msg and "HuggingFaceFW/fineweb" in msg and "$MLGYM_DATA_DIR/fineweb/" in msg
    assert "\n" not in msg
    task = make_task(get_task("naturalLanguageInferenceMNLI"), "full")
    with pytest.raises(D.DataUnavailableError, match=r"'mnli'.*MLGYM_DATA_DIR/mnli/.*nyu-mll/multi_nli"):
        task.prepare()
    leftovers = [p for p in (nlp_home / "tasks_nlp").rglob("*") if p.suffix != ".lock"]
    assert leftovers == [nlp_home / "tasks_nlp" / d for d in ("fineweb", "mnli")], "a failed prepare left files"


def _byte_level_tiktoken(path):
    """A real tiktoken rank file with the 256 single-byte tokens only (GPT-2's cannot be downloaded here)."""
    path.write_text("".join(f"{base64.b64encode(bytes([i])).decode()} {i}\n" for i in range(256)))
    return path


def test_data_prepare_tokenizes_local_text_into_shards(tmp_path, cli):
    local = tmp_path / "local"
    texts = [f"Document {i}: the quick brown fox jumps over the lazy dog. " * (1 + i % 3) for i in range(60)]
    (local / "fineweb").mkdir(parents=True)
    with open(local / "fineweb" / "part0.jsonl", "w") as f:
        for t in texts:
            f.write(json.dumps({"text": t}) + "\n")
    env = {"MLGYM_HOME": str(tmp_path / "home"), "MLGYM_DATA_DIR": str(local),
           "MLGYM_GPT2_TIKTOKEN": str(_byte_level_tiktoken(tmp_path / "bytes.tiktoken"))}
    res = cli("data", "prepare", "languageModelingFineWeb", "--scale", "full", "-o", "val_tokens=1000",
              "-o", "shard_tokens=2000", "-o", "train_shards=2", env=env)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    agent = sorted(p.name for p in (tmp_path / out["data_dir"]).joinpath("fineweb10B").iterdir())
    grader_dir = tmp_path / "home" / "tasks_nlp" / "fineweb" / "full" / "grader" / "fineweb10B"
    assert agent == ["fineweb_train_000001.bin", "fineweb_train_000002.bin"]
    assert sorted(p.name for p in grader_dir.iterdir()) == ["fineweb_val_000000.bin"]
    val = D.read_shard(grader_dir / "fineweb_val_000000.bin")
    train = D.read_shard(tmp_path / out["data_dir"] / "fineweb10B" / "fineweb_train_000001.bin")
    assert len(val) == 1000 and len(train) == 2000
    eot = 256  # the end-of-text id of a 256-token vocabulary
    assert val[0] == eot
    first_doc = bytes(int(t) for t in val[1:1 + len(texts[0].encode())]).decode()
    assert first_doc == texts[0]
    meta = json.loads((grader_dir.parent / "meta.json").read_text())
    assert meta["scale"] == "full" and meta["source"].startswith("text:")


def test_full_scale_uses_local_shards_and_keeps_validation_from_the_agent(tmp_path, monkeypatch):
    from mlgym_core import get_task, make_task

    src = tmp_path / "local" / "fineweb" / "fineweb10B"
    D.write_shard(src / "fineweb_val_000000.bin", np.arange(5000) % 50257)
    D.write_shard(src / "fineweb_train_000001.bin", np.arange(8000) % 50257)
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "local"))
    monkeypatch.setenv("MLGYM_HOME", str(tmp_path / "home"))
    task = make_task(get_task("languageModelingFineWeb"), "full")
    task.prepare()
    agent = {p.name for p in task.data_dir().rglob("*.bin")}
    graded = {p.name for p in task.grader_binds()["/home/agent/workspace/data"].rglob("*.bin")}
    assert agent == {"fineweb_train_000001.bin"} and graded == {"fineweb_val_000000.bin"}


def test_mnli_full_from_local_copy(tmp_path, monkeypatch):
    from mlgym_core import get_task, make_task

    local = tmp_path / "local"
    for split, seed in (("train", 1), ("validation_matched", 2), ("validation_mismatched", 3)):
        rows = D.synthetic_mnli(seed, 30) + [{"premise": "x", "hypothesis": "y", "label": -1}]
        D.write_jsonl(local / "mnli" / f"{split}.jsonl", rows)
    monkeypatch.setenv("MLGYM_DATA_DIR", str(local))
    monkeypatch.setenv("MLGYM_HOME", str(tmp_path / "home"))
    task = make_task(get_task("naturalLanguageInferenceMNLI"), "full")
    with pytest.raises(D.DataUnavailableError, match=r"'bert-base-uncased'.*MLGYM_DATA_DIR/bert-base-uncased/"):
        task.prepare()
    (local / "bert-base-uncased").mkdir()
    (local / "bert-base-uncased" / "config.json").write_text("{}")
    task.prepare()
    agent, grader = task.data_dir(), task.grader_binds()["/home/agent/workspace/data"]
    assert sorted(p.name for p in agent.glob("*.jsonl")) == ["train.jsonl", "validation_mismatched.jsonl"]
    assert sorted(p.name for p in grader.glob("*.jsonl")) == ["validation_matched.jsonl"]
    assert len(D.read_jsonl(agent / "train.jsonl")) == 30  # the unlabelled row is dropped
    assert (agent / "bert-base-uncased" / "config.json").is_file()
