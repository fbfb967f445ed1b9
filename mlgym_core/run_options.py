"""The options of a run, declared once for ``mlgym run``, ``mlgym replay`` and ``mlgym bench``.

The defaults live here as constants; :class:`mlgym_core.run.RunSpec`, the bench's ``BenchConfig``
and :class:`mlgym_core.env.MLGymEnv` take theirs from them. Importing this module loads only click.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from .errors import MlgymError

DEFAULT_MAX_STEPS = 50
"""Steps of an episode before its autosubmission (MLGym's default)."""
DEFAULT_SEED = 42
DEFAULT_RUNTIME = "local"
DEFAULT_SCALE = "default"
"""The task's first scale; resolved from the task spec when the run starts, never recorded as such."""

F = TypeVar("F", bound=Callable[..., Any])


class _PositiveInt(click.ParamType):
    """An integer of at least 1; a bad value is one line (``mlgym: error: ...``), not a usage screen."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            n = value if isinstance(value, int) and not isinstance(value, bool) else int(str(value).strip())
        except ValueError:
            n = 0
        if n < 1:
            flag = param.opts[0] if param is not None and param.opts else "value"
            raise MlgymError(f"{flag} must be a positive integer, got {value!r}")
        return n


POSITIVE_INT = _PositiveInt()


class KeyValues(click.Option):
    """A repeatable KEY=VALUE option that also takes several pairs after one flag.

    ``--model-option base_url=URL api_key=KEY`` is ``--model-option base_url=URL --model-option api_key=KEY``;
    the pairs end at the next word that starts with ``-`` or has no ``=``.
    """

    def add_to_parser(self, parser: Any, ctx: click.Context) -> None:
        super().add_to_parser(parser, ctx)
        for name in self.opts:
            opt = parser._long_opt.get(name) or parser._short_opt.get(name)
            if opt is None:
                continue
            one = opt.process

            def process(value: Any, state: Any, one: Any = one) -> None:
                one(value, state)
                while state.rargs and "=" in state.rargs[0] and not state.rargs[0].startswith("-"):
                    one(state.rargs.pop(0), state)

            opt.process = process


def parse_options(options: tuple[str, ...], flag: str = "--option") -> dict[str, Any]:
    """``KEY=VALUE`` pairs as a dict, each value read as YAML; a bad pair is a one-line MlgymError."""
    import yaml

    out: dict[str, Any] = {}
    for o in options:
        k, sep, v = o.partition("=")
        if not sep:
            raise MlgymError(f"{flag} {o!r}: expected KEY=VALUE")
        try:
            out[k.strip()] = yaml.safe_load(v)
        except yaml.YAMLError as exc:  # the value is not echoed: it may be a key
            why = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise MlgymError(f"{flag} {k.strip()}: the value is not valid YAML ({why}); quote it to pass a "
                             "string") from None
    return out


def _apply(f: F, opts: list[Callable[[F], F]]) -> F:
    for o in reversed(opts):
        f = o(f)
    return f


def run_options(f: F) -> F:
    """What every run takes, one episode or a bench: runtime, max steps, seed, scale, agent options."""
    return _apply(f, [
        click.option("--runtime", default=DEFAULT_RUNTIME, show_default=True, help="Runtime (mlgym list runtimes)."),
        click.option("--max-steps", default=DEFAULT_MAX_STEPS, show_default=True, type=POSITIVE_INT,
                     help="Steps before the episode is autosubmitted."),
        click.option("--seed", default=DEFAULT_SEED, show_default=True, type=int,
                     help="Seed of the episode (a bench's run k uses seed + k)."),
        click.option("--scale", default=DEFAULT_SCALE, show_default=True,
                     help="smoke | full | default (the task's first scale)."),
        click.option("--option", "-o", "options", multiple=True, cls=KeyValues,
                     help="Agent option KEY=VALUE (value as YAML); repeat it or give several pairs."),
    ])


def episode_options(f: F) -> F:
    """What one episode (``run``, ``replay``) takes on top of :func:`run_options`."""
    return _apply(f, [
        click.option("--task", "task", required=True, help="Task id (or plugin/id)."),
        run_options,
        click.option("--output", default="runs", show_default=True, type=click.Path(file_okay=False)),
        click.option("--workspace-from", type=click.Path(exists=True, file_okay=False),
                     help="Lay the files of this folder over the starter files."),
        click.option("--short-timeout", type=float, default=None, help="Seconds for ordinary commands (25)."),
        click.option("--training-timeout", type=float, default=None, help="Seconds for python/torchrun commands."),
        click.option("--devices", default=None,
                     help="GPU ids for the episode, e.g. 0,1 (default: the first ones the task asks for, if any)."),
    ])
