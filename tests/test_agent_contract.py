"""The agent-side contract: :class:`mlgym_core.protocols.Episode` is all an agent uses; core meters
every model call, enforces the cost limit for any agent, records the shell state an agent reads, and
gives a scaffold the ACI editing tools by default (or says in one line that it has none).

The third-party agent below is written against the protocol alone, as a plugin author would: it
never meters its calls and never catches a model error.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from mlgym_core import AgentSpec, ToolSpec, hookimpl
from mlgym_core.episode import RecordedEpisode, agent_tool_groups
from mlgym_core.metering import MeteredModel, Usage
from mlgym_core.protocols import Completion, CostLimitError, Episode
from mlgym_core.run import RunSpec, run_episode
from mlgym_core.testing import fixture_task, registered

from .conftest import REPO

MEMBERS = {n for n in vars(Episode) if not n.startswith("_")} | set(Episode.__annotations__)
SEEN: dict[str, object] = {}


class NaiveAgent:
    """A third-party scaffold: the observation goes to the model, the reply is the next command."""

    def __init__(self, **options):
        self.options = options

    def run(self, episode):
        SEEN["missing"] = sorted(m for m in MEMBERS if not hasattr(episode, m))
        SEEN["steps_left"] = episode.steps_left
        while not episode.done:
            SEEN["state"] = episode.read_state()
            episode.add_message("user", episode.observation)
            reply = episode.model.complete(list(episode.history))
            episode.add_message("assistant", reply.content)
            episode.step(reply.content)
        episode.note("the naive agent is done")


class ThirdParty:
    @hookimpl
    def register_agents(self):
        return [AgentSpec(name="naive", description="third-party test scaffold", factory=NaiveAgent)]


@pytest.fixture
def naive(core_only):
    with fixture_task(), registered(ThirdParty(), name="thirdparty"):
        yield


def run_naive(tmp_path: Path, replies: list, **spec) -> tuple[dict, dict]:
    script = tmp_path / "replies.json"
    script.write_text(json.dumps(replies))
    SEEN.clear()
    rec = run_episode(RunSpec(task="fixture/fixtureTask", agent="naive", model=f"scripted:{script}",
                              output=str(tmp_path / "runs"), max_steps=10, **spec))
    run_dir = Path(rec["run_dir"])
    assert json.loads((run_dir / "run.json").read_text())["cost"] == rec["cost"]
    return rec, json.loads((run_dir / "fixtureTask.traj").read_text())


def test_core_meters_an_agent_that_never_meters(naive, tmp_path):
    rec, traj = run_naive(tmp_path, [{"content": "echo hello there", "cost": 0.25},
                                     {"content": "submit", "cost": 0.5}])
    assert rec["exit_status"] == "submitted"
    assert SEEN["missing"] == [] and SEEN["steps_left"] == 10
    stats = traj["info"]["model_stats"]
    assert stats == rec["cost"]
    assert (stats["api_calls"], stats["total_cost"], stats["task_cost"]) == (2, 0.75, 0.75)
    assert stats["tokens_received"] == 3 + 1  # the scripted backend counts words
    assert stats["tokens_sent"] > 0
    assert [(c["step"], c["cost"]) for c in rec["model_calls"]] == [(0, 0.25), (1, 0.5)]
    assert traj["info"]["notes"] == ["the naive agent is done"] == rec["notes"]
    assert [h["role"] for h in traj["history"]] == ["user", "assistant"] * 2


def test_cost_limit_stops_any_agent_with_exit_cost(naive, tmp_path):
    rec, traj = run_naive(tmp_path, [{"content": "echo a", "cost": 0.3}, {"content": "echo b", "cost": 0.3},
                                     {"content": "echo c", "cost": 0.3}], cost_limit=0.5)
    assert rec["exit_status"] == "autosubmission (exit_cost)"
    assert [s["action"] for s in traj["trajectory"]] == ["echo a", "exit_cost"]  # the reply over the limit is dropped
    last = traj["trajectory"][-1]
    assert last["thought"] == last["response"] == "Exit due to cost limit"  # MLGym's words
    assert (rec["cost"]["api_calls"], rec["cost"]["total_cost"]) == (2, 0.6)
    assert "cost $0.6000 reached the limit $0.50" in rec["exit_reason"]
    assert rec.get("error") is None  # an exit, not a crash


def test_metered_model_refuses_a_call_once_the_limit_is_reached():
    class Backend:
        name = "counting"
        calls = 0

        def complete(self, messages, *, tools=None):
            Backend.calls += 1
            return Completion(content="x", input_tokens=10, output_tokens=2, cost=1.0)

    usage = Usage(cost_limit=1.5)
    model = MeteredModel(Backend(), usage)
    assert model.complete([]).content == "x" and model.name == "counting"
    for _ in range(2):  # the second call crosses the limit; the third is never sent
        with pytest.raises(CostLimitError, match=r"limit \$1\.50"):
            model.complete([])
    assert Backend.calls == 2 and usage.api_calls == 2 and usage.tokens_sent == 20
    unlimited = MeteredModel(Backend(), Usage(cost_limit=0))  # 0: no limit, as in MLGym
    for _ in range(3):
        unlimited.complete([])


class Exiter:
    """Ends the episode itself, with an ExitAction, and tries an action that is not one first."""

    def __init__(self, **options):
        pass

    def run(self, episode):
        from mlgym_core import ExitAction, MlgymError

        try:
            episode.exit("exit_now", "not an exit action")
        except MlgymError as exc:
            SEEN["refused"] = str(exc)
        episode.exit(ExitAction.FORMAT, "the agent gave up", response="raw reply")


def test_an_agent_ends_the_episode_with_an_exit_action(naive, tmp_path):
    class Plugin:
        @hookimpl
        def register_agents(self):
            return [AgentSpec(name="exiter", description="d", factory=Exiter, uses_model=False)]

    SEEN.clear()
    with registered(Plugin(), name="exiter_plugin"):
        rec = run_episode(RunSpec(task="fixture/fixtureTask", agent="exiter", output=str(tmp_path)))
    traj = json.loads((Path(rec["run_dir"]) / "fixtureTask.traj").read_text())
    assert "'exit_now' is not an exit action" in SEEN["refused"]
    assert rec["exit_status"] == "autosubmission (exit_format)" and rec["exit_reason"] == "the agent gave up"
    step = traj["trajectory"][-1]
    assert (step["action"], step["thought"], step["response"]) == ("exit_format", "Exit due to format error",
                                                                   "raw reply")
    assert traj["history"][-1]["action"] == "exit_format"


def test_agent_without_editing_tools_is_warned_in_one_line(naive, tmp_path, caplog):
    rec, _ = run_naive(tmp_path, ["submit"])
    (warning,) = [w for w in rec["warnings"] if "file-editing" in w]
    assert "agent 'naive' gets no file-editing tools" in warning and "\n" not in warning
    assert any("no file-editing tools" in r.getMessage() for r in caplog.records)


def test_default_tool_groups_give_the_aci_and_the_state_is_recorded(naive, tmp_path):
    """With a plugin providing the ACI group, a scaffold gets it without asking; the state its
    ``read_state`` ran is recorded with the step that follows."""
    script = tmp_path / "state.py"
    script.write_text("#!/usr/bin/env python3\nimport json, os\n"
                      "print(json.dumps({'open_file': 'answer.py', 'working_dir': os.getcwd()}))\n")

    class Aci:
        @hookimpl
        def register_tools(self):
            return [ToolSpec(name="state", signature="state", docstring="the shell state", source=script)]

    spec = AgentSpec(name="naive", description="d", factory=NaiveAgent)
    assert spec.tool_groups == ("core", "default")
    with registered(Aci(), name="aci"):
        assert agent_tool_groups(spec) == (["core", "default"], None)
        rec, traj = run_naive(tmp_path, ["pwd", "submit"])
    assert not any("file-editing" in w for w in rec["warnings"])
    state = json.loads(traj["trajectory"][0]["state"])
    assert state == {"open_file": "answer.py", "working_dir": "/home/agent/workspace"} == SEEN["state"]
    assert agent_tool_groups(spec, ["core"]) == (["core"], None)  # -o tools=[...] is taken as given


# -- nothing reaches around the protocol ---------------------------------------------------------------
AGENT_MODULES = sorted((REPO / "plugins" / "mlgym_agents" / "mlgym_agents").rglob("*.py")) + [
    REPO / "mlgym_core" / "builtin_plugins" / "agents.py"]
FORBIDDEN = {"env", "traj"}


def reach_arounds(source: str) -> list[str]:
    """``x.env`` / ``x.traj`` anywhere, and any ``episode.<name>`` / ``self.episode.<name>`` the
    protocol does not list."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        if node.attr in FORBIDDEN:
            found.append(f"line {node.lineno}: .{node.attr}")
        base = node.value
        is_episode = (isinstance(base, ast.Name) and base.id == "episode") or (
            isinstance(base, ast.Attribute) and base.attr == "episode")
        if is_episode and node.attr not in MEMBERS:
            found.append(f"line {node.lineno}: episode.{node.attr}")
    return sorted(set(found))


@pytest.mark.parametrize("path", AGENT_MODULES, ids=lambda p: p.name)
def test_agents_use_only_the_episode_protocol(path):
    assert reach_arounds(path.read_text()) == [], f"{path} reaches around protocols.Episode"


def test_reach_around_scan_catches_what_it_should():
    src = ("def run(self, episode):\n    episode.env.sandbox.run('state')\n    episode.traj['history']\n"
           "    self.episode.spec.cost_limit\n    episode.step('ls')\n")
    assert reach_arounds(src) == ["line 2: .env", "line 2: episode.env", "line 3: .traj", "line 3: episode.traj",
                                  "line 4: episode.spec"]


def test_recorded_episode_implements_the_protocol():
    missing = [m for m in MEMBERS if not hasattr(RecordedEpisode, m)]
    # attributes set in __init__ (observation, done, tools ...) are checked on a live episode above
    assert set(missing) <= set(Episode.__annotations__)


# -- the guide builds a working agent -----------------------------------------------------------------
GUIDE = REPO / "docs" / "writing-an-agent.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def guide_files() -> dict[str, str]:
    """The files docs/writing-an-agent.md shows: pyproject.toml, and each Python block by the path
    in its first line (``# acme_agent/agent.py``)."""
    files = {}
    for lang, body in FENCE.findall(GUIDE.read_text(encoding="utf-8")):
        first = body.splitlines()[0] if body.strip() else ""
        if lang == "toml":
            files["pyproject.toml"] = body
        elif lang == "python" and first.startswith("# ") and first.endswith(".py"):
            files[first[2:]] = body
    return files


def test_the_guide_builds_an_agent_whose_own_tests_pass(tmp_path):
    """The guide's files, installed as a distribution (its entry point from its pyproject.toml), pass
    the guide's own tests: conformance, and an episode end to end with cost metered."""
    files = guide_files()
    assert set(files) == {"pyproject.toml", "acme_agent/plugin.py", "acme_agent/agent.py", "tests/test_plugin.py"}
    project = tmp_path / "acme_agent"
    for rel, body in files.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(body)
    (project / "acme_agent" / "__init__.py").write_text('__version__ = "1.0.0"\n')
    meta = tomllib.loads(files["pyproject.toml"])["project"]
    info = project / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n")
    eps = meta["entry-points"]["mlgym"]
    (info / "entry_points.txt").write_text("[mlgym]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()))
    env = dict(os.environ, MLGYM_STRICT_PLUGINS="1", MLGYM_LOAD_PLUGINS=",".join(eps),
               PYTHONPATH=os.pathsep.join(p for p in (str(project), os.environ.get("PYTHONPATH", "")) if p))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_plugin.py"],
                       cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "2 passed" in r.stdout
