"""No answers in the agent's sandbox, and no self-reported scores: checked in a real bwrap sandbox.

The agent's whole visible filesystem is searched for the hidden answers (every line of the
grader's answer file, and the raw lines of the test rows with their labels); the task package
folder, the data cache and MLGYM_DATA_DIR must not be reachable; a submission that prints its
own score, or workspace modules that shadow the evaluator's imports, must not be believed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from mlgym_core import WORKSPACE, data_home
from mlgym_core.builtin_plugins.local_runtime import LocalRuntime
from mlgym_core.env import MLGymEnv
from mlgym_tasks_tabular import synthetic

from .conftest import real_data

PATS = ".leak-patterns"
FAKE = '{"rmse": 0.0, "r2": 1.0, "accuracy": 1.0}'
# Every regular file below 20 MB outside /proc, /sys and /dev whose inode changed (ctime) since the
# oldest source of the answers was written, text files only (-I). Whatever holds the answers was made
# from those sources: a copy, an extraction or a hard link of one gets a new ctime (no tool can set
# it back), and a bind mount shows the source's own; so the older files (the Python install, /usr,
# /opt: 200,000+ files read for a minute on a cold page cache) cannot hold them. Eight greps read at
# once; each filters its own counts, so only whole short hit lines reach the shared pipe.
SEARCH = (f"find / \\( -path /proc -o -path /sys -o -path /dev \\) -prune -o -type f -size -20M "
          f"-newerct @SINCE -print0 "
          f"2>/dev/null | xargs -0 -P 8 -n 2000 sh -c 'grep -HIcxF -f {WORKSPACE}/{PATS} \"$@\" 2>/dev/null "
          f"| awk -F: -v min=MIN \"\\$NF >= min && \\$1 !~ /{PATS}\\$/\"' sh; echo SEARCH-DONE")
SHADOWS = {name: f"print({FAKE!r})\nraise SystemExit(0)\n"
           for name in ("json.py", "pandas.py", "sitecustomize.py", "numpy.py", "usercustomize.py")}


@pytest.fixture
def episode(tabular_env):
    envs, work = [], tempfile.mkdtemp(prefix="tl-")

    def start(task_id, scale):
        env = MLGymEnv(task_id, runtime=LocalRuntime(isolation="bwrap"), work_dir=work, max_steps=30, scale=scale)
        envs.append(env)
        env.reset(seed=0)
        assert env.isolation == "bwrap"
        return env

    yield start
    for env in envs:
        env.close()
    shutil.rmtree(work, ignore_errors=True)


def sh(env, command):
    obs, _r, _term, _trunc, _info = env.step(command)
    return obs


def oldest_source(dataset: str, scale: str) -> int:
    """The ctime (whole seconds, one back for rounding) of the oldest file of the answers' sources: every
    data preparation of this MLGYM_HOME (an older one of the same data included), and at full scale the
    raw files of ``dataset`` in MLGYM_DATA_DIR."""
    roots = [data_home()] + ([Path(os.environ["MLGYM_DATA_DIR"]) / dataset] if scale == "full" else [])
    return int(min(p.stat().st_ctime for root in roots for p in root.rglob("*") if p.is_file())) - 1


def assert_nothing_reachable(env, patterns, min_count, hidden_names, since):
    ws = env.workspace_host
    (ws / PATS).write_text("\n".join(patterns) + "\n")
    (ws / "control" / "leak.csv").parent.mkdir()  # a planted leak: proves the search finds one
    (ws / "control" / "leak.csv").write_text("Id,x\n" + "\n".join(patterns[:min_count]) + "\n")
    env.short_timeout = 300  # a whole-filesystem search
    out = sh(env, SEARCH.replace("MIN", str(min_count)).replace("SINCE", str(since)))
    hits = [ln.rsplit(":", 1)[0] for ln in out.strip().splitlines()[:-1]]
    assert out.strip().endswith("SEARCH-DONE") and hits == [f"{WORKSPACE}/control/leak.csv"], (
        f"hidden answers are readable in the agent's sandbox:\n{out}")
    shutil.rmtree(ws / "control")
    (ws / PATS).unlink()
    names = " -o ".join(f"-name {n}" for n in hidden_names)
    out = sh(env, f"find / \\( -path /proc -o -path /sys \\) -prune -o \\( {names} \\) -print 2>/dev/null; "
                  "echo FIND-DONE")
    assert out.strip() == "FIND-DONE", out
    task = env.task
    for host in (Path(str(task.spec.files)), task.folder, task._prepared, Path(task.data_dir()).parent / "grader",
                 Path(os.environ["MLGYM_DATA_DIR"])):
        out = sh(env, f"ls {host} >/dev/null 2>&1 && echo VISIBLE || echo HIDDEN")
        assert out.strip() == "HIDDEN", f"{host} is reachable from the agent's sandbox"
    out = sh(env, "echo hacked > evaluate.py; head -c 6 evaluate.py")
    assert "Read-only" in out and "hacked" not in out.splitlines()[-1], out


def assert_self_reported_scores_ignored(env, honest_submission, metric, honest_max):
    ws = env.workspace_host
    (ws / "submission.csv").write_text(FAKE + "\n")
    obs = sh(env, "validate")
    assert "Evaluation Score" not in obs and "lacks the column(s)" in obs
    for name, text in SHADOWS.items():
        (ws / name).write_text(text)
    (ws / "submission.csv").write_text(honest_submission)
    obs = sh(env, "validate")
    assert "Evaluation Score" in obs, obs
    assert env.scores[-1][metric] <= honest_max, env.scores[-1]
    (ws / "submission.csv").write_text(FAKE + "\n")
    sh(env, "submit")
    assert env.exit_status == "evaluation_format_error (submit)"
    assert all(s[metric] <= honest_max for s in env.scores)


# Kaggle's files when present, else the synthetic data: the layout code is the same for both, and each
# whole-filesystem search takes tens of seconds, so one scale per run.
SCALE = "full" if real_data() else "smoke"


@pytest.mark.parametrize("scale", [SCALE])
def test_house_prices_answers_stay_with_the_grader(episode, scale):
    import pandas as pd

    env = episode("regressionKaggleHousePrice", scale)
    assert sh(env, "ls data").split() == ["test.csv", "train.csv", "validation.csv"]
    assert sh(env, "head -1 data/test.csv | grep -c SalePrice").strip() == "0"
    answer = env.task.grader_binds()[f"{WORKSPACE}/data"] / "answer.csv"
    answer_lines = answer.read_text().splitlines()[1:]
    test_ids = {line.split(",")[0] for line in answer_lines}
    if scale == "full":
        raw = (Path(os.environ["MLGYM_DATA_DIR"]) / "kaggle_house_prices" / "train.csv").read_text()
    else:  # the whole generated table, labels included
        raw = synthetic.house_prices().to_csv(index=False)
    raw_lines = [ln for ln in raw.splitlines()[1:] if ln.split(",")[0] in test_ids]
    assert len(answer_lines) == len(raw_lines) == {"full": 292, "smoke": 100}[scale]
    assert_nothing_reachable(env, answer_lines + raw_lines, 1, ("answer.csv",),
                             oldest_source("kaggle_house_prices", scale))
    test = pd.read_csv(env.task.data_dir() / "test.csv")
    mean = pd.read_csv(env.task.data_dir() / "train.csv")["SalePrice"].mean()
    honest = pd.DataFrame({"Id": test["Id"], "SalePrice": mean}).to_csv(index=False)
    assert_self_reported_scores_ignored(env, honest, "r2", 0.01)


@pytest.mark.parametrize("scale", [SCALE])
def test_titanic_ground_truth_stays_with_the_grader(episode, scale):
    import pandas as pd

    env = episode("titanicSurvival", scale)
    assert sh(env, "ls data").split() == ["test.csv", "train.csv"]
    assert sh(env, "head -1 data/test.csv | grep -c Survived").strip() == "0"
    truth = env.task.grader_binds()[f"{WORKSPACE}/data"] / "ground_truth.csv"
    lines = truth.read_text().splitlines()[1:]
    assert len(lines) == {"full": 418, "smoke": 120}[scale]
    # "892,0"-style lines are short: flag any file holding at least a tenth of the answer lines
    assert_nothing_reachable(env, lines, len(lines) // 10, ("ground_truth.csv", "gender_submission.csv"),
                             oldest_source("titanic", scale))
    test = pd.read_csv(env.task.data_dir() / "test.csv")
    truth_df = pd.read_csv(truth).set_index("PassengerId")
    wrong = 1 - truth_df.loc[test["PassengerId"], "Survived"].to_numpy()
    honest = pd.DataFrame({"PassengerId": test["PassengerId"], "Survived": wrong}).to_csv(index=False)
    assert_self_reported_scores_ignored(env, honest, "accuracy", 0.0)
