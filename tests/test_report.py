"""``mlgym report`` on hand-built fixtures in MLGym's layout (tests/fixtures/reports/).

Fixture ``basic`` (k = 4 by default; every run present counts):

  battleOfSexes (Score, maximise), baseline 1.0
    gpt-4o  run_0 [1.2, 1.5, 1.4] -> BA 1.5, BS 1.4;  run_1 [] (empty: ignored)
    o3-mini run_0 [0.8];  run_1 [0.9, {no Score}] -> BA 0.9, BS 0.9 (below baseline: infeasible)
  3SATTime (Time, minimise), baseline 16
    gpt-4o  run_0 [10, 12] -> BA 10, BS 12;  o3-mini run_0 [8] -> BA 8, BS 8
  blotto (Score, maximise), baseline -0.25 (negative: infeasible)
    gpt-4o  run_0 [0.1, -0.05] -> BA 0.1, BS -0.05 (negative: infeasible);  o3-mini: no runs

Best attempt ratios (see tests/test_metrics.py for the rules):
  BoS   gpt-4o 1, baseline 1.5 (= w), o3-mini 1.05 * 1.5 = 1.575; T = 2
  3SAT  o3-mini 1, gpt-4o 1.25, baseline 2 (= w); T = ceil(2.1) = 3
  blotto gpt-4o 1 (only feasible, w = 1), o3-mini and baseline 1.05; T = 2
Best submission ratios:
  BoS   gpt-4o 1, baseline 1.4, o3-mini 1.47; 3SAT o3-mini 1, gpt-4o 1.5, baseline 2; blotto: nobody feasible
tau_max = ceil(10 * log10 3) / 10 = 0.5; grid step 0.5/499. A task at log10 ratio L counts at the
499 - ceil(998 L) left endpoints >= L (all 499 at L = 0), and AUP = 0.5 * sum(counts) / (3 * 499):
  gpt-4o BA: 499 + (log10 1.25 = 0.0969 -> 402) + 499 = 1400 -> 0.467602
  o3-mini BA: (log10 1.575 = 0.1973 -> 302) + 499 + (log10 1.05 = 0.0212 -> 477) = 1278 -> 0.426854
  baseline BA: (log10 1.5 -> 323) + (log10 2 -> 198) + 477 = 998 -> 0.333333
  gpt-4o BS: 499 + (log10 1.5 -> 323) + 0 = 822 -> 0.274549
  o3-mini BS: (log10 1.47 = 0.1673 -> 332) + 499 + 0 = 831 -> 0.277555
  baseline BS: (log10 1.4 = 0.1461 -> 353) + 198 + 0 = 551 -> 0.184034
BORDA (best attempt): BoS [gpt-4o, baseline, o3-mini], 3SAT [o3-mini, gpt-4o, baseline],
  blotto [gpt-4o, baseline, o3-mini (no score)] -> gpt-4o 8, o3-mini 5, baseline 5;
  mean ranks 4/3, 7/3, 7/3.
Cost: gpt-4o has one trajectory, 1M tokens sent and 100k received at $2.5/$10 per M -> $3.50;
  o3-mini: 1M sent at $1.1 -> $1.10, and 2M + 0.5M at $1.1/$4.4 -> $4.40; mean $2.75.
Exit statuses: o3-mini one evaluation_format_error and one autosubmission (max_steps) -> failure rate 0.5.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlgym_core.cli import cli
from mlgym_core.hookspecs import hookimpl
from mlgym_core.testing import make_task_spec, registered

FIX = Path(__file__).parent / "fixtures" / "reports"


class FixtureTasks:
    """The task specs of the fixtures' tasks, as their task packs declare them: the report takes each
    task's metric and direction from the installed specs (MLGym's results.json does not say them)."""

    @hookimpl
    def register_tasks(self):
        return [make_task_spec(id="battleOfSexes", metric="Score"), make_task_spec(id="blotto", metric="Score"),
                make_task_spec(id="3SATTime", metric="Time", higher_is_better=False)]


@pytest.fixture(autouse=True)
def fixture_tasks(core_only):
    with registered(FixtureTasks(), name="fixture_tasks"):
        yield


def report(*args: str) -> tuple[dict, str]:
    res = CliRunner().invoke(cli, ["report", *args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout), res.stderr


def test_basic_fixture_matches_hand_computation():
    obj, _ = report(str(FIX / "basic"))
    assert obj["tau_max"] == 0.5
    m = obj["methods"]
    assert list(m) == ["gpt-4o", "o3-mini", "baseline"]
    expected_aup = {"gpt-4o": (1400, 822), "o3-mini": (1278, 831), "baseline": (998, 551)}
    for name, (ba, bs) in expected_aup.items():
        assert m[name]["aup_best_attempt"] == pytest.approx(0.5 * ba / 1497, abs=1e-12)
        assert m[name]["aup_best_submission"] == pytest.approx(0.5 * bs / 1497, abs=1e-12)
    assert round(m["gpt-4o"]["aup_best_attempt"], 3) == 0.468
    assert [m[n]["borda_best_attempt"] for n in m] == [8, 5, 5]
    assert [m[n]["mean_rank_best_attempt"] for n in m] == pytest.approx([4 / 3, 7 / 3, 7 / 3])
    assert m["gpt-4o"]["scores"]["battleOfSexes"] == {"best_attempt": 1.5, "best_submission": 1.4}
    assert m["gpt-4o"]["scores"]["blotto"] == {"best_attempt": 0.1, "best_submission": -0.05}
    assert m["o3-mini"]["scores"]["blotto"] == {"best_attempt": None, "best_submission": None}
    assert m["o3-mini"]["scores"]["3SATTime"] == {"best_attempt": 8.0, "best_submission": 8.0}
    assert m["baseline"]["scores"]["blotto"]["best_attempt"] == -0.25
    assert m["gpt-4o"]["cost_per_run"] == pytest.approx(3.5)
    assert m["o3-mini"]["cost_per_run"] == pytest.approx(2.75)
    assert m["baseline"]["cost_per_run"] is None
    assert m["o3-mini"]["failure_rate"] == 0.5
    assert m["o3-mini"]["exit_status_counts"]["autosubmission (max_steps)"] == 1
    assert obj["methods_compared"] == ["gpt-4o", "o3-mini", "baseline"]
    assert obj["tasks"]["3SATTime"] == {**obj["tasks"]["3SATTime"], "metric": "Time", "higher_is_better": False}


def test_fewer_than_k_runs_warn():
    obj, err = report(str(FIX / "basic"))
    assert "method 'o3-mini', task 'battleOfSexes': 2 run(s), fewer than k=4" in err
    assert any("o3-mini' has no runs of task(s) blotto" in w for w in obj["warnings"])
    _, err1 = report(str(FIX / "basic"), "--k", "1")
    assert "run(s), fewer than k=1" not in err1 and "o3-mini' has no runs of task(s) blotto" in err1


def test_k_takes_the_first_k_runs():
    # k = 1: o3-mini's battleOfSexes is run_0 alone -> 0.8; gpt-4o's run_0 -> 1.5 / 1.4
    obj, _ = report(str(FIX / "basic"), "--k", "1")
    assert obj["methods"]["o3-mini"]["scores"]["battleOfSexes"]["best_attempt"] == 0.8
    assert obj["methods"]["gpt-4o"]["scores"]["battleOfSexes"]["best_submission"] == 1.4
    assert obj["k"] == 1


def test_methods_restricts_the_compared_set():
    # gpt-4o alone with the baseline: BA ratios BoS 1 / 1.5, 3SAT 1 / 1.6, blotto 1 / 1.05 -> T = ceil(1.68) = 2
    # tau_max = 0.4; gpt-4o is best everywhere -> AUP = tau_max
    obj, _ = report(str(FIX / "basic"), "--methods", "gpt-4o")
    assert obj["methods_compared"] == ["gpt-4o", "baseline"]
    assert set(obj["methods"]) == {"gpt-4o", "baseline"}
    assert obj["tau_max"] == 0.4
    assert obj["methods"]["gpt-4o"]["aup_best_attempt"] == pytest.approx(0.4)


def test_bad_input_warns_naming_the_file_and_goes_on():
    obj, err = report(str(FIX / "broken"))
    lines = err.splitlines()
    assert any("parallel_agents_run_1/results.json: unreadable" in line for line in lines)
    assert any("battleOfSexes.traj: malformed trajectory" in line for line in lines)
    assert any("no_model_in_name: folder name is not" in line for line in lines)
    # run_0 (1.2) and run_2 (1.1) still count
    assert obj["methods"]["gpt-4o"]["scores"]["battleOfSexes"]["best_attempt"] == 1.2


def test_our_layout_groups_by_method_and_uses_recorded_metric():
    # myTask is unknown to core: run.json says loss, minimise. Baseline 1.0.
    # default:openai:gpt-4o runs [0.5, 0.4] and [0.45] -> BA 0.4, BS min(0.4, 0.45) = 0.4
    # our "baseline" agent is relabelled baseline-agent: 0.9
    obj, _ = report(str(FIX / "ours"))
    m = obj["methods"]
    assert set(m) == {"default:openai:gpt-4o", "baseline-agent", "baseline"}
    assert obj["tasks"]["myTask"]["source"] == "run" and obj["tasks"]["myTask"]["metric"] == "loss"
    assert m["default:openai:gpt-4o"]["scores"]["myTask"] == {"best_attempt": 0.4, "best_submission": 0.4}
    assert m["baseline-agent"]["scores"]["myTask"]["best_attempt"] == 0.9
    # cost: 1000 tokens at $2.5/M + 100 at $10/M = $0.0035; the baseline agent has no model: recorded $0.01
    assert m["default:openai:gpt-4o"]["cost_per_run"] == pytest.approx(0.0035)
    assert m["baseline-agent"]["cost_per_run"] == pytest.approx(0.01)


def test_parent_folder_is_searched_recursively():
    obj, _ = report(str(FIX))
    assert {"gpt-4o", "o3-mini", "default:openai:gpt-4o", "baseline"} <= set(obj["methods"])


def test_rich_tables_without_flags():
    res = CliRunner().invoke(cli, ["report", str(FIX / "basic")])
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "tau_max = 0.5" in out and "Methods compared" in out
    assert "0.4676" in out and "Best Attempt@k" in out  # 4 significant digits and "Best Submission@k" in out


def test_bootstrap_adds_seeded_intervals():
    a, _ = report(str(FIX / "basic"), "--bootstrap", "40", "--seed", "7")
    b, _ = report(str(FIX / "basic"), "--bootstrap", "40", "--seed", "7")
    ci = a["methods"]["gpt-4o"]["aup_best_attempt_ci"]
    assert ci == b["methods"]["gpt-4o"]["aup_best_attempt_ci"]
    assert 0 <= ci[0] <= ci[1] <= a["tau_max"]
    assert a["bootstrap"]["replicates"] == 40


def test_plots_are_written(tmp_path):
    pytest.importorskip("matplotlib")
    res = CliRunner().invoke(cli, ["report", str(FIX / "basic"), "--plots", str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in (tmp_path / "p").iterdir())
    assert names == ["action_distribution.png", "aup_vs_cost.png", "exit_status.png", "profile_best_attempt.png",
                     "profile_best_submission.png", "steps_per_task.png", "task_scores.png"]
    assert all((tmp_path / "p" / n).read_bytes().startswith(b"\x89PNG") for n in names)


def test_no_runs_is_an_error(tmp_path):
    res = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert res.exit_code != 0 and "no run directories" in res.output


def test_metric_from_another_plugin_is_reported():
    from mlgym_core.specs import MetricSpec

    def beats_baseline(table):  # per method: tasks where its best attempt beats the baseline's
        base = table.best_attempt[table.base]
        return {m: sum(1 for j, higher in enumerate(table.higher)
                       if (table.best_attempt[i, j] > base[j] if higher else table.best_attempt[i, j] < base[j]))
                for i, m in enumerate(table.methods)}

    class Extra:
        @hookimpl
        def register_metrics(self):
            return [MetricSpec(name="n_methods", description="count", compute=lambda t: len(t.methods)),
                    MetricSpec(name="beats_baseline", description="tasks above the baseline", compute=beats_baseline),
                    MetricSpec(name="broken", description="raises", compute=lambda t: 1 / 0)]

    with registered(Extra(), name="extra"):
        obj, err = report(str(FIX / "basic"))
        res = CliRunner().invoke(cli, ["report", str(FIX / "basic")])
    assert obj["plugin_metrics"] == {"extra/n_methods": 3,
                                     "extra/beats_baseline": {"gpt-4o": 3, "o3-mini": 1, "baseline": 0}}
    assert obj["methods"]["gpt-4o"]["extra/beats_baseline"] == 3  # a per-method metric joins each method's entry
    assert "metric 'extra/broken' failed: ZeroDivisionError" in err  # and the report goes on
    assert res.exit_code == 0 and "extra/beats_baseline" in res.stdout  # the terminal tables show it


def test_core_metrics_are_computed_through_the_registry(monkeypatch):
    from mlgym_core.builtin_plugins import metrics as builtin_metrics

    # the registered spec is called: replacing the function core registers changes the report
    monkeypatch.setattr(builtin_metrics, "borda_best_attempt", lambda table: {m: 7 for m in table.methods})
    obj, _ = report(str(FIX / "basic"))
    assert [e["borda_best_attempt"] for e in obj["methods"].values()] == [7, 7, 7]
    names = {s.name for s in builtin_metrics.register_metrics()} - {"best_attempt", "best_submission"}
    assert names <= set(obj["methods"]["gpt-4o"])


def test_parallel_reading_gives_the_same_runs(monkeypatch):
    import os

    from mlgym_core.report import loader

    seq_notes: list[str] = []
    seq = loader.load_runs([FIX], seq_notes, keep_steps=True, parallel=False)
    monkeypatch.setattr(loader, "PARALLEL_MIN_DIRS", 1)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    par_notes: list[str] = []
    par = loader.load_runs([FIX], par_notes, keep_steps=True)
    assert sorted(seq_notes) == sorted(par_notes)
    assert [(r.path, r.method, r.agent_scores, r.exit_status) for r in seq] == \
        [(r.path, r.method, r.agent_scores, r.exit_status) for r in par]
    # workers hand back packed steps
    for a, b in zip(seq, par):
        assert (loader.pack_steps(a.steps, a.messages) if a.steps else None) == b.steps_blob


def test_unknown_task_is_left_out_with_a_warning(tmp_path):
    d = tmp_path / "gpt-4o__mysteryTask__cfg__run_0"
    d.mkdir()
    (d / "results.json").write_text('{"agent": [{"x": 1}], "baseline": {"x": 0}}')
    res = CliRunner().invoke(cli, ["report", str(tmp_path), "--json"])
    assert res.exit_code != 0
    assert "task 'mysteryTask': unknown priority metric" in res.stderr
