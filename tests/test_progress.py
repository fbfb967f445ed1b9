"""What a person sees of a run: per-step lines when stdout is a pipe, numbers rounded for people,
the outcome (exit code) a script can trust, and the KEY=VALUE options as README writes them."""

from __future__ import annotations

import json
import re

import pytest

from mlgym_core.progress import human, notify, outcome

from .conftest import needs_games
from .test_run import mlgym, only_run_dir


@pytest.mark.parametrize("value, text", [
    (1.0212100000000006, "1.021"), (1.4374400000000078, "1.437"), (30340.11, "30340"), (0.000123456, "0.0001235"),
    (-0.2468, "-0.2468"), (3, "3"), (None, "-"), (float("nan"), "nan")])
def test_human_rounds_to_four_significant_digits(value, text):
    assert human(value) == text


def _rec(status, reason=None, **extra):
    return {"exit_status": status, "exit_reason": reason, **extra}


@pytest.mark.parametrize("rec, expect", [
    (_rec("submitted"), None),
    (_rec("autosubmission (max_steps)"), None),
    (_rec("autosubmission (exit_cost)"), None),
    (_rec("submission_not_found (exit_format)"), None),
    (_rec("evaluation_format_error (submit)"), None),
    (_rec("exit_forfeit"), None),
    (_rec("autosubmission (exit_api)", "openai:m: HTTP 500 after 6 attempts"),
     "endpoint was unusable: openai:m: HTTP 500"),
    (_rec("submission_not_found (exit_api)", "x"), "endpoint was unusable"),
    (_rec("early_exit"), "runtime failed"),
    (_rec("unknown_error (SandboxError: bwrap died)"), "run crashed: SandboxError: bwrap died"),  # mlgym-run/1
    (_rec("unknown_error", error="SandboxError: bwrap died"), "run crashed: SandboxError: bwrap died"),
    (_rec("SandboxError (submit)", "SandboxError: the grading sandbox failed to start"), "evaluator failed"),
    (_rec("autosubmission (exit_error)", error="ImportError: no module"), "run crashed: ImportError"),
    (_rec("SandboxError, the grading sandbox failed to start, (submit)"), "evaluator failed"),
    (_rec("EvaluationTimeoutError, the evaluator ran past 1800 s, (submit)"), None),
    (_rec("EvaluationTimeoutError (submit)", "EvaluationTimeoutError: the evaluator ran past 1800 s"), None),
    (_rec(""), "did not start"),
])
def test_outcome_separates_infrastructure_failures_from_agent_exits(rec, expect):
    got = outcome(rec)
    assert (got is None) if expect is None else (expect in got), got


def test_notify_without_listeners_is_silent():
    notify("nobody watches")  # must not raise or print


def test_several_key_value_pairs_after_one_flag(core_only):
    from mlgym_core.cli import run_cmd

    ctx = run_cmd.make_context("run", ["--task", "t", "--agent", "a", "--model-option", "base_url=http://h:1/v1",
                                       "api_key=k", "--max-steps", "3", "-o", "memory=true", "history_processor=x",
                                       "--model-option", "temperature=0.2"])
    assert ctx.params["model_options"] == ("base_url=http://h:1/v1", "api_key=k", "temperature=0.2")
    assert ctx.params["options"] == ("memory=true", "history_processor=x")
    assert ctx.params["max_steps"] == 3


@needs_games
def test_piped_run_prints_a_line_per_step_and_a_rounded_summary(tmp_runs):
    r = mlgym("run", "--task", "battleOfSexes", "--agent", "baseline", "--output", str(tmp_runs),
              env={"COLUMNS": "300"})
    assert r.returncode == 0, r.stderr
    steps = [ln for ln in r.stdout.splitlines() if ln.startswith("step ")]
    run = json.loads((only_run_dir(tmp_runs) / "run.json").read_text())
    assert len(steps) == run["steps"] >= 2
    assert steps[0].startswith(f"step 1/{run['max_steps']}") and "baseline" in steps[0]
    assert steps[-1].endswith("submit")
    assert "submitted" in r.stdout
    best = run["best_score"]
    assert f"Score = {human(best)}" in r.stdout  # 4 significant digits for people ...
    assert not re.search(r"\d\.\d{6,}", r.stdout)  # ... never a float's full repr
    assert isinstance(best, float)  # ... and full precision in the JSON
    assert f"run dir   {only_run_dir(tmp_runs)}" in r.stdout  # the path on one line, whole


def test_result_files_are_readable_by_others(tmp_path):
    import os
    import stat

    from mlgym_core.records import TrajectoryWriter, new_trajectory, write_json

    old = os.umask(0o022)
    os.umask(old)
    write_json(tmp_path / "run.json", {"a": 1})
    TrajectoryWriter(tmp_path / "t.traj").write(new_trajectory())
    for name in ("run.json", "t.traj"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~old
    assert stat.S_IMODE((tmp_path / "run.json").stat().st_mode) & 0o044 or old & 0o044


def test_library_warnings_during_a_run_go_to_the_run_log(tmp_path, capfd):
    import warnings

    from mlgym_core.progress import log_to

    stop = log_to(tmp_path / "run.log")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("No artists with labels found to put in legend", UserWarning)
        import logging

        logging.getLogger("lance.some_library").warning("a library's own warning")
    finally:
        stop()
    log = (tmp_path / "run.log").read_text()
    assert "No artists with labels" in log and "a library's own warning" in log
    err = capfd.readouterr().err
    assert "No artists" not in err and "library's own" not in err
