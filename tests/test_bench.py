"""``mlgym bench``: ledger, lock, resume after a real kill, total cost limit, GPU sharing, local and Ray executors.

The end-to-end tests run the real CLI in a subprocess on the games tasks with two scripted
models. The agent that calls the model is a tiny plugin installed for the subprocesses as a real
distribution (a dist-info folder with an entry point on PYTHONPATH), so pool and Ray workers load it too.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlgym_core.bench.ledger import BenchLock, BenchLocked, Ledger
from mlgym_core.bench.plan import BenchConfig, PlannedEpisode
from mlgym_core.errors import ConfigError

GAMES = ("battleOfSexes", "prisonersDilemma", "blotto", "3SATTime")

AGENT_PLUGIN = '''
from mlgym_core import AgentSpec, hookimpl


class EchoAgent:
    """Sends the observation to the model and runs the reply as the action (core meters the calls and
    ends the episode with the exit action of a model error, such as the bench's cost limit)."""

    def __init__(self, **_options):
        pass

    def run(self, episode):
        messages = [{"role": "user", "content": episode.observation}]
        while not episode.done:
            c = episode.model.complete(messages)
            obs = episode.step(c.content)[0]
            messages += [{"role": "assistant", "content": c.content}, {"role": "user", "content": obs}]


@hookimpl
def register_agents():
    return [AgentSpec(name="echo", description="test agent: model reply = action", factory=EchoAgent,
                      uses_model=True, tool_groups=("core",))]
'''


def _games_installed() -> bool:
    return importlib.util.find_spec("mlgym_tasks_games") is not None


needs_games = pytest.mark.skipif(not _games_installed(), reason="mlgym-tasks-games is not installed")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real installed distribution 'mlgym-benchtest' providing the 'echo' agent, plus reply files."""
    root = tmp_path_factory.mktemp("site")
    pkg = root / "mlgym_benchtest"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "plugin.py").write_text(textwrap.dedent(AGENT_PLUGIN))
    info = root / "mlgym_benchtest-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mlgym-benchtest\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text("[mlgym]\nbenchtest = mlgym_benchtest.plugin\n")
    # two scripted models; validation only on the fast games, the others end at once
    (root / "alpha.json").write_text(json.dumps({
        "battleOfSexes": ["head -3 strategy.py", "submit"], "prisonersDilemma": ["ls", "submit"],
        "blotto": ["ls", "exit_forfeit"], "3SATTime": ["ls", "exit_forfeit"]}))
    (root / "beta.json").write_text(json.dumps(["pwd", "sleep 0.3", "exit_forfeit"]))
    (root / "gpu.json").write_text(json.dumps(["echo dev=$CUDA_VISIBLE_DEVICES", "sleep 1", "exit_forfeit"]))
    (root / "pay.json").write_text(json.dumps([{"content": c, "cost": 1.0} for c in ("echo a", "echo b", "echo c",
                                                                                "exit_forfeit")]))
    return root


def _env(site: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["MLGYM_STRICT_PLUGINS"] = env.get("MLGYM_STRICT_PLUGINS", "0")
    env.setdefault("MLGYM_WORK_DIR", str(site / "work"))
    return env


def _bench_argv(site: Path, out: Path, *extra: str, models: str = "alpha.json,beta.json") -> list[str]:
    ms = ",".join(f"scripted:{site / m}" for m in models.split(","))
    return [sys.executable, "-c", "from mlgym_core.cli import main; main()", "bench", "--tasks", ",".join(GAMES),
            "--agents", "echo", "--models", ms, "--runs", "2", "--output", str(out), "--max-steps", "10",
            "--no-progress", *extra]


def _ledger(out: Path) -> dict:
    return json.loads((out / "ledger.json").read_text())["episodes"]


def _started(out: Path) -> dict[str, str]:
    res = {}
    for d in out.iterdir():
        if (d / "run.json").exists():
            res[d.name] = json.loads((d / "run.json").read_text())["timings"]["started"]
    return res


# -- units -------------------------------------------------------------------------------------

def test_lock_excludes_a_second_holder(tmp_path: Path) -> None:
    with BenchLock(tmp_path):
        with pytest.raises(BenchLocked, match=f"pid {os.getpid()}"):
            BenchLock(tmp_path).acquire()
    BenchLock(tmp_path).acquire()  # released: free again


def test_ledger_roundtrip_and_bad_file(tmp_path: Path) -> None:
    led = Ledger(tmp_path)
    led.add("a", task="t")
    led.update("a", state="done", spent=1.5)
    led.save()
    again = Ledger(tmp_path)
    assert again.get("a")["state"] == "done" and again.total_spent() == 1.5
    with pytest.raises(ValueError):
        again.update("a", state="weird")
    (tmp_path / "ledger.json").write_text("{not json")
    with pytest.raises(ConfigError, match="ledger.json: not valid JSON"):
        Ledger(tmp_path)


def test_reconcile_skips_done_retries_infra_keeps_agent_failures(tmp_path: Path) -> None:
    from mlgym_core.bench.driver import reconcile

    eps = [PlannedEpisode(id=n, task="t", agent="a", model=None, run=0, seed=42, cpus=1, gpus=0)
           for n in ("done", "infra", "agentfail", "running_complete", "running_lost", "new")]
    led = Ledger(tmp_path)
    for e in eps[:-1]:
        led.add(e.id)
    led.update("done", state="done")
    led.update("infra", state="failed", infra=True, cause="sandbox died")
    led.update("agentfail", state="failed", infra=False, cause="unknown_error (ValueError: x)")
    led.update("running_complete", state="running")
    led.update("running_lost", state="running")
    (tmp_path / "running_complete").mkdir()
    (tmp_path / "running_complete" / "run.json").write_text(json.dumps(
        {"exit_status": "submitted", "timings": {"ended": "2026-01-01T00:00:00"}}))
    (tmp_path / "running_lost").mkdir()
    (tmp_path / "running_lost" / "run.json").write_text(json.dumps({"timings": {"ended": None}}))
    todo = [e.id for e in reconcile(led, eps, tmp_path)]
    assert todo == ["infra", "running_lost", "new"]
    assert led.get("running_complete")["state"] == "done"
    assert led.get("running_lost")["infra"] is True
    assert not (tmp_path / "running_lost").exists()  # a partial run directory is not kept


def test_plan_errors_are_one_line() -> None:
    from mlgym_core.bench.plan import plan_episodes

    from mlgym_core.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="No task 'nope'"):
        plan_episodes(BenchConfig(tasks=("nope",), agents=("baseline",)))
    with pytest.raises(ConfigError, match="--runs"):
        plan_episodes(BenchConfig(tasks=("x",), agents=("baseline",), runs=0))


@needs_games
def test_plan_ids_and_gpu_check() -> None:
    from mlgym_core.bench.plan import plan_episodes

    eps = plan_episodes(BenchConfig(tasks=("battleOfSexes", "blotto"), agents=("baseline",), runs=3))
    assert [e.id for e in eps][:3] == [f"baseline__battleOfSexes__run_{k}" for k in range(3)]
    assert [e.seed for e in eps][:3] == [42, 43, 44]
    with pytest.raises(ConfigError, match="needs 2 GPU"):
        plan_episodes(BenchConfig(tasks=("blotto",), agents=("baseline",), gpus=("0",), gpus_per_run=2))


# -- end to end --------------------------------------------------------------------------------

def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                kids = [int(c) for c in (task / "children").read_text().split()]
            except (OSError, ValueError):
                continue
            out += kids
            todo += kids
    return out


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@needs_games
def test_local_bench_killed_half_way_resumes_without_redoing(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    env = _env(site)
    proc = subprocess.Popen(_bench_argv(site, out, "--workers", "2", "--no-report"), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    done_before: dict[str, str] = {}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"bench ended before it was killed: {proc.stdout.read().decode()[-2000:]}")
        try:
            led = _ledger(out)
        except (OSError, ValueError):
            led = {}
        if sum(e["state"] == "done" for e in led.values()) >= 5:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the bench made no progress")
    family = _descendants(proc.pid)
    assert family, "the bench driver has no worker processes"
    os.kill(proc.pid, signal.SIGKILL)  # the driver only: its forkserver and workers notice and go
    proc.wait()
    deadline = time.monotonic() + 20
    while (left := [p for p in family if _running(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"still running after the bench driver was killed: {left}"
    led = _ledger(out)
    done_before = {k: v for k, v in _started(out).items() if led[k]["state"] == "done"}
    assert 5 <= len(done_before) < 16
    assert any(e["state"] in ("running", "pending") for e in led.values())

    # a second bench on the same folder while the first holds the lock is refused (lock test, real CLI)
    with BenchLock(out):
        r = subprocess.run(_bench_argv(site, out, "--no-report"), env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "another mlgym bench" in r.stderr

    r = subprocess.run(_bench_argv(site, out, "--workers", "2", "--resume"), env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    led = _ledger(out)
    assert len(led) == 16 and all(e["state"] == "done" for e in led.values()), led
    after = _started(out)
    assert len(after) == 16
    for eid, started in done_before.items():  # finished episodes were not run again
        assert after[eid] == started
        assert led[eid]["attempts"] == 1
    # each run directory is a complete `mlgym run` directory; exit statuses as scripted
    alpha_bos = json.loads((out / "echo__alpha__battleOfSexes__run_0" / "run.json").read_text())
    assert alpha_bos["exit_status"] == "submitted" and alpha_bos["best_score"] > 0.5
    assert alpha_bos["method"].startswith("echo:scripted:")
    beta = json.loads((out / "echo__beta__3SATTime__run_1" / "run.json").read_text())
    assert beta["exit_status"] == "exit_forfeit" and beta["steps"] == 3 and beta["seed"] == 43
    assert (out / "echo__beta__3SATTime__run_1" / "3SATTime.traj").exists()
    # the report of the metrics issue: printed and written as HTML
    assert "Best Attempt@k" in r.stdout
    assert (out / "report.html").stat().st_size > 1000
    # running the same command again does nothing more
    r2 = subprocess.run(_bench_argv(site, out, "--no-report"), env=env, capture_output=True, text=True)
    assert r2.returncode == 0 and "16 done" in r2.stderr
    assert _started(out) == after


@needs_games
def test_total_cost_limit_stops_model_calls_across_episodes(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    argv = [sys.executable, "-c", "from mlgym_core.cli import main; main()", "bench", "--tasks", "prisonersDilemma",
            "--agents", "echo", "--models", f"scripted:{site / 'pay.json'}", "--runs", "3", "--output", str(out),
            "--total-cost-limit", "1.5", "--no-progress", "--no-report"]
    r = subprocess.run(argv, env=_env(site), capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, r.stderr[-2000:]
    assert "total cost limit $1.5 is reached" in r.stderr
    led = _ledger(out)
    first = led["echo__pay__prisonersDilemma__run_0"]
    assert first["state"] == "done" and first["exit_status"] == "autosubmission (exit_cost)"
    rec = json.loads((out / "echo__pay__prisonersDilemma__run_0" / "run.json").read_text())
    assert rec["cost"]["api_calls"] == 2 and rec["cost"]["total_cost"] == 2.0  # the third call was refused
    assert [led[f"echo__pay__prisonersDilemma__run_{k}"]["state"] for k in (1, 2)] == ["pending", "pending"]


@needs_games
def test_gpus_are_assigned_without_overlap(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    argv = [sys.executable, "-c", "from mlgym_core.cli import main; main()", "bench", "--tasks", "battleOfSexes",
            "--agents", "echo", "--models", f"scripted:{site / 'gpu.json'}", "--runs", "4", "--output", str(out),
            "--gpus", "0,1", "--gpus-per-run", "1", "--workers", "3", "--no-progress", "--no-report"]
    r = subprocess.run(argv, env=_env(site), capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    spans = []
    for k in range(4):
        d = out / f"echo__gpu__battleOfSexes__run_{k}"
        rec = json.loads((d / "run.json").read_text())
        traj = json.loads((d / "battleOfSexes.traj").read_text())
        dev = traj["trajectory"][0]["observation"].strip()
        assert dev in ("dev=0", "dev=1") and rec["spec"]["devices"] == [dev[-1]]
        spans.append((rec["timings"]["started"], rec["timings"]["ended"], dev))
    for i, (s1, e1, d1) in enumerate(spans):
        for s2, e2, d2 in spans[i + 1:]:
            if s1 < e2 and s2 < e1:  # ran at the same time: never on the same GPU
                assert d1 != d2


@needs_games
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (mlgym-core[ray])")
def test_ray_bench_interrupted_then_resumed_driver_writes_results(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    env = _env(site)
    env.pop("RAY_ADDRESS", None)
    env["RAY_DISABLE_USAGE_STATS"] = "1"
    argv = _bench_argv(site, out, "--executor", "ray", "--workers", "2", "--no-report")
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if sum(e["state"] == "done" for e in _ledger(out).values()) >= 4:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    os.kill(proc.pid, signal.SIGINT)  # Ctrl-C of the driver
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted; the ledger" in err
    led = _ledger(out)
    done_before = {k: v for k, v in _started(out).items() if led[k]["state"] == "done"}
    assert 4 <= len(done_before) < 16
    assert not any(e["state"] == "running" for e in led.values())  # in-flight ones were marked failed (infra)
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    led = _ledger(out)
    assert len(led) == 16 and all(e["state"] == "done" for e in led.values())
    after = _started(out)
    assert len(after) == 16 and all(after[k] == v for k, v in done_before.items())
    assert not list(out.glob(".incoming-*"))


# -- a ledger edited by hand, a resume with other settings -------------------------------------

def _one_done_bench(out: Path, **settings) -> Path:
    """A bench folder whose one episode (baseline on battleOfSexes) is done, as the driver leaves it."""
    from mlgym_core.bench.driver import _config_json

    led = Ledger(out)
    led.data["config"] = _config_json(BenchConfig(tasks=("battleOfSexes",), agents=("baseline",), runs=1,
                                                  output=out, **settings))
    led.add("baseline__battleOfSexes__run_0", task="battleOfSexes", agent="baseline", model=None, run=0, seed=42)
    led.update("baseline__battleOfSexes__run_0", state="done", exit_status="submitted", attempts=1)
    led.save()
    run_dir = out / "baseline__battleOfSexes__run_0"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"exit_status": "submitted", "timings": {"ended": "x"}}))
    return run_dir


def _bench_cli(out: Path, *extra: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "mlgym_core", "bench", "--tasks", "battleOfSexes", "--agents", "baseline",
            "--runs", "1", "--output", str(out), "--no-progress", "--no-report", *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


@needs_games
def test_unknown_ledger_state_is_one_line_and_deletes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    run_dir = _one_done_bench(out)
    data = json.loads((out / "ledger.json").read_text())
    data["episodes"]["baseline__battleOfSexes__run_0"]["state"] = "finished"  # a hand edit
    (out / "ledger.json").write_text(json.dumps(data))
    before = (out / "ledger.json").read_text()
    for _ in range(2):  # the same answer on every call
        r = _bench_cli(out)
        assert r.returncode == 2, r.stderr[-2000:]
        assert r.stderr.count("\n") == 1 and "has state 'finished', not one of pending" in r.stderr
        assert (run_dir / "run.json").exists() and (out / "ledger.json").read_text() == before


@needs_games
@pytest.mark.parametrize("flag, value, shown", [("--seed", "7", "7"), ("--max-steps", "5", "5"),
                                                ("--option", "tools=[default]", '{"tools": ["default"]}')])
def test_resume_with_other_result_settings_is_refused(tmp_path: Path, flag: str, value: str, shown: str) -> None:
    out = tmp_path / "bench"
    run_dir = _one_done_bench(out, seed=42, max_steps=50)
    before = (out / "ledger.json").read_text()
    r = _bench_cli(out, "--resume", flag, value)
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.count("\n") == 1
    assert f"{flag} is {shown} but the episodes of this bench ran with" in r.stderr and "new --output" in r.stderr
    assert (out / "ledger.json").read_text() == before and (run_dir / "run.json").exists()


@needs_games
def test_resume_with_the_same_settings_and_secrets_kept_off_the_ledger(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    _one_done_bench(out, agent_options={"hf_token": "hf-old-secret"})
    assert "hf-old-secret" not in (out / "ledger.json").read_text()
    # other workers, another token (not a result setting): the finished episode is kept, nothing reruns
    r = _bench_cli(out, "--resume", "--workers", "2", "-o", "hf_token=hf-new-secret")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "1 done" in r.stderr
    ledger = (out / "ledger.json").read_text()
    assert "hf-new-secret" not in ledger and json.loads(ledger)["config"]["agent_options"] == {
        "hf_token": "<redacted>"}
