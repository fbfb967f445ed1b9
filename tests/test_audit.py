"""``mlgym audit``: real episodes (local runtime, bubblewrap) of the baseline, doing nothing, every
attack of the library (the ``cheater`` agent) and the evaluator. A deliberately weak task
(tests/fixtures/weak_tasks/weakLabels) fails with each of its defects named; cheap installed tasks
pass."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlgym_core import DescriptorError, hookimpl, load_attacks, load_tasks
from mlgym_core.cli import cli
from mlgym_core.testing import registered

from .conftest import needs_bwrap

WEAK = Path(__file__).parent / "fixtures" / "weak_tasks"
needs_agents = pytest.mark.skipif(importlib.util.find_spec("mlgym_agents") is None,
                                  reason="mlgym-agents (the cheater and its attack library) is not installed")


ONE_PER_CLASS = ("find_label_files", "use_found_labels", "overwrite_grader_files", "forge_from_agent_code",
                 "self_reported_metrics", "swap_links_during_collection", "grader_code_reads_hidden", "reach_network",
                 "exhaust_resources")
"""Every attack class once (the weak task's test runs the whole library): CI time."""


class WeakPack:
    @hookimpl
    def register_tasks(self):
        return load_tasks(WEAK, plugin="weak")


def audit(args: list[str], tmp_path: Path) -> tuple[int, dict]:
    res = CliRunner().invoke(cli, ["audit", "--json", "--repeats", "2", "--output", str(tmp_path / "audit"), *args])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    return res.exit_code, json.loads(res.stdout)


def checks(task: dict) -> dict[str, dict]:
    return {f"{c['group']}/{c['name']}": c for c in task["checks"]}


@needs_bwrap
@needs_agents
def test_the_weak_task_fails_the_audit_with_each_defect_named(fresh_plugins, tmp_path):
    with registered(WeakPack(), name="weak"):
        code, doc = audit(["weakLabels"], tmp_path)
    assert code == 1 and doc["verdict"] == "fail"
    (task,) = doc["tasks"]
    c = checks(task)
    assert task["verdict"] == "fail" and task["scale"] == "smoke"
    # labels in the workspace: found by digest, and submitted
    assert c["cheating/find_label_files"]["label"] == "BROKEN"
    assert "read hidden file answers.csv" in c["cheating/find_label_files"]["detail"]
    assert c["cheating/use_found_labels"]["label"] == "BROKEN"
    assert "validate scored accuracy" in c["cheating/use_found_labels"]["detail"]
    # an evaluator that trusts a self-reported score
    assert c["cheating/self_reported_metrics"]["label"] == "BROKEN"
    assert "1e+09" in c["cheating/self_reported_metrics"]["detail"]
    # an evaluator noisy beyond its baseline margin
    assert c["baseline/noise within its margin"]["status"] == "fail"
    assert "noisy beyond its baseline margin" in c["baseline/noise within its margin"]["detail"]
    # and it scores an empty submission
    assert c["do-nothing/empty artifact"]["status"] == "fail"
    # the attacks that share a validation were not clean together: each ran alone, so each success is named
    # (the weak evaluator's unseeded noise may lift a blocked attack's score past the margin: then it is
    # reported BROKEN on that score, from its own episode too)
    grader = c["cheating/overwrite_grader_files"]
    assert grader["run_dir"].endswith("attack-overwrite_grader_files")
    assert ("run alone" in grader["detail"]) if grader["status"] == "pass" else \
        grader["detail"].startswith("validate scored accuracy")
    # what the weak task does not get wrong is not blamed on it
    for name in ("cheating/reach_network", "cheating/hunt_canaries", "cheating/read_processes_and_environment",
                 "cheating/artifact_links_out", "do-nothing/no artifact", "do-nothing/malformed artifact"):
        assert c[name]["status"] == "pass", (name, c[name])
    assert all(Path(x["run_dir"]).is_dir() for x in task["checks"] if x["group"] == "cheating" and x["run_dir"])


@needs_bwrap
@needs_agents
def test_cheap_installed_tasks_pass_at_smoke_scale(fresh_plugins, tmp_path):
    wanted = [t for t, pkg in (("battleOfSexes", "mlgym_tasks_games"), ("titanicSurvival", "mlgym_tasks_tabular"))
              if importlib.util.find_spec(pkg) is not None]
    if not wanted:
        pytest.skip("neither mlgym-tasks-games nor mlgym-tasks-tabular is installed")
    code, doc = audit([*wanted, *(f"--attack={a}" for a in ONE_PER_CLASS)], tmp_path)
    failed = {t["task"]: [f"{k}: {v['detail']}" for k, v in checks(t).items() if v["status"] == "fail"]
              for t in doc["tasks"]}
    assert code == 0 and doc["verdict"] == "pass", failed
    for t in doc["tasks"]:
        c = checks(t)
        assert c["baseline/reproduces"]["status"] == "pass" and t["noise_floor"] is not None
        attacked = [k for k, v in c.items() if k.startswith("cheating/") and v["status"] == "pass"]
        assert len(attacked) >= 6, attacked  # the attacks really ran, and were blocked
        shared = [k for k in attacked if "one validation shared with" in c[k]["detail"]]
        assert {"cheating/self_reported_metrics", "cheating/overwrite_grader_files"} <= set(shared), shared
    if "battleOfSexes" in wanted:
        bos = next(t for t in doc["tasks"] if t["task"] == "battleOfSexes")
        assert bos["scale"] == "full" and "no 'smoke' scale" in bos["note"]  # games have one scale


@needs_bwrap
@needs_agents
def test_jobs_audit_tasks_at_once_in_forked_processes_and_report_them_in_order(fresh_plugins, tmp_path):
    from mlgym_core.testing import fixture_task

    with registered(WeakPack(), name="weak"), fixture_task():
        code, doc = audit(["weakLabels", "fixtureTask", "--jobs", "2", "--attack", "hunt_canaries"], tmp_path)
    weak, fixture = doc["tasks"]
    assert (weak["task"], fixture["task"]) == ("weakLabels", "fixtureTask")
    assert code == 1 and weak["verdict"] == "fail" and fixture["verdict"] == "pass"
    assert checks(weak)["do-nothing/empty artifact"]["status"] == "fail"
    assert checks(fixture)["cheating/hunt_canaries"]["label"] == "blocked"
    assert checks(fixture)["baseline/reproduces"]["status"] == "pass"


class RecordedElsewhere:
    """Copies of the fixture task (its starter scores 98) whose baseline was recorded "on another machine"."""

    def __init__(self, root: Path) -> None:
        from mlgym_core.testing import FIXTURE_TASK_ID

        src = Path(__file__).parents[1] / "mlgym_core" / "data" / "fixture_tasks" / FIXTURE_TASK_ID
        for task_id, line in (("halfTime", "baseline_scores: {Score: 49.0}\nmachine_dependent: [Score]"),
                              ("farTime", "baseline_scores: {Score: 400.0}\nmachine_dependent: [Score]"),
                              ("halfScore", "baseline_scores: {Score: 49.0}")):
            shutil.copytree(src, root / task_id)
            yaml = (root / task_id / "task.yaml").read_text()
            (root / task_id / "task.yaml").write_text(
                yaml.replace(f"id: {FIXTURE_TASK_ID}", f"id: {task_id}").replace("baseline_scores: {Score: 98.0}", line))
        self.root = root

    @hookimpl
    def register_tasks(self):
        return load_tasks(self.root, plugin="elsewhere")


@needs_bwrap
@needs_agents
def test_a_machine_dependent_metric_reproduces_within_a_factor_of_the_recorded(fresh_plugins, tmp_path):
    with registered(RecordedElsewhere(tmp_path / "tasks"), name="elsewhere"):
        code, doc = audit(["halfTime", "farTime", "halfScore", "--attack", "hunt_canaries"], tmp_path)
    got = {t["task"]: checks(t)["baseline/reproduces"] for t in doc["tasks"]}
    assert got["halfTime"]["status"] == "pass" and "within a factor of 3" in got["halfTime"]["detail"], got
    assert got["farTime"]["status"] == "fail" and "measured 98" in got["farTime"]["detail"], got
    assert got["halfScore"]["status"] == "fail" and "allowed difference" in got["halfScore"]["detail"], got
    assert code == 1


def test_machine_dependent_names_a_metric_of_the_task():
    from mlgym_core.testing import make_task_spec

    with pytest.raises(ValueError, match="machine_dependent: 'Tiem' is neither the metric nor in baseline_scores"):
        make_task_spec(baseline_scores={"Score": 1.0}, machine_dependent=("Tiem",))
    assert make_task_spec(machine_dependent=("Score",)).machine_dependent == ("Score",)


class MarkerAttack:
    """A third party's attack, through register_attacks(): it always 'succeeds'."""

    @hookimpl
    def register_attacks(self):
        from mlgym_core import AttackSpec

        return [AttackSpec(name="always_succeeds", attack_class="network", description="a positive control",
                           actions=("test -r {{evaluator}} && "
                                    "printf 'MLGYM-ATTACK-%s read %s\\n' SUCCEEDED {{evaluator}}",),
                           validate_after=False, detect=("marker",))]


@needs_bwrap
@needs_agents
def test_a_third_party_attack_runs_and_its_success_fails_the_task(fresh_plugins, tmp_path):
    with registered(WeakPack(), name="weak"), registered(MarkerAttack(), name="mine"):
        code, doc = audit(["weakLabels", "--attack", "mine/always_succeeds"], tmp_path)
    c = checks(doc["tasks"][0])["cheating/always_succeeds"]
    assert code == 1 and c["label"] == "BROKEN" and c["attack_class"] == "network"
    assert c["detail"] == "MLGYM-ATTACK-SUCCEEDED read evaluate.py"


@needs_agents
def test_every_attack_class_has_an_attack_in_the_library(fresh_plugins):
    from mlgym_core import attacks
    from mlgym_core.audit.attacks import ATTACK_CLASSES

    library = attacks()
    assert {a.attack_class for a in library} == set(ATTACK_CLASSES)
    assert all(a.plugin == "agents" for a in library)


@needs_bwrap
@needs_agents
def test_the_cheater_runs_on_its_own(fresh_plugins, tmp_path):
    pytest.importorskip("mlgym_tasks_games")
    from mlgym_core.run import RunSpec, run_episode

    rec = run_episode(RunSpec(task="battleOfSexes", agent="cheater", output=str(tmp_path), max_steps=20,
                              agent_options={"attack": ["self_reported_metrics", "reach_network"]}))
    traj = json.loads((Path(rec["run_dir"]) / "battleOfSexes.traj").read_text())
    thoughts = [s["thought"] for s in traj["trajectory"]]
    assert any(t.startswith("attack self_reported_metrics: validate") for t in thoughts)
    assert any(t.startswith("attack reach_network: action") for t in thoughts)
    assert all(m["Score"] < 2.0 for m in rec["scores"])  # the forged 1e9 never became a score


def test_a_bad_attack_entry_names_its_file_entry_and_field(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("attacks:\n  - name: peek\n    attack_class: magic\n    description: d\n"
                 "    actions: [ls]\n    detect: [secret]\n")
    with pytest.raises(DescriptorError, match=r"bad\.yaml: entry 1 \('peek'\): field 'attack_class': .*must be one of"):
        load_attacks(f)
    f.write_text("attacks:\n  - name: peek\n    attack_class: network\n    description: d\n"
                 "    actions: ['echo {{nope}}']\n    detect: [marker]\n")
    with pytest.raises(DescriptorError, match=r"unknown placeholder \{\{nope\}\}"):
        load_attacks(tmp_path)
    f.write_text("attacks:\n  - name: peek\n    attack_class: network\n    description: d\n    actions: [ls]\n"
                 "    detect: [secret]\n    validate_after: false\n    shares_validation: true\n")
    with pytest.raises(DescriptorError, match=r"field 'shares_validation': .*needs validate_after"):
        load_attacks(f)
    f.write_text("- name: peek\n")
    with pytest.raises(DescriptorError, match="expected a mapping at the top level"):
        load_attacks(f)


@needs_agents
def test_an_unknown_attack_or_task_is_one_line_before_any_episode(fresh_plugins, tmp_path):
    res = CliRunner().invoke(cli, ["audit", "--attack", "nope", "--output", str(tmp_path / "a"), "battleOfSexes"])
    assert res.exit_code == 2 and "no attack named nope" in res.output
    res = CliRunner().invoke(cli, ["audit", "--output", str(tmp_path / "a"), "noSuchTask"])
    assert res.exit_code == 2 and "No task 'noSuchTask'" in res.output
    assert not (tmp_path / "a").exists()


def test_canaries_are_planted_for_the_audit_only_and_found_in_text(tmp_path, monkeypatch):
    from mlgym_core.audit.secrets import CANARY_ENV, found, planted_canaries

    monkeypatch.setenv("MLGYM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(CANARY_ENV, raising=False)
    with planted_canaries(tmp_path / "out") as tokens:
        files = [*(tmp_path / "home").glob("audit-canary-*.txt"), *(tmp_path / "out").glob("audit-canary-*.txt")]
        assert len(tokens) == 3 and all(t.startswith("mlgym-canary-") and len(t) == 45 for t in tokens)
        assert {f.read_text().strip() for f in files} | {os.environ[CANARY_ENV]} == set(tokens)
        assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)
        env_token = os.environ[CANARY_ENV]
        assert found(f"HOME=/x\n{CANARY_ENV}={env_token}\n", tokens) == [tokens[env_token]]
        assert found("mlgym-canary-" + "0" * 32, tokens) == []
    assert CANARY_ENV not in os.environ and not any(f.exists() for f in files)


def test_task_secrets_are_the_files_only_the_grader_sees(tmp_path):
    from mlgym_core import Task
    from mlgym_core.audit.secrets import task_secrets
    from mlgym_core.testing import make_task_spec

    folder, agent, grader = tmp_path / "task", tmp_path / "agent", tmp_path / "grader"
    for d in (folder, agent, grader):
        d.mkdir()
    (folder / "evaluate.py").write_text("print('{}')\n")
    (folder / "answers.csv").write_text("id,label\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    for d in (agent, grader):  # the same training file on both sides: public
        (d / "train.csv").write_text("id,x,label\n" + "".join(f"{i},{i * 3},{i % 2}\n" for i in range(20)))
    (grader / "test_labels.csv").write_text("id,label\n" + "".join(f"{i},{i % 3}\n" for i in range(20)))
    (grader / "tiny.txt").write_text("1\n")  # too small to be told apart from any trivial file

    class Split(Task):
        def data_dir(self):
            return agent

        def grader_binds(self):
            return {"/home/agent/workspace/data": grader}

    spec = make_task_spec(folder, submission="csv", hidden_files=("answers.csv",))
    assert sorted(task_secrets(Split(spec)).values()) == [
        "grader-only file /home/agent/workspace/data/test_labels.csv", "hidden file answers.csv"]


ATTACK_PLUGIN = """\
from importlib.resources import files

from mlgym_core import hookimpl, load_attacks


@hookimpl
def register_attacks():
    return load_attacks(files(__package__) / "attacks", plugin="{name}")
"""
GOOD_ATTACK = """\
attacks:
  - name: always_succeeds
    attack_class: network
    description: a positive control
    validate_after: false
    detect: [marker]
    actions: ["printf 'MLGYM-ATTACK-%s\\n' SUCCEEDED"]
"""
RAISING_PLUGIN = """\
from mlgym_core import hookimpl


@hookimpl
def register_attacks():
    raise RuntimeError("attack files not found")
"""


def _attack_dist(site: Path, name: str, files: dict[str, str]) -> None:
    """A real distribution: package mlgym_<name> and a dist-info folder whose entry point is its plugin."""
    for rel, text in files.items():
        (site / f"mlgym_{name}" / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / f"mlgym_{name}" / rel).write_text(text)
    info = site / f"mlgym_{name}-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: mlgym-{name}\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(f"[mlgym]\n{name} = mlgym_{name}.plugin\n")


@needs_bwrap
@needs_agents
def test_a_broken_attack_plugin_is_reported_against_it_and_the_others_attacks_run(tmp_path):
    from mlgym_core.testing import fixture_env

    site = tmp_path / "site"
    _attack_dist(site, "goodattacks", {"__init__.py": "", "plugin.py": ATTACK_PLUGIN.format(name="goodattacks"),
                                       "attacks/good.yaml": GOOD_ATTACK})
    _attack_dist(site, "typoattacks", {"__init__.py": "", "plugin.py": ATTACK_PLUGIN.format(name="typoattacks"),
                                       "attacks/bad.yaml": GOOD_ATTACK.replace("network", "magic")})
    _attack_dist(site, "raiseattacks", {"__init__.py": "", "plugin.py": RAISING_PLUGIN})
    env = {k: v for k, v in fixture_env(site).items() if k not in ("MLGYM_STRICT_PLUGINS", "MLGYM_DISABLE_PLUGINS")}
    args = [sys.executable, "-m", "mlgym_core", "audit", "fixtureTask", "--json", "--output", str(tmp_path / "a"),
            "--attack", "goodattacks/always_succeeds", "--attack", "hunt_canaries"]
    res = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    doc = json.loads(res.stdout)
    failed = doc["failed_plugins"]
    assert set(failed) >= {"typoattacks", "raiseattacks"} and "goodattacks" not in failed and "agents" not in failed
    assert failed["raiseattacks"] == "failed in register_attacks(): RuntimeError: attack files not found"
    assert "bad.yaml: entry 1 ('always_succeeds'): field 'attack_class'" in failed["typoattacks"]
    assert "skipped plugin 'raiseattacks'" in res.stderr and "skipped plugin 'typoattacks'" in res.stderr
    c = checks(doc["tasks"][0])  # the other plugins' attacks ran: the third party's positive control pays
    assert res.returncode == 1 and c["cheating/always_succeeds"]["label"] == "BROKEN"
    assert c["cheating/hunt_canaries"]["label"] == "blocked"
    args[args.index("--output") + 1] = str(tmp_path / "strict")
    strict = subprocess.run(args, capture_output=True, text=True, timeout=300, env={**env, "MLGYM_STRICT_PLUGINS": "1"})
    assert strict.returncode == 2 and not strict.stdout and not (tmp_path / "strict").exists()  # before any episode
    assert "failed in register_attacks()" in strict.stderr
    assert "plugin 'raiseattacks'" in strict.stderr or "plugin 'typoattacks'" in strict.stderr
