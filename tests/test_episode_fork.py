"""``Episode.fork()``: an agent written against the protocol branches its episode at step N; both
branches continue independently (files, shell state, trajectories, model usage), each recorded to
its own readable ``.traj``; core closes the forks when the agent returns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlgym_core import AgentSpec, hookimpl
from mlgym_core.errors import MlgymError
from mlgym_core.protocols import CostLimitError
from mlgym_core.run import RunSpec, run_episode
from mlgym_core.testing import fixture_task, registered

SEEN: dict[str, object] = {}
D = "/home/agent/workspace/d"
SHOW = f"pwd; echo \"$V\"; greet; cat {D}/f; ls {D}"


class BranchingAgent:
    """Best-of-two from a shared prefix: two steps, a model call, then a fork that goes its own way."""

    def __init__(self, **options):
        self.custom = options.get("custom")

    def run(self, episode):
        episode.step("mkdir d && cd d && echo base > f && export V=base")
        episode.add_message("user", episode.observation)
        episode.add_message("assistant", episode.model.complete(list(episode.history)).content)
        episode.step("greet() { echo hello-base; }")
        branch = episode.fork()
        SEEN["branch"] = branch
        branch.step("echo fork > f; export V=fork; greet() { echo hello-fork; }; cd ..")
        branch.model.complete(list(branch.history))
        episode.step("echo main > g")
        SEEN["main"] = episode.step(SHOW)[0]
        SEEN["fork"] = branch.step(SHOW)[0]
        SEEN["usage"] = (episode.usage.api_calls, branch.usage.api_calls, branch.usage.total_cost)
        SEEN["history"] = (len(episode.history), len(branch.history))
        twig = branch.fork(self.custom)  # a fork of a fork, to a path of the agent's choosing
        SEEN["twig"] = twig.step("cat d/f; echo $V")[0]
        twig.close()
        SEEN["twig_done"] = twig.done
        try:
            twig.step("true")
        except MlgymError as exc:
            SEEN["closed_error"] = str(exc)
        episode.step("submit")


class SpendingAgent:
    """Forks to spend past the cost limit: the limit holds for the episode and its forks together."""

    def __init__(self, **options):
        pass

    def run(self, episode):
        episode.model.complete([{"role": "user", "content": "a"}])  # $0.25
        branch = episode.fork()
        branch.model.complete([{"role": "user", "content": "b"}])  # $0.50 in the branch
        try:
            episode.model.complete([{"role": "user", "content": "c"}])  # $0.50: the episode alone is at $0.75
        except CostLimitError as exc:
            SEEN["limit"] = (str(exc), episode.usage.total_cost, branch.usage.total_cost)
        episode.step("submit")


class Plugin:
    @hookimpl
    def register_agents(self):
        return [AgentSpec(name="brancher", description="forks its episode", factory=BranchingAgent),
                AgentSpec(name="spender", description="forks to spend more", factory=SpendingAgent)]


@pytest.fixture
def brancher(core_only):
    with fixture_task(), registered(Plugin(), name="brancher-plugin"):
        yield


def test_an_agent_forks_and_both_branches_continue_independently(brancher, tmp_path):
    script = tmp_path / "replies.json"
    script.write_text(json.dumps([{"content": "first", "cost": 0.25}, {"content": "second", "cost": 0.5}]))
    custom = tmp_path / "elsewhere" / "twig.traj"
    SEEN.clear()
    rec = run_episode(RunSpec(task="fixture/fixtureTask", agent="brancher", model=f"scripted:{script}",
                              output=str(tmp_path / "runs"), max_steps=20, agent_options={"custom": str(custom)}))
    run_dir = Path(rec["run_dir"])
    assert SEEN["main"].splitlines() == [D, "base", "hello-base", "base", "f", "g"]
    assert SEEN["fork"].splitlines() == [D.rsplit("/", 1)[0], "fork", "hello-fork", "fork", "f"]
    assert SEEN["twig"].splitlines() == ["fork", "fork"]
    assert SEEN["usage"] == (1, 2, 0.75)  # the fork's usage counts the shared prefix's call
    assert SEEN["history"] == (2, 2)
    assert SEEN["twig_done"] and "over" in SEEN["closed_error"]
    assert SEEN["branch"].env.sandbox is None  # core closed the fork when the agent returned

    main = json.loads((run_dir / "fixtureTask.traj").read_text())
    fork = json.loads((run_dir / "fixtureTask.fork-1.traj").read_text())
    twig = json.loads(custom.read_text())
    assert [s["action"] for s in main["trajectory"]][-3:] == ["echo main > g", SHOW, "submit"]
    assert len(main["trajectory"]) == 5 and rec["steps"] == 5
    assert fork["trajectory"][:2] == main["trajectory"][:2]  # the shared prefix
    assert [s["action"] for s in fork["trajectory"][2:]] == [
        "echo fork > f; export V=fork; greet() { echo hello-fork; }; cd ..", SHOW]
    assert fork["info"]["forked_from"] == {"traj": "fixtureTask.traj", "step": 2}
    assert main["info"]["forks"] == [{"traj": "fixtureTask.fork-1.traj", "step": 2}] and "forks" not in twig["info"]
    assert fork["info"]["model_stats"]["api_calls"] == 2 and main["info"]["model_stats"]["api_calls"] == 1
    assert twig["info"]["forked_from"] == {"traj": "fixtureTask.fork-1.traj", "step": 4}
    assert len(twig["trajectory"]) == 5
    assert rec["cost"]["api_calls"] == 1  # run.json is the original episode's


def test_forking_does_not_multiply_the_cost_limit(brancher, tmp_path):
    script = tmp_path / "replies.json"
    script.write_text(json.dumps([{"content": "x", "cost": c} for c in (0.25, 0.5, 0.5)]))
    SEEN.clear()
    rec = run_episode(RunSpec(task="fixture/fixtureTask", agent="spender", model=f"scripted:{script}",
                              output=str(tmp_path / "runs"), max_steps=5, cost_limit=1.0))
    text, episode_cost, branch_cost = SEEN["limit"]
    assert "$1.2500 (the episode and its forks) reached the limit $1.00" in text
    assert (episode_cost, branch_cost) == (0.75, 0.75)  # neither alone is at the limit
    assert rec["exit_status"] == "submitted" and rec["cost"]["total_cost"] == 0.75
