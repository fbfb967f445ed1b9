"""Task classes of the NLP pack: data preparation per scale, and what the agent vs. the grader sees.

The agent's ``data/`` never holds what is scored: FineWeb validation shards and MNLI
``validation_matched`` (with its labels) are bound only into the grading sandbox.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from mlgym_core import WORKSPACE, DataSource, MlgymError, Task, data_home, datacache

from . import data as D

SMOKE_VERSION = "smoke-v1"


def _meta(folder: Path, **fields: Any) -> None:
    (folder / "meta.json").write_text(json.dumps(fields, indent=1) + "\n")


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)  # a bind mount cannot follow a symlink out of the folder
    except OSError:
        shutil.copyfile(src, dst)


class _NlpTask(Task):
    dataset = ""

    def _key(self) -> str:
        return f"tasks_nlp/{self.dataset}/{SMOKE_VERSION if self.scale == 'smoke' else 'full'}"

    def _root(self) -> Path:
        return data_home() / self._key()

    def data_dir(self) -> Path:
        return self._root() / datacache.AGENT

    def grader_data(self) -> Path:
        return self._root() / datacache.GRADER

    def grader_binds(self) -> dict[str, Path]:
        return {f"{WORKSPACE}/data": self.grader_data()}

    def prepared(self) -> bool:
        return datacache.complete(self._root())

    def data_sources(self) -> list[DataSource]:
        return [] if self.scale == "smoke" or self.prepared() else self._sources()

    def prepare(self, **options: Any) -> None:
        force = bool(options.pop("force", False))

        def build(root: Path) -> None:
            agent, grader = root / datacache.AGENT, root / datacache.GRADER
            if self.scale == "smoke":
                self._smoke(agent, grader)
            else:
                self._full(agent, grader, **options)

        datacache.prepare(self._key(), build, force=force)

    def _sources(self) -> list[DataSource]:
        raise NotImplementedError

    def _smoke(self, agent: Path, grader: Path) -> None:
        raise NotImplementedError

    def _full(self, agent: Path, grader: Path, **options: Any) -> None:
        raise NotImplementedError


class FineWebTask(_NlpTask):
    """languageModelingFineWeb: train shards for the agent, validation shards for the grader."""

    dataset = "fineweb"
    SMOKE = {"vocab_size": 1024, "train_tokens": 400_000, "val_tokens": 16_384, "seq_len": 128}

    def _sources(self) -> list[DataSource]:
        return [D.FINEWEB]

    def _smoke(self, agent: Path, grader: Path) -> None:
        s = self.SMOKE
        D.write_shard(agent / "fineweb10B" / "fineweb_train_000001.bin",
                      D.synthetic_tokens(1, s["train_tokens"], s["vocab_size"]))
        D.write_shard(grader / "fineweb10B" / "fineweb_val_000000.bin",
                      D.synthetic_tokens(2, s["val_tokens"] + 1000, s["vocab_size"]))
        common = dict(scale="smoke", source="synthetic", vocab_size=s["vocab_size"], seq_len=s["seq_len"])
        _meta(agent, **common)
        _meta(grader, **common, val_tokens=s["val_tokens"])

    def _full(self, agent: Path, grader: Path, *, train_shards: int = 24, shard_tokens: int = 100_000_000,
              val_tokens: int = 100_000_000, **_: Any) -> None:
        local = D.local_root("fineweb")
        shards = sorted(local.rglob("fineweb_*.bin")) if local is not None else []
        if shards:
            source = f"local:{local}"
        else:
            texts = D._local_texts(local) if local is not None else D._hub_texts()
            source = f"text:{local}" if local is not None else f"hf:{D.FINEWEB_HUB}/{D.FINEWEB_CONFIG}"
            staging = agent.parent / "tokenized"
            D.tokenize_to_shards(texts, staging, val_tokens=int(val_tokens), shard_tokens=int(shard_tokens),
                                 train_shards=int(train_shards))
            shards = sorted(staging.glob("fineweb_*.bin"))
        val = [p for p in shards if p.name.startswith("fineweb_val_")]
        train = [p for p in shards if p.name.startswith("fineweb_train_")]
        if not val or not train:
            raise MlgymError(f"dataset 'fineweb' ({source}): need fineweb_train_*.bin and fineweb_val_*.bin shards, "
                             f"found {len(train)} train and {len(val)} validation")
        for p in train:
            D.read_shard(p)
            _link_or_copy(p, agent / "fineweb10B" / p.name)
        for p in val:
            D.read_shard(p)
            _link_or_copy(p, grader / "fineweb10B" / p.name)
        shutil.rmtree(agent.parent / "tokenized", ignore_errors=True)
        common = dict(scale="full", source=source, vocab_size=50304, seq_len=1024)
        _meta(agent, **common)
        _meta(grader, **common, val_tokens=10_485_760)


class MnliTask(_NlpTask):
    """naturalLanguageInferenceMNLI: train + validation_mismatched (labelled) for the agent;
    validation_matched (the scored split) only for the grader."""

    dataset = "mnli"
    SMOKE = {"train": 2400, "validation_mismatched": 300, "validation_matched": 600}

    def _sources(self) -> list[DataSource]:
        return [D.MNLI, D.BERT]

    def _smoke(self, agent: Path, grader: Path) -> None:
        s = self.SMOKE
        D.write_jsonl(agent / "train.jsonl", D.synthetic_mnli(11, s["train"]))
        D.write_jsonl(agent / "validation_mismatched.jsonl", D.synthetic_mnli(12, s["validation_mismatched"]))
        D.write_jsonl(grader / "validation_matched.jsonl", D.synthetic_mnli(13, s["validation_matched"]))
        _meta(agent, scale="smoke", source="synthetic", tokenizer="hash")
        _meta(grader, scale="smoke", source="synthetic", tokenizer="hash")

    def _full(self, agent: Path, grader: Path, **_: Any) -> None:
        D.write_jsonl(agent / "train.jsonl", D.mnli_split("train"))
        D.write_jsonl(agent / "validation_mismatched.jsonl", D.mnli_split("validation_mismatched"))
        D.write_jsonl(grader / "validation_matched.jsonl", D.mnli_split("validation_matched"))
        D.bert_base_uncased(agent / "bert-base-uncased")
        D.bert_base_uncased(grader / "bert-base-uncased")
        src = "local" if D.local_root("mnli") else f"hf:{D.MNLI_HUB}"
        _meta(agent, scale="full", source=src, tokenizer="bert-base-uncased")
        _meta(grader, scale="full", source=src, tokenizer="bert-base-uncased")
