"""Both scaffolds end to end (real sandbox, real grader, real HTTP model server), and every exit path."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from mlgym_core.registry import get_task
from mlgym_core.run import RunSpec, run_episode
from mlgym_core.testing import fixture_task

# the games pack's tasks with a strategy each: the success paths below run both scaffolds on every game
STRATEGIES = {
    "battleOfSexes": "def row_strategy(history):\n    return 0\n",
    "prisonersDilemma": "def row_strategy(history):\n    return 1 if history and history[-1][1] == 1 else 0\n",
    "blotto": "def row_strategy(history):\n    return [20, 20, 20, 20, 20, 20]\n",
}
HEURISTIC = ("def heuristic_fn(clauses, assignments, conflict_count, assignment_history, level):\n"
             "    best = min(clauses, key=len) if clauses else []\n"
             "    for lit in best:\n"
             "        if abs(lit) not in assignments:\n"
             "            return abs(lit), lit > 0\n"
             "    for c in clauses:\n"
             "        for lit in c:\n"
             "            if abs(lit) not in assignments:\n"
             "                return abs(lit), lit > 0\n"
             "    return None, True\n")
PRICE = {"input": 2.0, "output": 8.0}


def reply(thought: str, command: str, prompt: int = 1000, completion: int = 100) -> dict:
    return {"content": f"DISCUSSION\n{thought}\n```\n{command}\n```",
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion}}


def call(*calls: tuple[str, dict | str], content: str = "", prompt: int = 1000, completion: int = 100) -> dict:
    return {"content": content, "tool_calls": [{"name": n, "arguments": a} for n, a in calls],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion}}


def heredoc(path: str, text: str) -> str:
    return f"cat > {path} <<'EOF'\n{text}EOF"


def run(srv, tmp_path: Path, *, task: str = "fixtureTask", agent: str = "default", model_options=None,
        **spec) -> tuple[dict, dict]:
    """One episode; by default on core's fixture task (starter ``ANSWER = 40``, target 42: Score 98.0)."""
    opts = {"base_url": srv.base_url if srv else "http://127.0.0.1:9/v1", "api_key": "sk-test",
            "retry_wait": 0.01, "max_retries": 1, "price": PRICE, **(model_options or {})}
    with fixture_task():
        rec = run_episode(RunSpec(task=task, agent=agent, model="openai:scripted-model", output=str(tmp_path),
                                  model_options=opts, **spec))
        traj = json.loads((Path(rec["run_dir"]) / f"{get_task(task).id}.traj").read_text())
    assert json.loads((Path(rec["run_dir"]) / "run.json").read_text())["exit_status"] == rec["exit_status"]
    return rec, traj


# -- success paths: both scaffolds on every game task -------------------------------------------------
# (these stay on the games pack: they check each game's files and battleOfSexes' real score)
@pytest.mark.parametrize("task", sorted(STRATEGIES))
def test_default_agent_edits_validates_submits(server, tmp_path, task):
    validate = task == "battleOfSexes"  # grading blotto takes seconds: validate once, on one task
    srv = server([reply("Read the opponent first.", "cat target.py", 900, 50),
                  reply("Write a simple strategy.", heredoc("strategy.py", STRATEGIES[task]), 1500, 120),
                  reply("Check it.", "validate" if validate else "python -c 'import strategy'", 2100, 30),
                  reply("Good; submit.", "submit", 2600, 20)])
    rec, traj = run(srv, tmp_path, task=task)
    assert rec["exit_status"] == "submitted"
    assert len(rec["scores"]) == (2 if validate else 1) and all("Score" in s for s in rec["scores"])
    # MLGym's parser keeps the action's final newline
    assert [s["action"] for s in traj["trajectory"]] == [f"{a}\n" for a in (
        "cat target.py", heredoc("strategy.py", STRATEGIES[task]),
        "validate" if validate else "python -c 'import strategy'", "submit")]
    assert "def target_column_strategy" in traj["trajectory"][0]["observation"] or task != "battleOfSexes"
    assert rec["cost"]["tokens_sent"] == 900 + 1500 + 2100 + 2600
    assert rec["cost"]["tokens_received"] == 50 + 120 + 30 + 20
    assert rec["cost"]["api_calls"] == 4
    assert rec["cost"]["total_cost"] == pytest.approx((7100 * 2.0 + 220 * 8.0) / 1e6)
    if task == "battleOfSexes":  # always 0 against a partner that copies our first move 80% of the time
        assert all(1.40 < s["Score"] < 1.48 for s in rec["scores"])
        assert rec["best_score"] > rec["baseline"]["Score"]
    # MLGym's trajectory fields
    step = traj["trajectory"][1]
    assert set(step) == {"action", "observation", "response", "state", "thought", "execution_time"}
    assert step["thought"].startswith("DISCUSSION\nWrite a simple strategy.")
    assert json.loads(step["state"])["working_dir"] == "/home/agent/workspace"
    roles = [h["role"] for h in traj["history"]]
    assert roles == ["system"] + ["user", "assistant"] * 4
    assert traj["history"][2]["action"] == "cat target.py\n"
    assert "COMMANDS:" in traj["history"][0]["content"] and "validate:" in traj["history"][0]["content"]
    task_msg = traj["history"][1]["content"]
    assert "(Current Step: 0, Remaining Steps: 50)" in task_msg and "SUBMISSION FORMAT" in task_msg
    assert "(Current Step: 1, Remaining Steps: 49)" in srv.requests[1]["messages"][-1]["content"]


@pytest.mark.parametrize("task", sorted(STRATEGIES))
def test_tool_calling_agent_parallel_calls_in_order(server, tmp_path, task):
    check = "validate" if task == "battleOfSexes" else "bash"
    srv = server([call(("bash", {"command": "ls"}), content="Look around.", prompt=800, completion=40),
                  call(("bash", {"command": heredoc("strategy.py", STRATEGIES[task])}),
                       (check, {} if check == "validate" else {"command": "python -c 'import strategy'"}),
                       ("submit", {}), prompt=1200, completion=90)])
    rec, traj = run(srv, tmp_path, task=task, agent="tool-calling")
    assert rec["exit_status"] == "submitted"
    assert [s["action"] for s in traj["trajectory"]] == ["ls", heredoc("strategy.py", STRATEGIES[task]),
                                                         "validate" if check == "validate" else
                                                         "python -c 'import strategy'", "submit"]
    assert len(rec["scores"]) == (2 if check == "validate" else 1)
    assert (rec["cost"]["tokens_sent"], rec["cost"]["tokens_received"], rec["cost"]["api_calls"]) == (2000, 130, 2)
    assert rec["cost"]["total_cost"] == pytest.approx((2000 * 2.0 + 130 * 8.0) / 1e6)
    tools = {t["function"]["name"]: t["function"] for t in srv.requests[0]["tools"]}
    assert {"bash", "validate", "submit"} <= set(tools)
    assert tools["bash"]["parameters"]["required"] == ["command"]
    # the second request carries the tool result of the first call, with the footer
    msgs = srv.requests[1]["messages"]
    assert msgs[-2]["role"] == "assistant" and msgs[-2]["tool_calls"][0]["function"]["name"] == "bash"
    assert msgs[-1]["role"] == "tool" and "strategy.py" in msgs[-1]["content"]
    assert "(Current Step: 1, Remaining Steps: 49)" in msgs[-1]["content"]


def test_3sat_default_agent_one_graded_run(server, tmp_path):  # stays on 3SATTime: grades a real heuristic
    srv = server([reply("A shortest-clause heuristic.", heredoc("heuristic.py", HEURISTIC)),
                  reply("Submit it.", "submit")])
    rec, traj = run(srv, tmp_path, task="3SATTime")
    assert rec["exit_status"] == "submitted", traj["trajectory"][-1]["observation"]
    assert rec["scores"][-1]["Correct"] == 100 and rec["scores"][-1]["Time"] > 0


def test_3sat_tool_calling_agent_without_grading(server, tmp_path):  # stays on 3SATTime: runs its heuristic API
    srv = server([call(("bash", {"command": heredoc("heuristic.py", HEURISTIC)}),
                       ("bash", {"command": "python -c 'import heuristic; print(heuristic.heuristic_fn([[1,-2]],{},{},[],0))'"})),
                  call(("bash", {"command": "skip"}))])
    rec, traj = run(srv, tmp_path, task="3SATTime", agent="tool-calling")
    assert traj["trajectory"][1]["observation"].strip() == "(1, True)"
    assert rec["exit_status"] == "skipped" and rec["scores"] == []


def test_calls_after_the_episode_ended_are_not_executed(server, tmp_path):
    srv = server([call(("submit", {}), ("bash", {"command": "touch late.txt"}))])
    rec, traj = run(srv, tmp_path, agent="tool-calling")
    assert rec["exit_status"] == "submitted"
    assert [s["action"] for s in traj["trajectory"]] == ["submit"]
    assert traj["history"][-1] == {"role": "tool", "content": "Not executed: the episode had already ended.",
                                   "tool_call_id": "call_1", "agent": "primary_0"}


# -- exit statuses --------------------------------------------------------------------------------
def test_three_format_errors_exit_format(server, tmp_path):
    srv = server([{"content": "I would run ls."}, {"content": "DISCUSSION\n```\nls\n```\n```\npwd\n```"},
                  {"content": ""}, {"content": "DISCUSSION\nfourth, never parsed\n```\nls\n```"}])
    rec, traj = run(srv, tmp_path)
    assert rec["exit_status"] == "autosubmission (exit_format)"
    assert len(srv.requests) == 4  # as MLGym: three failures, then a fourth call whose reply is not parsed
    step = traj["trajectory"][0]
    assert step["thought"] == "Exit due to format error"
    assert step["response"] == "DISCUSSION\nfourth, never parsed\n```\nls\n```"
    assert traj["history"][-1]["thought"] == "Exit due to format error"
    assert "3 consecutive unparsable replies" in rec["exit_reason"]
    retry = srv.requests[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": "I would run ls."}
    assert "not formatted correctly" in retry[-1]["content"]
    assert len(srv.requests[2]["messages"]) == len(retry)  # retries are not saved: each builds on the history
    assert [s["action"] for s in traj["trajectory"]] == ["exit_format"]
    assert all("formatted correctly" not in h["content"] for h in traj["history"])
    assert rec["cost"]["api_calls"] == 4
    assert rec["scores"] == [{"Score": 98.0}]  # the autosubmission graded the starter answer.py


def test_format_error_then_recovery(server, tmp_path):
    srv = server([{"content": "no block"}, reply("ok", "submit")])
    rec, traj = run(srv, tmp_path)
    assert rec["exit_status"] == "submitted" and [s["action"] for s in traj["trajectory"]] == ["submit\n"]


def test_cost_limit_exit_cost(server, tmp_path):
    srv = server([reply("a", "ls", 1000, 100), reply("b", "ls", 1000, 100), reply("c", "ls", 1000, 100)])
    rec, traj = run(srv, tmp_path, cost_limit=0.005)  # $0.0028 per call at the test price
    assert rec["exit_status"] == "autosubmission (exit_cost)"
    assert [s["action"] for s in traj["trajectory"]] == ["ls\n", "exit_cost"]
    assert traj["trajectory"][1]["thought"] == traj["trajectory"][1]["response"] == "Exit due to cost limit"
    assert rec["cost"]["total_cost"] == pytest.approx(2 * 0.0028)


def test_default_cost_limit_is_four_dollars(server, tmp_path):
    srv = server([reply("a", "ls", 1_000_000, 250_000)])  # $2 + $2 = $4.00
    rec, _ = run(srv, tmp_path)
    assert rec["exit_status"] == "autosubmission (exit_cost)"


def test_input_token_check_before_the_call(server, tmp_path):
    srv = server([reply("a", "ls")])
    rec, traj = run(srv, tmp_path, agent_options={"max_input_tokens": 500})
    assert rec["exit_status"] == "autosubmission (exit_context)"
    assert srv.requests == []  # never sent
    assert traj["trajectory"][0]["thought"] == "Exit due to context window"  # MLGym's words
    assert "exceeds the model's input window (500 tokens)" in rec["exit_reason"]


def test_context_length_error_from_the_server(server, tmp_path):
    srv = server([reply("a", "ls"), {"status": 400, "code": "context_length_exceeded",
                                     "message": "maximum context length is 8192 tokens"}])
    rec, traj = run(srv, tmp_path)
    assert rec["exit_status"] == "autosubmission (exit_context)"
    assert [s["action"] for s in traj["trajectory"]] == ["ls\n", "exit_context"]


@pytest.mark.parametrize("agent", ["default", "tool-calling"])
def test_401_exit_api_without_retry(server, tmp_path, agent):
    srv = server([reply("a", "ls")], api_key="right-key")
    rec, traj = run(srv, tmp_path, agent=agent, model_options={"max_retries": 5})
    assert rec["exit_status"] == "autosubmission (exit_api)"
    assert "HTTP 401" in traj["trajectory"][-1]["thought"]
    assert traj["info"]["exit_status"] == rec["exit_status"]


def test_429_storm_exit_api(server, tmp_path):
    srv = server([{"status": 429}], repeat=True)
    rec, traj = run(srv, tmp_path, model_options={"max_retries": 3})
    assert rec["exit_status"] == "autosubmission (exit_api)"
    assert len(srv.requests) == 4
    assert "HTTP 429 after 4 attempts" in traj["trajectory"][0]["thought"]


def test_unreachable_endpoint_exit_api(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rec, traj = run(None, tmp_path, model_options={"base_url": f"http://127.0.0.1:{port}/v1"})
    assert rec["exit_status"] == "autosubmission (exit_api)"
    assert "APIConnectionError" in traj["trajectory"][0]["thought"]


@pytest.mark.parametrize("agent", ["default", "tool-calling"])
def test_empty_replies_exit_format(server, tmp_path, agent):
    srv = server([{"content": ""}], repeat=True)
    rec, _ = run(srv, tmp_path, agent=agent)
    assert rec["exit_status"] == "autosubmission (exit_format)"
    assert len(srv.requests) == (4 if agent == "default" else 3)


def test_stream_cut_half_way_exit_api(server, tmp_path):
    srv = server([reply("a " * 50, "ls"), {"cut": True, "content": "DISCUSSION\n" + "x" * 300}], repeat=True)
    rec, traj = run(srv, tmp_path, model_options={"stream": True, "max_retries": 1})
    assert rec["exit_status"] == "autosubmission (exit_api)"
    assert [s["action"] for s in traj["trajectory"]] == ["ls\n", "exit_api"]


def test_malformed_json_tool_call(server, tmp_path):
    bad = call(("bash", '{"command": "ls"'))
    srv = server([bad, call(("bash", {"command": "echo fixed"})), bad, bad, bad])
    rec, traj = run(srv, tmp_path, agent="tool-calling")
    assert rec["exit_status"] == "autosubmission (exit_format)"
    assert [s["action"] for s in traj["trajectory"]] == ["echo fixed", "exit_format"]
    retry = srv.requests[1]["messages"]
    assert retry[-2]["role"] == "tool" and "not valid JSON" in retry[-2]["content"]
    assert "not valid JSON" in retry[-1]["content"]


def test_unknown_function_and_missing_argument_are_format_errors(server, tmp_path):
    srv = server([call(("rm_everything", {})), call(("bash", {})), call(("bash", {"command": "ls"}, )),
                  call(("submit", {}))])
    rec, traj = run(srv, tmp_path, agent="tool-calling")
    assert rec["exit_status"] == "submitted"
    assert "no function named 'rm_everything'" in srv.requests[1]["messages"][-1]["content"]
    assert "needs a non-empty string argument 'command'" in srv.requests[2]["messages"][-1]["content"]


def test_max_steps_autosubmission(server, tmp_path):
    srv = server([reply("look", "ls")], repeat=True)
    rec, traj = run(srv, tmp_path, max_steps=2)
    assert rec["exit_status"] == "autosubmission (max_steps)"
    assert len(srv.requests) == 3  # two actions run, the third output triggers the autosubmission
    assert "(Current Step: 2, Remaining Steps: 0)" in srv.requests[2]["messages"][-1]["content"]
    # MLGym strips the observation: its last line is followed directly by the footer, no blank line
    prompt = srv.requests[1]["messages"][-1]["content"]
    assert prompt == traj["trajectory"][0]["observation"] + prompt[len(traj["trajectory"][0]["observation"]):]
    assert prompt.split("\n(Current Step: 1, Remaining Steps: 1)\n")[0] == traj["trajectory"][0]["observation"]
    assert prompt.endswith("(Open file: n/a)\n(Current directory: /home/agent/workspace)\nbash-$")


def test_last5_observations_reach_the_model(server, tmp_path):
    srv = server([reply(f"step {i}", f"echo out{i}") for i in range(8)] + [reply("done", "submit")])
    rec, _ = run(srv, tmp_path)
    msgs = srv.requests[-1]["messages"]
    users = [m["content"] for m in msgs if m["role"] == "user"]
    assert users[0].startswith("We are now starting")
    assert all(re.fullmatch(r"Old output omitted \(\d+ lines\)", u) for u in users[1:4])
    assert users[4].startswith("out3\n")
    assert set().union(*(m.keys() for m in msgs)) == {"role", "content"}


def test_templates_are_overridable(server, tmp_path):
    srv = server([reply("a", "submit")])
    tpl = tmp_path / "t.yaml"
    tpl.write_text("footer_template: 'STEP {current_step}/{remaining_steps} @ {working_dir}'\n")
    rec, _ = run(srv, tmp_path, agent_options={"templates": str(tpl), "system_template": "You are terse. {command_docs}"})
    first = srv.requests[0]["messages"]
    assert first[0]["content"].startswith("You are terse. ") and "\nvalidate:\n" in first[0]["content"]
    assert first[1]["content"].endswith("STEP 0/50 @ /home/agent/workspace")


def test_unknown_price_warning_in_trajectory_and_run(server, tmp_path):
    srv = server([reply("a", "submit")])
    rec, traj = run(srv, tmp_path, model_options={"price": None})
    assert rec["cost"]["total_cost"] == 0.0
    assert any("scripted-model" in w and "no list price" in w for w in rec["warnings"])
    assert any("no list price" in w for w in traj["info"]["warnings"])


def test_memory_option_without_memory_tools_is_reported(server, tmp_path):
    srv = server([reply("a", "submit")])
    rec, _ = run(srv, tmp_path, agent_options={"memory": True})
    assert any("memory=true needs the 'memory' tools" in w for w in rec["warnings"])
    assert srv.requests == []


# -- with the ACI tools of mlgym-tools (edit-based runs) -----------------------------------------------
def _have_aci() -> bool:
    from mlgym_core.registry import collect

    return any(t.name == "edit" for t in collect("tools"))


aci = pytest.mark.skipif(not _have_aci(), reason="mlgym-tools (ACI edit/open/state) is not installed")
NEW_LINE = "ANSWER = 42"  # line 3 of the fixture task's answer.py (ANSWER = 40): the target, Score 100.0


@aci
def test_default_agent_edit_based_run(server, tmp_path):
    srv = server([reply("Open the answer.", 'open "answer.py"'),
                  reply("Set the answer to the target.", f"edit 3:3\n{NEW_LINE}\nend_of_edit"),
                  reply("Check.", "validate"), reply("Submit.", "submit")])
    rec, traj = run(srv, tmp_path)
    assert rec["exit_status"] == "submitted", traj["trajectory"][1]["observation"]
    assert [s["Score"] for s in rec["scores"]] == [100.0, 100.0]
    assert json.loads(traj["trajectory"][1]["state"])["open_file"] == "/home/agent/workspace/answer.py"
    assert "(Open file: /home/agent/workspace/answer.py)" in srv.requests[1]["messages"][-1]["content"]
    docs = traj["history"][0]["content"]
    assert "edit:\n  docstring:" in docs and "- replacement_text (string) [required]" in docs
    assert "\nstate:" not in docs and "memory_write" not in docs and "literature_search" not in docs


@aci
def test_tool_calling_agent_edit_call(server, tmp_path):
    srv = server([call(("open", {"path": "answer.py"}),
                       ("edit", {"start_line": 3, "end_line": 3, "replacement_text": NEW_LINE + "\n"}),
                       ("validate", {}), ("submit", {}))])
    rec, traj = run(srv, tmp_path, agent="tool-calling")
    assert [s["action"] for s in traj["trajectory"]][:2] == ["open answer.py", f"edit 3:3\n{NEW_LINE}\nend_of_edit"]
    assert rec["exit_status"] == "submitted"
    assert [s["Score"] for s in rec["scores"]] == [100.0, 100.0]
    schema = {t["function"]["name"]: t["function"] for t in srv.requests[0]["tools"]}["edit"]["parameters"]
    assert schema["required"] == ["start_line", "end_line", "replacement_text"]
    assert schema["properties"]["start_line"]["type"] == "integer"


def test_cost_limit_is_a_run_option_not_an_agent_option():
    from mlgym_core import ConfigError
    from mlgym_agents.react import DefaultAgent

    with pytest.raises(ConfigError, match="--cost-limit"):
        DefaultAgent(cost_limit=1.0)
