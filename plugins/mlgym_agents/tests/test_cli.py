"""`mlgym run` as a user runs it (a real subprocess), plus Ctrl-C; and the plugin-level checks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlgym_agents import plugin
from mlgym_core.checks import check_agent, check_model_backend
from mlgym_core.testing import fixture_env, list_plugins_json

ANSWER = "ANSWER = 41\n"  # the fixture task's target is 42: Score 99.0 (its baseline, ANSWER = 40, scores 98.0)


def _env(srv, tmp_path: Path) -> dict:
    prices = tmp_path / "prices.yaml"
    prices.write_text("scripted-model: {input: 3.0, output: 15.0}\n")
    env = dict(os.environ, OPENAI_BASE_URL=srv.base_url, OPENAI_API_KEY="sk-test", MLGYM_PRICES=str(prices),
               MLGYM_STRICT_PLUGINS="1")
    env.pop("MLGYM_LOAD_PLUGINS", None)
    return fixture_env(tmp_path / "site", env)


def _run_dir(out: Path) -> Path:
    dirs = [p for p in out.iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def test_mlgym_run_default_agent_against_local_server(server, tmp_path):
    u = {"prompt_tokens": 2000, "completion_tokens": 100}
    srv = server([{"content": "DISCUSSION\nRead the starter.\n```bash\ncat answer.py\n```", "usage": u},
                  {"content": f"DISCUSSION\nCloser.\n```\ncat > answer.py <<'EOF'\n{ANSWER}EOF\n```", "usage": u},
                  {"content": "DISCUSSION\nCheck.\n```\nvalidate\n```", "usage": u},
                  {"content": "DISCUSSION\nSubmit.\n```\nsubmit\n```\nDone.", "usage": u}])
    out = tmp_path / "runs"
    r = subprocess.run([sys.executable, "-m", "mlgym_core", "run", "--task", "fixtureTask", "--agent", "default",
                        "--model", "openai:scripted-model", "--output", str(out), "--model-option", "temperature=0.5"],
                       env=_env(srv, tmp_path), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    run_dir = _run_dir(out)
    rec = json.loads((run_dir / "run.json").read_text())
    results = json.loads((run_dir / "results.json").read_text())
    traj = json.loads((run_dir / "fixtureTask.traj").read_text())
    assert rec["exit_status"] == "submitted" and rec["agent"] == "agents/default"
    assert [s["Score"] for s in results["agent"]] == [99.0, 99.0]
    assert results["baseline"]["Score"] == 98.0
    assert rec["cost"]["tokens_sent"] == 8000 and rec["cost"]["tokens_received"] == 400
    assert rec["cost"]["api_calls"] == 4
    assert rec["cost"]["total_cost"] == pytest.approx((8000 * 3.0 + 400 * 15.0) / 1e6)
    assert traj["info"]["model_stats"]["total_cost"] == rec["cost"]["total_cost"]
    assert rec["warnings"] == [] or all("bwrap" in w for w in rec["warnings"])
    assert all(req["temperature"] == 0.5 and req["top_p"] == 0.95 for req in srv.requests)


def _descendants(pid: int) -> set[int]:
    kids: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        for c in map(int, children):
            if c not in kids:
                kids.add(c)
                todo.append(c)
    return kids


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_ctrl_c_records_interrupted_and_leaves_no_sandbox(server, tmp_path):
    srv = server([{"content": "DISCUSSION\nList.\n```\nls\n```"},
                  {"delay": 60, "content": "DISCUSSION\nToo late.\n```\nls\n```"}])
    out = tmp_path / "runs"
    p = subprocess.Popen([sys.executable, "-m", "mlgym_core", "run", "--task", "fixtureTask", "--agent",
                          "default", "--model", "openai:scripted-model", "--output", str(out)],
                         env=_env(srv, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while len(srv.requests) < 2 and time.time() < deadline and p.poll() is None:
            time.sleep(0.05)
        assert len(srv.requests) == 2, p.stderr.read() if p.poll() is not None else "no second request"
        sandbox = _descendants(p.pid)
        assert sandbox, "the sandbox processes were not found"
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, err[-2000:]
    assert "interrupted" in err
    run_dir = _run_dir(out)
    rec = json.loads((run_dir / "run.json").read_text())
    traj = json.loads((run_dir / "fixtureTask.traj").read_text())
    assert rec["exit_status"] == "interrupted" and traj["info"]["exit_status"] == "interrupted"
    assert [s["action"] for s in traj["trajectory"]] == ["ls\n"]
    assert rec["timings"]["ended"] is not None
    time.sleep(0.5)
    assert [pid for pid in sandbox if _alive(pid)] == []


# -- the plugin itself -----------------------------------------------------------------------------
def test_hookimpls_return_the_agents_and_backend():
    agents = {a.name: a for a in plugin.register_agents() if a.uses_model}  # (cheater runs the attack library)
    assert set(agents) == {"default", "tool-calling"}
    assert all(a.tool_groups == ("core", "default") for a in agents.values())  # core's default: the ACI too
    for a in agents.values():
        check_agent(a)
    (backend,) = plugin.register_model_backends()
    assert backend.name == "openai"
    check_model_backend(backend)


def test_listed_by_cli():
    assert "agents" in {p["name"] for p in list_plugins_json()}


def test_plugin_module_is_cheap_to_import():
    code = ("import sys, mlgym_agents.plugin; heavy = [m for m in ('openai', 'httpx', 'tiktoken') if m in sys.modules];"
            " print(heavy)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_bad_agent_options_are_one_line_errors():
    from mlgym_core.errors import ConfigError

    with pytest.raises(ConfigError, match="agent option.*memroy.*unknown"):
        plugin.register_agents()[0].factory(memroy=True)
    with pytest.raises(ConfigError, match="history_processor='Last7'"):
        plugin.register_agents()[0].factory(history_processor="Last7")
    with pytest.raises(ConfigError, match="unknown template option"):
        plugin.register_agents()[1].factory(shiny_template="x")
