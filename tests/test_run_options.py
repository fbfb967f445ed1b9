"""Run options are declared once (mlgym_core/run_options.py): run, replay and bench offer the same ones
with the same defaults, and the defaults are the ones RunSpec, BenchConfig and MLGymEnv use."""

from __future__ import annotations

import inspect

import click
import pytest

from mlgym_core import run_options
from mlgym_core.cli import cli

SHARED = {"--runtime": "runtime", "--max-steps": "max_steps", "--seed": "seed", "--scale": "scale"}


def _params(verb: str) -> dict[str, click.Parameter]:
    with click.Context(cli) as ctx:
        cmd = cli.get_command(ctx, verb)
    assert cmd is not None, verb
    return {o: p for p in cmd.params for o in p.opts}


@pytest.mark.parametrize("verb", ["run", "replay", "bench"])
def test_every_run_command_offers_the_shared_options_with_one_set_of_defaults(verb):
    params = _params(verb)
    for flag, field in SHARED.items():
        assert params[flag].default == getattr(run_options, f"DEFAULT_{field.upper()}"), (verb, flag)
    assert params["--option"].multiple and params["-o"] is params["--option"]


def test_one_episode_commands_share_their_own_options():
    run, replay = _params("run"), _params("replay")
    for flag in ("--task", "--output", "--workspace-from", "--short-timeout", "--training-timeout", "--devices"):
        assert run[flag].help == replay[flag].help and run[flag].default == replay[flag].default


def test_specs_and_the_environment_take_the_same_defaults():
    from mlgym_core.bench.plan import BenchConfig
    from mlgym_core.env import MLGymEnv
    from mlgym_core.run import RunSpec

    spec = RunSpec(task="t", agent="a")
    bench = BenchConfig(tasks=("t",), agents=("a",))
    for field in SHARED.values():
        assert getattr(spec, field) == getattr(bench, field) == getattr(run_options, f"DEFAULT_{field.upper()}")
    assert inspect.signature(MLGymEnv).parameters["max_steps"].default == run_options.DEFAULT_MAX_STEPS


def test_a_bad_max_steps_is_one_line():
    from click.testing import CliRunner

    res = CliRunner().invoke(cli, ["bench", "--tasks", "t", "--agents", "a", "--output", "x", "--max-steps", "0"])
    assert res.exit_code != 0 and "--max-steps must be a positive integer, got '0'" in (res.output + str(res.exception))
