"""The data-preparation service: one build per key across processes, nothing half-published, fast hub checks."""

from __future__ import annotations

import http.server
import multiprocessing
import os
import signal
import socket
import stat
import threading

import pytest

from mlgym_core import DataSource, DataUnavailableError, datacache

KEY = "demo/dataset-v1"
FILES = 40


def _build(log: str, root) -> None:
    """A builder that leaves a trace of each run and writes many files (a window for a racing reader)."""
    with open(log, "a") as f:
        f.write(f"{os.getpid()}\n")
    for i in range(FILES):
        (root / "agent" / f"part{i:03d}.txt").write_text(f"row {i}\n" * 200)
    (root / "grader" / "labels.txt").write_text("".join(f"{i}\n" for i in range(FILES)))


def _prepare_after(barrier, log: str, results) -> None:
    barrier.wait()
    results.put(str(datacache.prepare(KEY, lambda root: _build(log, root))))


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGYM_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_eight_concurrent_preparations_build_once(home, tmp_path):
    ctx = multiprocessing.get_context("fork")
    barrier, results, log = ctx.Barrier(8), ctx.Queue(), str(tmp_path / "builds.log")
    procs = [ctx.Process(target=_prepare_after, args=(barrier, log, results)) for _ in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 8
    paths = {results.get(timeout=5) for _ in procs}
    final = home / KEY
    assert paths == {str(final)}
    assert len(open(log).read().split()) == 1, "the builder ran more than once"
    assert datacache.complete(final)
    assert sorted(p.name for p in (final / "agent").iterdir()) == [f"part{i:03d}.txt" for i in range(FILES)]
    assert all(p.read_text() == f"row {int(p.stem[4:])}\n" * 200 for p in (final / "agent").iterdir())
    assert (final / "grader" / "labels.txt").read_text().count("\n") == FILES
    assert sorted(p.name for p in final.parent.iterdir()) == [".dataset-v1.lock", "dataset-v1"]
    assert stat.S_IMODE(final.stat().st_mode) == 0o755  # readable by the sandbox's user


def test_a_failing_builder_publishes_nothing_and_the_next_call_rebuilds(home, tmp_path):
    def broken(root):
        (root / "agent" / "half.txt").write_text("half")
        raise RuntimeError("network went away")

    with pytest.raises(RuntimeError, match="network went away"):
        datacache.prepare(KEY, broken)
    assert not (home / KEY).exists()
    assert [p.name for p in (home / KEY).parent.iterdir()] == [".dataset-v1.lock"]
    final = datacache.prepare(KEY, lambda root: _build(str(tmp_path / "log"), root))
    assert datacache.complete(final) and not (final / "agent" / "half.txt").exists()
    assert len(list((final / "agent").iterdir())) == FILES


def _killed_while_building(root) -> None:
    (root / "agent" / "half.txt").write_text("half")
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_builder_leaves_a_staging_folder_that_the_next_build_removes(home, tmp_path):
    ctx = multiprocessing.get_context("fork")
    p = ctx.Process(target=datacache.prepare, args=(KEY, _killed_while_building))
    p.start()
    p.join(60)
    assert p.exitcode == -signal.SIGKILL
    parent = home / KEY
    assert not parent.exists() and any(n.name.endswith(".staging") for n in parent.parent.iterdir())
    final = datacache.prepare(KEY, lambda root: _build(str(tmp_path / "log"), root))  # the lock was released
    assert datacache.complete(final)
    assert sorted(p.name for p in final.parent.iterdir()) == [".dataset-v1.lock", "dataset-v1"]


def test_force_replaces_a_complete_folder(home, tmp_path):
    first = datacache.prepare(KEY, lambda root: (root / "agent" / "v").write_text("1"))
    assert datacache.prepare(KEY, lambda root: (root / "agent" / "v").write_text("2")) == first
    assert (first / "agent" / "v").read_text() == "1"  # complete: not rebuilt
    datacache.prepare(KEY, lambda root: (root / "agent" / "v").write_text("2"), force=True)
    assert (first / "agent" / "v").read_text() == "2"
    assert sorted(p.name for p in first.parent.iterdir()) == [".dataset-v1.lock", "dataset-v1"]


def test_data_is_readable_by_the_sandbox_users_under_a_strict_umask_and_secrets_are_not(home):
    def build(root):
        (root / "agent" / "sub").mkdir()
        (root / "agent" / "sub" / "train.csv").write_text("x\n")
        (root / "grader" / "answer.csv").write_text("y\n")
        datacache.write_secret(root / "seed")

    old = os.umask(0o077)
    try:
        final = datacache.prepare(KEY, build)
    finally:
        os.umask(old)
    for path in (final, final / "agent", final / "agent" / "sub", final / "grader"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o555 == 0o555, path
    for path in (final / "agent" / "sub" / "train.csv", final / "grader" / "answer.csv"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o444 == 0o444, path
    assert stat.S_IMODE((final / "seed").stat().st_mode) == 0o600


def test_secrets_are_private_to_the_owner(tmp_path):
    value = datacache.write_secret(tmp_path / "seed")
    assert len(value) == 32 and datacache.read_secret(tmp_path / "seed") == value
    assert stat.S_IMODE((tmp_path / "seed").stat().st_mode) == 0o600
    assert datacache.write_secret(tmp_path / "other") != value
    with pytest.raises(FileExistsError):
        datacache.write_secret(tmp_path / "seed")


# -- where raw data comes from -----------------------------------------------------------------------------
SOURCE = DataSource(dataset="demo", layout="train.csv", files=("train.csv",), hub="someone/demo",
                    hint="run with --scale smoke")


@pytest.fixture
def no_probe_cache(monkeypatch):
    monkeypatch.setattr(datacache, "_probes", {})
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "MLGYM_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)


def _never_called():
    raise AssertionError("the hub client was called")


def test_offline_hub_fails_at_once_with_what_to_set(no_probe_cache, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataUnavailableError) as err:
        datacache.require(SOURCE)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("dataset 'demo': no local copy at $MLGYM_DATA_DIR/demo/")
    assert "HF_HUB_OFFLINE=1" in msg and "MLGYM_DATA_DIR=/path so that /path/demo/ holds train.csv" in msg
    assert "--scale smoke" in msg
    (tmp_path / "demo").mkdir()
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path))
    with pytest.raises(DataUnavailableError, match=r"demo lacks train\.csv and the Hugging Face hub is switched"):
        datacache.require(SOURCE)
    (tmp_path / "demo" / "train.csv").write_text("x\n")
    datacache.require(SOURCE)
    assert datacache.local_dir(SOURCE) == tmp_path / "demo"


def test_an_unreachable_hub_is_never_called(no_probe_cache, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connections are refused
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(DataUnavailableError, match=r"does not answer at http://127\.0\.0\.1.*network access"):
        datacache.from_hub(SOURCE, _never_called)


def test_a_silent_hub_costs_one_probe(no_probe_cache, monkeypatch):
    with socket.socket() as srv:  # accepts connections (backlog) and never answers
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{srv.getsockname()[1]}")
        with pytest.raises(DataUnavailableError, match="does not answer"):
            datacache.from_hub(SOURCE, _never_called)
        with pytest.raises(DataUnavailableError, match="does not answer"):
            datacache.require(SOURCE)  # remembered: no second wait


class _Hub(http.server.BaseHTTPRequestHandler):
    """Knows one dataset, someone/demo."""

    def do_GET(self):  # noqa: N802
        self.send_response(200 if self.path == "/api/datasets/someone/demo" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hub(no_probe_cache, monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    yield
    server.shutdown()
    server.server_close()


def test_an_answering_hub_is_used_and_its_errors_are_one_line(hub):
    assert datacache.hub_problem(SOURCE) is None
    datacache.require(SOURCE)
    assert datacache.from_hub(SOURCE, lambda: "fetched") == "fetched"

    def failing():
        raise OSError("repository not found\nsecond line")

    with pytest.raises(DataUnavailableError) as err:
        datacache.from_hub(SOURCE, failing)
    assert "\n" not in str(err.value) and "'someone/demo'" in str(err.value)
    assert "OSError: repository not found" in str(err.value)


def test_a_hub_without_the_repository_is_never_called(hub):
    gone = DataSource(dataset="gone", layout="x.csv", hub="someone/gone")
    with pytest.raises(DataUnavailableError, match=r"answers HTTP 404 for http://127\.0\.0\.1:\d+/api/datasets/"):
        datacache.from_hub(gone, _never_called)
    with pytest.raises(DataUnavailableError, match="HTTP 404"):
        datacache.require(gone)
