"""Benchmark ``memory_read`` over 10,000 stored records, including the query's embedding.

Fills a LanceDB memory store (mlgym-tools) with 10,000 records (synthetic texts with unit-length
384-d vectors; writing 10,000 real embeddings would only slow the set-up), then times reads of
real queries embedded with all-MiniLM-L6-v2:
  * service: the full tool path minus the client's interpreter start: a request over the unix socket
    to the host-side MemoryService (embedding + LanceDB cosine top-2 + formatting);
  * store: MemoryStore.read in process.
Baseline, measured in the same run: MLGym's design, a memory.json holding texts and embeddings that
every memory_read loads and scans with numpy cosine similarity (model already loaded, which favours
the baseline: upstream also reloads the model in every call).
Target: median < 100 ms. Run: ``python benchmarks/bench_memory.py [--records 10000] [--reads 40]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

QUERIES = ["which learning rate worked best", "did dropout help on fashion mnist", "battle of sexes strategy",
           "batch size and training time", "what was the validation accuracy of the resnet",
           "ideas that did not work", "tokenizer settings for the language model", "best score so far"]


def median_ms(fn, n: int) -> float:
    times = []
    for i in range(n):
        q = QUERIES[i % len(QUERIES)] + f" #{i}"
        t0 = time.perf_counter()
        fn(q)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--reads", type=int, default=40)
    args = ap.parse_args()

    import numpy as np

    from mlgym_tools import tools
    from mlgym_tools.memory import MemoryService, MemoryStore, format_read, make_embedder

    tmp = Path(tempfile.mkdtemp(prefix="mb-"))
    try:
        t0 = time.perf_counter()
        emb = make_embedder()
        print(f"embedder loaded in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        rng = np.random.default_rng(0)
        vecs = rng.standard_normal((args.records, emb.dim)).astype("float32")
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        texts = [f"finding {i}: setting {i % 97} gave score {rng.random():.3f}" for i in range(args.records)]
        tags = [" ".join(t.split()[:3]) for t in texts]
        store = MemoryStore(tmp / "mem" / "benchTask", emb)
        store.add_rows([{"text": t, "tag": g, "vector": v.tolist(), "created": 0.0}
                        for t, g, v in zip(texts, tags, vecs)])
        assert store.footer()["records"] == args.records

        # baseline: MLGym's memory.json, loaded and scanned on every read
        mfile = tmp / "memory.json"
        mfile.write_text(json.dumps({"texts": texts, "embeddings": vecs.tolist(), "tags": tags}))

        def baseline_read(q: str) -> str:
            data = json.loads(mfile.read_text())
            e = np.asarray(data["embeddings"], dtype="float32")
            qv = emb.encode([q])[0]
            sims = (e @ qv) / (np.linalg.norm(e, axis=1) * np.linalg.norm(qv))
            top = np.argsort(sims)[-2:][::-1]
            return format_read(q, [(data["texts"][i], float(sims[i])) for i in top])

        svc = MemoryService(task_id="benchTask", socket_dir=tmp / "sock", options={"memory_dir": str(tmp / "mem")})
        sys.path.insert(0, str(tools.SCRIPTS))
        import _mlgym_client

        os.environ["MLGYM_SERVICES_DIR"] = str(tmp / "sock")
        assert _mlgym_client.call("memory", "read", query="warm up")["ok"]
        store.read("warm up")
        baseline_read("warm up")

        service_ms = median_ms(lambda q: _mlgym_client.call("memory", "read", query=q), args.reads)
        store_ms = median_ms(lambda q: store.read(q), args.reads)
        embed_ms = median_ms(lambda q: emb.encode([q]), args.reads)
        base_ms = median_ms(baseline_read, max(5, args.reads // 4))
        svc.close()
        print(f"memory_read over {args.records:,} records, median of {args.reads} (query embedding included):")
        print(f"  service (unix socket -> MemoryService -> LanceDB): {service_ms:7.1f} ms   target < 100 ms: "
              f"{'PASS' if service_ms < 100 else 'FAIL'}")
        print(f"  store   (MemoryStore.read in process)            : {store_ms:7.1f} ms")
        print(f"  of which query embedding (all-MiniLM-L6-v2)      : {embed_ms:7.1f} ms")
        print(f"  baseline (MLGym memory.json load + numpy scan)   : {base_ms:7.1f} ms")
        print(f"  ratio baseline / service: {base_ms / service_ms:.1f}x faster")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
