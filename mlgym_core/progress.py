"""What a person watching ``mlgym run``/``replay`` sees: live progress, the summary, the outcome.

On a terminal a rich live display shows the step (n of max), the last action on one line, the
last and best score against the baseline, cost and tokens, and the elapsed time; retries and
waits reported by a model backend (:func:`notify`) appear as they happen. When stdout is not a
terminal the same facts are plain log lines, one per step and one per retry, flushed at once.

Numbers are rounded for people here (4 significant digits, :func:`human`); the JSON files keep
full precision. :func:`outcome` says whether a finished run is an infrastructure failure, which
``mlgym run`` turns into a non-zero exit code.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

_listeners: list[Callable[[str], None]] = []
_lock = threading.Lock()


def notify(message: str) -> None:
    """Tell whoever watches the run about a transient event: a model retry, a wait, a slow start.

    Model backends and agents call this (``from mlgym_core import notify``); it never raises and
    costs nothing when nobody watches.
    """
    with _lock:
        listeners = list(_listeners)
    for fn in listeners:
        try:
            fn(message)
        except Exception:  # a display problem must never end an episode
            pass


def human(value: Any) -> str:
    """A number rounded to 4 significant digits without an exponent (``1.0212100000000006`` -> ``1.021``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-" if value is None else str(value)
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    import numpy as np

    return np.format_float_positional(float(f"{float(value):.4g}"), trim="-")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _one_line(text: str, width: int = 100) -> str:
    """Agent- or endpoint-written text made safe for one terminal line: whitespace folded, control
    characters (ESC sequences that would drive the user's terminal) shown as '?'."""
    first = " ".join((text or "").split()).encode("utf-8", "replace").decode()  # lone surrogates: "?"
    first = _CONTROL.sub("?", first)
    return first if len(first) <= width else first[: width - 1] + "…"


def _elapsed(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}" if m < 60 else f"{m // 60}:{m % 60:02d}:{s:02d}"


class RunProgress:
    """A context manager around ``run_episode``: pass :meth:`on_step` as its ``on_step``."""

    def __init__(self, *, task: str, max_steps: int, live: bool | None = None, console: Any = None) -> None:
        from rich.console import Console

        from .registry import get_task

        spec = get_task(task)
        self.task_id = spec.id
        self.metric = spec.metric
        self.higher = spec.higher_is_better
        self.baseline = spec.baseline_scores.get(spec.metric)
        self.max_steps = max_steps
        self.console = console or Console()
        self.live_mode = self.console.is_terminal if live is None else live
        self.t0 = time.monotonic()
        self.step = 0
        self.action = ""
        self.last: float | None = None
        self.best: float | None = None
        self.cost = 0.0
        self.tokens = (0, 0)
        self.event = "starting the sandbox"
        self._live: Any = None

    # -- the observer ------------------------------------------------------------------------------
    def on_step(self, episode: Any, reward: float) -> None:
        traj = episode.traj["trajectory"]
        self.step = len(traj)
        self.action = traj[-1]["action"] if traj else ""
        base = getattr(episode.env, "baseline", None)  # the baseline of the scale that runs
        if isinstance(base, dict):
            self.baseline = base.get(self.metric)
        vals = [s[self.metric] for s in episode.env.scores if self.metric in s]
        if vals:
            self.last = vals[-1]
            self.best = max(vals) if self.higher else min(vals)
        st = episode.stats
        self.cost = float(st.get("total_cost", 0.0))
        self.tokens = (int(st.get("tokens_sent", 0)), int(st.get("tokens_received", 0)))
        self.event = ""
        if not self.live_mode:
            self._line(f"step {self.step}/{self.max_steps}  {self._scores()}  {self._usage()}  "
                       f"{_elapsed(time.monotonic() - self.t0)}  $ {_one_line(self.action, 80)}")

    def on_event(self, message: str) -> None:
        self.event = message
        if self._live is not None:
            from rich.text import Text

            self.console.print(Text(f"{_elapsed(time.monotonic() - self.t0)}  {_one_line(message, 500)}",
                                    style="yellow"), highlight=False, soft_wrap=True)
        elif not self.live_mode:
            self._line(f"{_elapsed(time.monotonic() - self.t0)}  {_one_line(message, 500)}")

    # -- rendering ---------------------------------------------------------------------------------
    def _scores(self) -> str:
        base = human(self.baseline) if self.baseline is not None else "-"
        return f"{self.metric} last {human(self.last)} best {human(self.best)} (baseline {base})"

    def _usage(self) -> str:
        return f"${self.cost:.4f} tokens {self.tokens[0]}/{self.tokens[1]}"

    def _line(self, text: str) -> None:
        print(text, flush=True)

    def __rich__(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        t = Table.grid(padding=(0, 2))
        t.add_column(style="bold", no_wrap=True)
        t.add_column(no_wrap=True, overflow="ellipsis")
        t.add_row("mlgym", f"{self.task_id}   step {self.step} of {self.max_steps}   "
                           f"elapsed {_elapsed(time.monotonic() - self.t0)}")
        t.add_row("action", Text(_one_line(self.action) or "-"))  # Text: agent text is never markup
        t.add_row("score", self._scores())
        t.add_row("cost", self._usage())
        if self.event:
            t.add_row("now", Text(_one_line(self.event, 200), style="yellow"))
        return t

    def __enter__(self) -> RunProgress:
        with _lock:
            _listeners.append(self.on_event)
        if self.live_mode:
            from rich.live import Live

            self._live = Live(self, console=self.console, refresh_per_second=2, transient=True)
            self._live.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        with _lock:
            if self.on_event in _listeners:
                _listeners.remove(self.on_event)
        if self._live is not None:
            self._live.stop()
            self._live = None


# -- after the run -----------------------------------------------------------------------------------
def outcome(rec: dict[str, Any]) -> str | None:
    """None when the episode ran (whatever the agent's exit status); else one line saying what failed
    (:meth:`mlgym_core.records.RunRecord.infra_failure`, on run.json's object)."""
    from .records import RunRecord

    return RunRecord.parse(rec, "run record").infra_failure()


def print_summary(rec: dict[str, Any], console: Any = None) -> None:
    """The end-of-run panel: exit status and its reason in words, scores rounded for people."""
    from rich.console import Console
    from rich.panel import Panel

    console = console or Console()
    metric = rec["task"]["metric"]
    base = rec["baseline"].get(metric)
    cost = rec.get("cost") or {}
    exit_line = rec["exit_status"] or "-"
    if rec.get("exit_reason"):
        exit_line += f"   ({_one_line(rec['exit_reason'], 300)})"
    lines = [f"task      {rec['task']['id']}   agent {rec['agent']}   model {rec['model'] or '-'}",
             f"exit      {exit_line}",
             f"best      {metric} = {human(rec.get('best_score'))}   (baseline {human(base)})",
             f"last      {metric} = {human(rec.get('last_score'))}",
             f"steps     {rec['steps']}   wall {human(rec['timings']['wall_s'])} s   isolation {rec['isolation']}",
             f"cost      ${cost.get('total_cost', 0):.4f}   tokens {cost.get('tokens_sent', 0)}/"
             f"{cost.get('tokens_received', 0)}"]
    console.print(Panel("\n".join(lines), title="mlgym run", expand=False), highlight=False)
    # the path on its own line, never wrapped inside a box, so it can be copied whole
    console.print(f"run dir   {rec['run_dir']}", soft_wrap=True, highlight=False)


def log_to(path: Any) -> Callable[[], None]:
    """Write mlgym's host-side log records (``mlgym.*``), other libraries' log records of level WARNING and
    above, and Python warnings to ``path`` instead of the terminal until the returned function is called."""
    import logging

    handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    loggers = [logging.getLogger("mlgym"), logging.getLogger("py.warnings")]
    saved = [(lg.propagate, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.propagate = False
        if lg.level == logging.NOTSET or lg.level > logging.INFO:
            lg.setLevel(logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)  # libraries' own warnings (lancedb, transformers) instead of the last-resort stderr
    logging.captureWarnings(True)

    def stop() -> None:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        for lg, (prop, level) in zip(loggers, saved):
            lg.removeHandler(handler)
            lg.propagate, lg.level = prop, level
        handler.close()

    return stop
