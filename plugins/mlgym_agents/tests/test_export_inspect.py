"""`mlgym export --format inspect`: two real episodes of the default agent (real sandbox, grader and
HTTP model server) written as an inspect_ai eval log and read back with inspect_ai's own reader."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlgym_core.run import RunSpec, run_episode
from mlgym_core.testing import fixture_task

from .test_agents import PRICE, heredoc, reply

inspect_ai = pytest.importorskip("inspect_ai", reason="inspect_ai is not installed (pip install inspect_ai)")

ANSWER = "ANSWER = 41\n"  # the fixture task's target is 42: Score 99.0


def _episode(server, out: Path, seed: int) -> dict:
    srv = server([reply("Look.", "cat answer.py", 900, 50),
                  reply("Closer.", heredoc("answer.py", ANSWER), 1500, 120),
                  reply("Submit.", "submit", 2000, 20)])
    with fixture_task():
        return run_episode(RunSpec(task="fixtureTask", agent="default", model="openai:scripted-model", seed=seed,
                                   output=str(out), model_options={"base_url": srv.base_url, "api_key": "sk-test",
                                                                   "price": PRICE}))


def test_export_is_read_back_by_inspect_ai(server, tmp_path):
    from inspect_ai.log import read_eval_log

    runs = tmp_path / "runs"
    recs = [_episode(server, runs, 1), _episode(server, runs, 2)]
    logs = tmp_path / "logs"
    r = subprocess.run([sys.executable, "-m", "mlgym_core", "export", str(runs), "--format", "inspect",
                        "--output", str(logs)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    (path,) = [Path(p) for p in r.stdout.split()]
    assert path.suffix == ".eval" and path.parent == logs
    log = read_eval_log(str(path))
    assert log.status == "success"
    assert log.eval.task == "mlgym/fixtureTask" and log.eval.model == "openai/scripted-model"
    assert len(log.samples) == 2 and sorted(s.epoch for s in log.samples) == [1, 2]
    for s, rec in zip(sorted(log.samples, key=lambda s: s.epoch), recs):
        assert s.id == "fixtureTask"
        score = s.scores["mlgym"]
        assert score.value == rec["best_score"] == 99.0 and score.explanation == "submitted"
        assert score.metadata["baseline"] == 98.0
        tools = [m for m in s.messages if m.role == "tool"]
        calls = [c for m in s.messages if m.role == "assistant" for c in (m.tool_calls or [])]
        want = ["cat answer.py", heredoc("answer.py", ANSWER), "submit"]
        assert [c.arguments["command"].strip() for c in calls] == want
        assert [t.tool_call_id for t in tools] == [c.id for c in calls]
        assert s.messages[0].role == "system" and s.messages[1].role == "user"
        usage = s.model_usage["openai/scripted-model"]
        assert (usage.input_tokens, usage.output_tokens) == (4400, 190)
        assert usage.total_cost == pytest.approx(rec["cost"]["total_cost"])
    assert log.stats.model_usage["openai/scripted-model"].input_tokens == 8800
    metrics = log.results.scores[0].metrics
    assert metrics["mean"].value == pytest.approx(sum(r["best_score"] for r in recs) / 2)


def test_export_of_a_folder_without_runs_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mlgym_core", "export", str(tmp_path)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "no run directories" in r.stderr, r.stderr
