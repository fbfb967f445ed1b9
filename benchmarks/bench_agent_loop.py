"""Agent-loop overhead per step of the mlgym-agents scaffolds, excluding model latency.

A real episode of battleOfSexes (local runtime, bwrap sandbox) is driven by the ``default`` agent
(and the ``tool-calling`` agent) with an in-process model that answers instantly, so every
millisecond left is the scaffold's: prompt and footer rendering, history processing (Last5),
the token estimate, parsing, trajectory bookkeeping (the .traj file is rewritten after every
step). Time inside ``env.step`` (the command in the sandbox), inside the model and inside the
``state`` command (one more sandbox round trip per step, when mlgym-tools provides it) is
measured separately and excluded from the overhead.

Target: median overhead < 5 ms per step. Printed with its ratio to the baseline measured in
the same run: the median ``env.step("echo hi")`` of the same episode.
Also printed: one chat completion through the real openai client to the local scripted server.

Run: python benchmarks/bench_agent_loop.py [--steps 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from mlgym_core.protocols import Completion


class InstantModel:
    name = "instant"
    max_input_tokens = 128_000
    warnings: list[str] = []

    def __init__(self, steps: int, tool_calls: bool) -> None:
        self.left = steps
        self.tool_calls = tool_calls
        self.seconds: list[float] = []

    def complete(self, messages: Any, *, tools: Any = None) -> Completion:
        t = time.perf_counter()
        self.left -= 1
        cmd = "echo hi" if self.left > 0 else "skip"
        if self.tool_calls:
            c = Completion(content="", tool_calls=[{"id": f"c{self.left}", "type": "function", "function": {
                "name": "bash", "arguments": '{"command": "%s"}' % cmd}}], input_tokens=1000, output_tokens=20)
        else:
            c = Completion(content=f"DISCUSSION\nStep {self.left}: print something.\n```\n{cmd}\n```",
                           input_tokens=1000, output_tokens=20)
        self.seconds.append(time.perf_counter() - t)
        return c


def measure(agent_name: str, steps: int) -> dict[str, float]:
    from mlgym_core.env import MLGymEnv
    from mlgym_core.registry import get_agent
    from mlgym_core.episode import RecordedEpisode
    from mlgym_core.run import RunSpec

    spec = get_agent(agent_name)
    env = MLGymEnv("battleOfSexes", max_steps=steps + 5, tools=list(spec.tool_groups))
    obs, _ = env.reset(seed=0)
    out = Path(tempfile.mkdtemp(prefix="bench-agent-"))
    episode = RecordedEpisode(env, RunSpec(task="battleOfSexes", agent=agent_name, model="instant:x", max_steps=steps + 5,
                                   output=str(out)), out / "battleOfSexes.traj", model=InstantModel(steps, agent_name
                                                                                                   == "tool-calling"))
    episode.observation = obs
    agent = spec.factory()
    env_s: list[float] = []
    ep_s: list[float] = []
    state_s: list[float] = []
    marks: list[float] = []
    real_step, real_state, real_ep_step = env.step, agent.state, episode.step

    def timed_ep_step(action: str, **kw: Any) -> Any:
        t = time.perf_counter()
        r = real_ep_step(action, **kw)
        ep_s.append(time.perf_counter() - t)
        return r

    def timed_step(action: str) -> Any:
        t = time.perf_counter()
        r = real_step(action)
        env_s.append(time.perf_counter() - t)
        marks.append(time.perf_counter())
        return r

    def timed_state() -> Any:
        t = time.perf_counter()
        r = real_state()
        state_s.append(time.perf_counter() - t)
        return r

    env.step = timed_step  # type: ignore[method-assign]
    episode.step = timed_ep_step  # type: ignore[method-assign]
    agent.state = timed_state  # type: ignore[method-assign]
    try:
        agent.run(episode)
    finally:
        env.close()
    model_s = episode.model.seconds
    # per loop iteration: from the end of one env.step to the end of the next
    over, scaffold = [], []
    for i in range(1, len(marks) - 1):
        loop = marks[i] - marks[i - 1]
        o = loop - env_s[i] - model_s[i] - (state_s[i] if i < len(state_s) else 0.0)
        over.append(o)
        scaffold.append(o - (ep_s[i] - env_s[i]))  # without core's Episode.step bookkeeping (.traj rewrite)
    echo_steps = env_s[1:-1]
    return {"overhead_ms": statistics.median(over) * 1e3, "overhead_p90_ms": sorted(over)[int(0.9 * len(over))] * 1e3,
            "scaffold_ms": statistics.median(scaffold) * 1e3,
            "record_ms": statistics.median(e - v for e, v in zip(ep_s[1:-1], env_s[1:-1])) * 1e3,
            "env_step_ms": statistics.median(echo_steps) * 1e3,
            "state_ms": statistics.median(state_s) * 1e3 if state_s else 0.0, "steps": len(over)}


def http_call(n: int) -> float:
    from mlgym_agents.openai_backend import OpenAIBackend
    from mlgym_agents.testing import ScriptedServer

    with ScriptedServer(["DISCUSSION\nx\n```\nls\n```"], repeat=True) as srv:
        b = OpenAIBackend("scripted-model", base_url=srv.base_url, api_key="k")
        b.complete([{"role": "user", "content": "warm up"}])
        ts = []
        for _ in range(n):
            t = time.perf_counter()
            b.complete([{"role": "user", "content": "hello " * 500}])
            ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args()
    for name in ("default", "tool-calling"):
        r = measure(name, args.steps)
        verdict = "OK" if r["overhead_ms"] < 5 else "OVER TARGET"
        print(f"{name:13s} agent-loop overhead/step: median {r['overhead_ms']:.2f} ms (p90 {r['overhead_p90_ms']:.2f} ms)"
              f" over {r['steps']} steps; baseline env.step('echo hi') median {r['env_step_ms']:.2f} ms; "
              f"ratio {r['overhead_ms'] / r['env_step_ms']:.2f}x; target < 5 ms: {verdict}")
        print(f"{'':13s} of which core's Episode.step record (.traj rewritten each step) median {r['record_ms']:.2f} ms;"
              f" scaffold alone median {r['scaffold_ms']:.2f} ms ({r['scaffold_ms'] / r['env_step_ms']:.2f}x)")
        print(f"{'':13s} excluded: state command median {r['state_ms']:.2f} ms per step (sandbox round trip)")
    print(f"openai client -> local scripted server, one completion: median {http_call(50):.2f} ms")


if __name__ == "__main__":
    main()
