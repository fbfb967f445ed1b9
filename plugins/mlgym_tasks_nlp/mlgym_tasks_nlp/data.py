"""Datasets of the NLP pack: modded-nanogpt token shards (FineWeb) and MNLI sentence pairs.

Where data comes from, in order:

1. the cache ``data_home()/tasks_nlp/<dataset>/<variant>/`` (prepared once through core's
   :mod:`mlgym_core.datacache`, reused by episodes);
2. a local copy ``MLGYM_DATA_DIR/<dataset id>/`` standing in for the hub (same layout as the hub);
3. the Hugging Face hub (``HuggingFaceFW/fineweb`` sample-10BT, ``nyu-mll/multi_nli``), through the
   ``datasets`` library (extra ``mlgym-tasks-nlp[data]``).

``--scale smoke`` uses seeded synthetic generators with the same schema and shapes instead.
Only numpy is imported at module level; ``datasets`` and ``tiktoken`` are imported where used.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mlgym_core import DataSource, DataUnavailableError, MlgymError, datacache

MAGIC = 20240520
VERSION = 1
HEADER_INTS = 256
EOT = 50256
FINEWEB_HUB = "HuggingFaceFW/fineweb"
FINEWEB_CONFIG = "sample-10BT"
MNLI_HUB = "nyu-mll/multi_nli"
BERT_HUB = "google-bert/bert-base-uncased"
LABELS = ("entailment", "neutral", "contradiction")
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
SMOKE_HINT = "use --scale smoke for synthetic data"

FINEWEB = DataSource(dataset="fineweb", hub=FINEWEB_HUB, hint=SMOKE_HINT,
                     layout="fineweb10B/fineweb_{train,val}_*.bin shards or *.jsonl texts")
MNLI = DataSource(dataset="mnli", hub=MNLI_HUB, hint=SMOKE_HINT, layout=(
    "train.jsonl, validation_matched.jsonl, validation_mismatched.jsonl with premise/hypothesis/label"))
BERT = DataSource(dataset="bert-base-uncased", hub=BERT_HUB, hub_kind="model",
                  layout="config.json, model.safetensors, vocab.txt, tokenizer_config.json")


def local_root(dataset: str) -> Path | None:
    """``MLGYM_DATA_DIR/<dataset>`` when that folder exists."""
    return datacache.local_dir(dataset)


# -- token shards --------------------------------------------------------------------------
def write_shard(path: Path, tokens: Any) -> Path:
    """Write a modded-nanogpt shard: 256 int32 header (magic, version, count), then uint16 tokens."""
    toks = np.asarray(tokens)
    if toks.size and (toks.min() < 0 or toks.max() >= 2 ** 16):
        raise ValueError(f"{path}: token ids must lie in [0, 65535]")
    header = np.zeros(HEADER_INTS, dtype=np.int32)
    header[0], header[1], header[2] = MAGIC, VERSION, toks.size
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(toks.astype(np.uint16).tobytes())
    return path


def read_shard(path: Path) -> np.ndarray:
    """The tokens of a shard (uint16 memmap); a malformed file raises ValueError naming it."""
    header = np.fromfile(path, dtype=np.int32, count=HEADER_INTS)
    if header.size < HEADER_INTS or header[0] != MAGIC:
        raise ValueError(f"{path}: not a token shard (magic number {header[0] if header.size else None} "
                         f"!= {MAGIC})")
    if header[1] != VERSION:
        raise ValueError(f"{path}: unsupported shard version {header[1]}")
    n = int(header[2])
    size = os.path.getsize(path)
    if size != HEADER_INTS * 4 + 2 * n:
        raise ValueError(f"{path}: header says {n} tokens but the file holds {(size - HEADER_INTS * 4) // 2}")
    return np.memmap(path, dtype=np.uint16, mode="r", offset=HEADER_INTS * 4, shape=(n,))


def synthetic_tokens(seed: int, count: int, vocab: int = 1024) -> np.ndarray:
    """A seeded first-order Markov chain over ``vocab`` token ids (documents start with id 0).

    Each token has four likely successors (0.5, 0.25, 0.1, 0.05) and 10 % uniform noise, so a
    model that learns bigrams gets a loss near 1.9 nats; a uniform guess gets ln(vocab).
    """
    table = np.random.default_rng(1234).integers(1, vocab, size=(vocab, 4))  # the "language": fixed
    probs = np.array([0.5, 0.25, 0.1, 0.05, 0.1])
    rng = np.random.default_rng(seed)
    choice = rng.choice(5, size=count, p=probs)
    noise = rng.integers(1, vocab, size=count)
    doc_start = rng.random(count) < 1 / 400
    out = np.empty(count, dtype=np.uint16)
    prev = 0
    for i in range(count):
        if doc_start[i]:
            tok = 0
        elif choice[i] == 4:
            tok = noise[i]
        else:
            tok = table[prev, choice[i]]
        out[i] = tok
        prev = tok
    return out


def gpt2_encoding() -> Any:
    """tiktoken's GPT-2 encoding: from ``MLGYM_GPT2_TIKTOKEN`` / ``MLGYM_DATA_DIR/gpt2/gpt2.tiktoken``
    (a local BPE rank file, tiktoken's own format), else tiktoken's download (needs network)."""
    try:
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe
    except ImportError as exc:
        raise MlgymError("the GPT-2 tokenizer needs tiktoken: pip install 'mlgym-tasks-nlp[data]'") from exc
    path = os.environ.get("MLGYM_GPT2_TIKTOKEN")
    if not path and os.environ.get("MLGYM_DATA_DIR"):
        cand = Path(os.environ["MLGYM_DATA_DIR"]) / "gpt2" / "gpt2.tiktoken"
        path = str(cand) if cand.is_file() else None
    if path:
        if not Path(path).is_file():
            raise MlgymError(f"MLGYM_GPT2_TIKTOKEN={path}: no such file")
        ranks = load_tiktoken_bpe(path)
        return tiktoken.Encoding(name="gpt2-local", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                                 special_tokens={"<|endoftext|>": len(ranks)})
    try:
        return tiktoken.get_encoding("gpt2")
    except Exception as exc:
        raise DataUnavailableError(
            f"the GPT-2 BPE file could not be downloaded by tiktoken ({type(exc).__name__}). Put tiktoken's "
            "gpt2.tiktoken rank file at $MLGYM_DATA_DIR/gpt2/gpt2.tiktoken or name it with MLGYM_GPT2_TIKTOKEN."
        ) from None


def _local_texts(root: Path) -> Iterator[str]:
    files = sorted(p for p in root.rglob("*") if p.suffix in (".jsonl", ".parquet") and p.is_file())
    if not files:
        raise MlgymError(f"{root}: no *.jsonl or *.parquet files with a 'text' field")
    for p in files:
        if p.suffix == ".jsonl":
            with open(p, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            yield json.loads(line)["text"]
                        except (ValueError, KeyError, TypeError):
                            raise MlgymError(f"{p}:{n}: expected a JSON object with a 'text' field") from None
        else:
            try:
                import pyarrow.parquet as pq
            except ImportError as exc:
                raise MlgymError(f"{p}: reading parquet needs pyarrow (pip install 'mlgym-tasks-nlp[data]')") \
                    from exc
            for batch in pq.ParquetFile(p).iter_batches(columns=["text"]):
                yield from batch.column(0).to_pylist()


def _hub_texts() -> Iterator[str]:
    """FineWeb documents streamed from the hub; fails here (not at the first next()) when unreachable."""
    def first_row() -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
        import datasets

        it = iter(datasets.load_dataset(FINEWEB_HUB, name=FINEWEB_CONFIG, split="train", streaming=True))
        return next(it), it

    first, it = datacache.from_hub(FINEWEB, first_row)

    def gen() -> Iterator[str]:
        yield first["text"]
        for row in it:
            yield row["text"]

    return gen()


def _encoded_docs(enc: Any, texts: Iterable[str], eot: int, batch: int = 1024) -> Iterator[np.ndarray]:
    """Each document as uint16 ids prefixed with <|endoftext|>, encoded in batches on all cores."""
    threads = os.cpu_count() or 1
    pending: list[str] = []
    for text in texts:
        pending.append(text)
        if len(pending) == batch:
            for ids in enc.encode_ordinary_batch(pending, num_threads=threads):
                yield np.array([eot, *ids], dtype=np.uint16)
            pending = []
    for ids in enc.encode_ordinary_batch(pending, num_threads=threads) if pending else ():
        yield np.array([eot, *ids], dtype=np.uint16)


def tokenize_to_shards(texts: Iterable[str], out: Path, *, val_tokens: int, shard_tokens: int,
                       train_shards: int, encoding: Any = None) -> dict[str, Any]:
    """Tokenize documents (each prefixed with <|endoftext|>) into ``fineweb_val_000000.bin`` (the
    first ``val_tokens`` tokens) then ``fineweb_train_%06d.bin`` shards, as modded-nanogpt does."""
    enc = encoding or gpt2_encoding()
    eot = enc.eot_token
    buf = np.empty(max(val_tokens, shard_tokens), dtype=np.uint16)
    fill, index, written = 0, 0, []
    target = val_tokens
    for toks in _encoded_docs(enc, texts, eot):
        while toks.size:
            take = min(target - fill, toks.size)
            buf[fill:fill + take] = toks[:take]
            fill += take
            toks = toks[take:]
            if fill == target:
                name = "fineweb_val_000000.bin" if index == 0 else f"fineweb_train_{index:06d}.bin"
                written.append(write_shard(out / name, buf[:fill]).name)
                index, fill, target = index + 1, 0, shard_tokens
                if index > train_shards:
                    return {"shards": written, "vocab_size": enc.n_vocab}
    if fill and index > 0:
        written.append(write_shard(out / f"fineweb_train_{index:06d}.bin", buf[:fill]).name)
    if index == 0:
        raise MlgymError(f"the text source ran out before {val_tokens} validation tokens")
    return {"shards": written, "vocab_size": enc.n_vocab}


# -- MNLI ------------------------------------------------------------------------------------
_SUBJECTS = "the man|a woman|the child|my friend|the doctor|a teacher|the dog|our team|the pilot|a farmer".split("|")
_VERBS = "walks|reads|sings|cooks|paints|drives|swims|writes|plays|sleeps|runs|builds".split("|")
_PLACES = ("in the park|at home|on the beach|in the city|near the river|at school|in the kitchen|"
           "on the train|in the garden|at the office").split("|")
_TIMES = "today|at night|every morning|on sunday|after lunch|in winter".split("|")


def synthetic_mnli(seed: int, count: int) -> list[dict[str, Any]]:
    """Seeded premise/hypothesis/label triples (label 0 entailment, 1 neutral, 2 contradiction).

    Entailment restates part of the premise; contradiction negates it or swaps its verb; neutral
    adds a detail the premise does not mention. 5 % of labels are flipped at random.
    """
    rng = np.random.default_rng(seed)
    pick = lambda xs: xs[int(rng.integers(len(xs)))]  # noqa: E731
    rows = []
    for i in range(count):
        s, v, p, t = pick(_SUBJECTS), pick(_VERBS), pick(_PLACES), pick(_TIMES)
        premise = f"{s} {v} {p} {t} ."
        label = int(rng.integers(3))
        if label == 0:
            hyp = pick([f"{s} {v} .", f"{s} {v} {p} .", f"someone {v} {t} ."])
        elif label == 2:
            other = pick([x for x in _VERBS if x != v])
            hyp = pick([f"{s} never {v} .", f"{s} does not {v[:-1]} {p} .", f"{s} {other} instead ."])
        else:
            hyp = pick([f"{s} {v} with {pick(_SUBJECTS)} .", f"{s} {v} because it is {pick(['fun', 'required'])} .",
                        f"{s} is tired {t} ."])
        if rng.random() < 0.05:
            label = int(rng.integers(3))
        rows.append({"premise": premise, "hypothesis": hyp, "label": label, "idx": i})
    return rows


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
            n += 1
    return n


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    raise MlgymError(f"{path}:{n}: not valid JSON") from None
    return rows


MNLI_SPLITS = ("train", "validation_matched", "validation_mismatched")


def mnli_split(split: str) -> list[dict[str, Any]]:
    """One split of real MNLI: ``MLGYM_DATA_DIR/mnli/<split>.jsonl`` (or .parquet), else the hub.

    Rows are {premise, hypothesis, label} with labels 0/1/2; unlabelled rows (-1) are dropped.
    """
    local = local_root("mnli")
    if local is not None:
        for ext in (".jsonl", ".parquet"):
            p = local / f"{split}{ext}"
            if p.is_file():
                rows = read_jsonl(p) if ext == ".jsonl" else _parquet_rows(p)
                break
        else:
            raise datacache.unavailable(MNLI, f"{local} has no {split}.jsonl or {split}.parquet")
    else:
        def load() -> list[dict[str, Any]]:
            import datasets

            return list(datasets.load_dataset(MNLI_HUB, split=split))

        rows = datacache.from_hub(MNLI, load)
    out = []
    for i, r in enumerate(rows):
        try:
            lab = int(r["label"])
            if lab in (0, 1, 2):
                out.append({"premise": str(r["premise"]), "hypothesis": str(r["hypothesis"]), "label": lab,
                            "idx": i})
        except (KeyError, TypeError, ValueError):
            raise MlgymError(f"mnli split '{split}', row {i}: expected premise, hypothesis and label") from None
    return out


def _parquet_rows(p: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MlgymError(f"{p}: reading parquet needs pyarrow (pip install 'mlgym-tasks-nlp[data]')") from exc
    return pq.read_table(p).to_pylist()


def bert_base_uncased(dest: Path) -> Path:
    """Copy bert-base-uncased (config, weights, vocab) to ``dest`` from MLGYM_DATA_DIR/bert-base-uncased/
    or the hub (huggingface_hub)."""
    local = local_root("bert-base-uncased")
    if local is None:
        def download() -> Path:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(BERT_HUB, allow_patterns=[
                "config.json", "model.safetensors", "vocab.txt", "tokenizer.json", "tokenizer_config.json"]))

        local = datacache.from_hub(BERT, download)
    shutil.copytree(local, dest, dirs_exist_ok=True)
    return dest
