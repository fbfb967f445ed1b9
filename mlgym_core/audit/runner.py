"""One task's audit, in real episodes: baseline, doing nothing, the attacks, the evaluator.

The measured noise floor of a task is the larger of the spread of the baseline's scores over the
repeats (sample standard deviation) and the spread of every evaluation of the baseline runs (each
validates, then submits, its artifact). The noise floor used to judge is the larger of that and
the recorded one (the scale's ``stderr`` times the square root of its ``runs``). A score "beats" a
reference when it is better, in the task's direction, by more than :data:`FLOOR_MULTIPLE` noise
floors and by more than :data:`MIN_GAIN` of the reference."""

from __future__ import annotations

import json
import math
import re
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from ..specs import TaskSpec
from .attacks import SUCCESS_MARKER, AttackSpec, select
from .results import AuditOptions, TaskAudit
from .secrets import found, task_secrets

FLOOR_MULTIPLE = 4.0
"""How many noise floors a score must gain to count as raised (and a baseline may miss by, x2)."""
MIN_GAIN = 0.01
"""Nor by less than this fraction of the reference: a few samples can underestimate the floor."""
STARTER_EVALUATIONS = 6
"""Evaluations of the starter, at least, for a task without a baseline command: its noise floor is
then estimated from enough samples, and evaluations of a starter are cheap."""
_UPPER_SD = (15.9, 4.41, 2.92, 2.37, 2.09, 1.92, 1.80, 1.71, 1.65, 1.59)
"""The upper 95% bound of a standard deviation over its estimate from df = 1, 2, ... samples less one
(sqrt(df / chi2_0.05(df))); the last value serves for more samples too."""
MACHINE_FACTOR = 3.0
"""A metric the task declares ``machine_dependent`` (a wall time) reproduces when the measured value is
within this factor of the recorded one, either way: the recorded one was measured on another machine."""
MARGIN_MULTIPLE = 3.0
"""How far the measured spread may exceed the recorded one before the evaluator is called noisy."""
_HONEST = "validate the honest artifact"
"""In the thought of a cheater's step that validates the honest artifact before an attack."""
_SCORE = re.compile(r"Evaluation Score: (\{.*\})")
GARBAGE = "not an artifact \\377\\376\\000 {\"x\": [1,\\n"


class _Audit:
    """The state of one task's audit while it runs."""

    def __init__(self, spec: TaskSpec, opts: AuditOptions, canaries: dict[str, str]) -> None:
        from ..task import make_task

        self.spec, self.opts = spec, opts
        scale = opts.scale if opts.scale in spec.scales else spec.resolve_scale(None)
        self.res = TaskAudit(spec.id, spec.qualified, scale, spec.metric, spec.higher_is_better)
        if scale != opts.scale:
            self.res.note = f"the task has no '{opts.scale}' scale; audited at '{scale}'"
        self.task = make_task(spec, scale)
        self.out = opts.output / spec.id
        self.artifacts: Path | None = None
        self.noise_samples = 0
        """How many scores the measured noise floor comes from."""
        self.canaries = canaries
        self.secrets: dict[str, str] = dict(canaries)
        base = spec.baseline_for(scale)
        self.res.recorded = base.get(spec.metric)
        sb = spec.scale_baselines.get(scale)
        err, runs = (sb.stderr.get(spec.metric), sb.runs) if sb is not None else (None, None)
        self.recorded_sd = err * math.sqrt(runs) if err is not None and runs else None
        self.deterministic = self.recorded_sd == 0.0 and (runs or 0) >= 2
        """The task records identical scores over several runs at this scale: its training is deterministic."""
        self.eval_diffs: list[float] = []
        self.eval_times: list[float] = []
        self.eval_metrics: list[dict[str, float]] = []
        self.eval_errors: list[str] = []

    # -- helpers --------------------------------------------------------------------------
    def run(self, agent: str, name: str, env: Any = None, **kw: Any) -> dict[str, Any]:
        from ..run import RunSpec, run_episode

        spec = RunSpec(task=self.spec.qualified, agent=agent, runtime=self.opts.runtime, scale=self.res.scale,
                       output=str(self.out), run_name=name, **kw)
        return run_episode(spec, env=env)

    def env(self, **kw: Any) -> Any:
        from ..env import MLGymEnv

        return MLGymEnv(self.spec, runtime=self.opts.runtime, scale=self.res.scale, tools=["core"], prestart=False,
                        **kw)

    def value(self, metrics: dict[str, float] | None) -> float | None:
        return None if not metrics else metrics.get(self.spec.metric)

    def floor(self) -> float:
        """The noise floor to judge by: the measured one (runs and evaluations) raised to the upper 95%
        bound of what its few samples allow (two evaluations that happen to agree say little), or the
        recorded one when larger."""
        n = self.noise_samples  # from 2 the bound (x15.9) says nothing: only a task that records a spread of
        # zero is measured from 2 (one trained artifact, evaluated twice), and its noise is held to that zero
        factor = _UPPER_SD[min(n - 1, len(_UPPER_SD)) - 1] if n >= 3 else 1.0
        measured = (self.res.noise_floor or 0.0) * factor
        return max(measured, self.recorded_sd or 0.0)

    def reference(self) -> float | None:
        return statistics.fmean(self.res.measured) if self.res.measured else self.res.recorded

    def beats(self, value: float, ref: float) -> bool:
        tol = max(FLOOR_MULTIPLE * self.floor(), MIN_GAIN * abs(ref)) + 1e-6 * max(1.0, abs(ref))
        gain = value - ref if self.spec.higher_is_better else ref - value
        return gain > tol

    def keep_artifacts(self, workspace: Path) -> None:
        from ..collect import collect

        dest = self.out / "honest-artifact"
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        collect(workspace, dest, self.spec.artifacts)
        for rel in self.spec.read_only:  # laid out again by the starter: never copied over it
            (dest / rel).unlink(missing_ok=True)
        for p in dest.rglob("*"):  # collected read-only; an attack's episode starts with writable copies
            p.chmod(0o755 if p.is_dir() else 0o644)
        self.artifacts = dest

    # -- the checks -----------------------------------------------------------------------
    def baseline(self) -> None:
        """``repeats`` baseline runs (each trains, if the task says how, then validates and submits).
        When every run would grade the same artifact, the repeats are evaluations instead (two a run:
        half as many runs): a task without a baseline command submits its starter unchanged, and one
        whose recorded spread at this scale is zero over several runs trains deterministically."""
        scores: list[float] = []
        regrade = not self.spec.baseline_command or self.deterministic
        evaluations = self.opts.repeats if self.spec.baseline_command else max(self.opts.repeats, STARTER_EVALUATIONS)
        for k in range(-(-evaluations // 2) if regrade else self.opts.repeats):
            env = self.env(max_steps=10)
            try:
                rec = self.run("baseline", f"baseline-{k + 1}", env=env, seed=k + 1, max_steps=10)
                if rec.get("error") and not rec.get("steps"):  # the sandbox never ran: nothing else will
                    self.res.add("baseline", "reproduces", "fail", f"the episode did not run: {rec['error']}"[:300])
                    return
                self._evaluations(rec)
                self.res.isolation = self.res.isolation or rec.get("isolation")
                vals = [v for v in (self.value(s) for s in rec.get("scores") or []) if v is not None]
                if vals:
                    scores += vals if regrade else vals[-1:]
                    if len(vals) >= 2:  # validate, then submit: one artifact evaluated twice
                        self.eval_diffs.append(abs(vals[-1] - vals[-2]))
                    if self.artifacts is None and env.workspace_host is not None:
                        self.keep_artifacts(Path(env.workspace_host))
            finally:
                env.close()
        r = self.res
        r.measured = scores
        if not scores:
            why = "the task gives no baseline command and its starter holds no artifact" \
                if not self.spec.baseline_command else "the baseline agent's runs gave no score"
            status = "skip" if not self.spec.baseline_command else "fail"
            first = f": {self.eval_errors[0]}" if self.eval_errors else ""
            r.add("baseline", "reproduces", status, f"no score: {why}{first} (runs in {self.out})")
            return
        spread = statistics.stdev(scores) if len(scores) > 1 else 0.0
        every = [v for v in (self.value(m) for m in self.eval_metrics) if v is not None]
        r.noise_floor = max(spread, statistics.stdev(every) if len(every) > 1 else 0.0)
        self.noise_samples = max(len(scores), len(every))
        mean = statistics.fmean(scores)
        if r.recorded is None:
            r.add("baseline", "reproduces", "skip", f"measured {mean:.6g}; no baseline recorded at '{r.scale}'")
        else:
            what = "run(s)" if not regrade else "evaluation(s) of the starter" if not self.spec.baseline_command \
                else "evaluation(s) of one trained artifact (the task records identical runs at this scale)"
            measured = (f"measured {mean:.6g} over {len(scores)} {what}, spread {spread:.3g}, noise floor "
                        f"{r.noise_floor:.3g}; recorded {r.recorded:.6g}")
            if self.spec.metric in self.spec.machine_dependent:
                ok = r.recorded / MACHINE_FACTOR <= mean <= r.recorded * MACHINE_FACTOR if r.recorded > 0 \
                    else mean == r.recorded
                allowed = (f"{self.spec.metric} measures the machine too (machine_dependent): allowed within a "
                           f"factor of {MACHINE_FACTOR:g}")
            else:  # as for a raised score: a few samples can underestimate the floor, so never below MIN_GAIN
                tol = max(2 * FLOOR_MULTIPLE * self.floor(), MIN_GAIN * abs(r.recorded)) \
                    + 1e-6 * max(1.0, abs(r.recorded))
                ok = abs(mean - r.recorded) <= tol
                allowed = f"allowed difference {tol:.3g}"
            r.add("baseline", "reproduces", "pass" if ok else "fail", f"{measured}; {allowed}")
        if self.recorded_sd is None:
            r.add("baseline", "noise within its margin", "skip", "no recorded spread (stderr and runs) at this scale")
        else:
            allowed = MARGIN_MULTIPLE * self.recorded_sd + 1e-6 * max(1.0, abs(r.recorded or 0.0))
            ok = r.noise_floor <= allowed
            r.add("baseline", "noise within its margin", "pass" if ok else "fail",
                  f"measured noise {r.noise_floor:.3g}; recorded spread {self.recorded_sd:.3g} (allowed "
                  f"{allowed:.3g})" + ("" if ok else ": the evaluator is noisy beyond its baseline margin"))

    def do_nothing(self) -> None:
        env = self.env(max_steps=20)
        try:
            env.reset(seed=0)
            ref = self.reference()
            if not self.spec.baseline_command and self.res.measured:
                # the baseline agent validated and submitted the starter itself: the same artifact, graded
                self.res.add("do-nothing", "starter unchanged", "pass",
                             f"scores {ref:.6g}, the baseline (the task has no baseline command: the baseline "
                             "runs graded the unchanged starter)")
            else:
                obs, metrics = self._validate(env)
                value = self.value(metrics)
                if metrics is None:
                    self._clear("starter unchanged", obs)
                elif value is not None and ref is not None and self.beats(value, ref):
                    self.res.add("do-nothing", "starter unchanged", "fail",
                                 f"the unchanged starter scores {value:.6g}, better than the baseline {ref:.6g}")
                else:
                    self.res.add("do-nothing", "starter unchanged", "pass", f"scores {value:.6g} (baseline {ref})")
            req = " ".join(f"'{r}'" for r in self.spec.required_artifacts) or "''"
            dirs = {r for r in self.spec.required_artifacts if self.artifacts and (self.artifacts / r).is_dir()}
            env.step(f"rm -rf {req}")
            self._clear("no artifact", *self._validate(env))
            empty = [f"mkdir -p '{r}'" if r in dirs else f"mkdir -p \"$(dirname '{r}')\" && : > '{r}'"
                     for r in self.spec.required_artifacts]
            env.step(" ; ".join(empty) or "true")
            self._clear("empty artifact", *self._validate(env))
            bad = []
            for r in self.spec.required_artifacts:
                inner = sorted(p.relative_to(self.artifacts) for p in (self.artifacts / r).rglob("*") if p.is_file()) \
                    if r in dirs and self.artifacts else []
                targets = [str(p) for p in inner] or ([f"{r}/artifact.bin"] if r in dirs else [r])
                bad += [f"mkdir -p \"$(dirname '{t}')\" && printf '{GARBAGE}' > '{t}'" for t in targets]
            env.step(" ; ".join(bad) or "true")
            self._clear("malformed artifact", *self._validate(env))
        finally:
            env.close()

    def _validate(self, env: Any) -> tuple[str, dict[str, float] | None]:
        n = len(env.scores)
        obs = env.step("validate")[0]
        return obs, (env.scores[-1] if len(env.scores) > n else None)

    def _clear(self, name: str, obs: str, metrics: Any = None) -> None:
        first = next((ln.strip() for ln in obs.splitlines() if ln.strip()), "")
        if metrics is not None:
            self.res.add("do-nothing", name, "fail", f"scored {metrics} instead of failing")
        elif not first:
            self.res.add("do-nothing", name, "fail", "no score, and no message saying why")
        else:
            self.res.add("do-nothing", name, "pass", f"no score: {first.removesuffix(' Output:')[:160]}")

    def _evaluations(self, rec: dict[str, Any]) -> None:
        """Note the time of each evaluation of a baseline run, its metrics and why one gave none."""
        steps = _steps(Path(rec["run_dir"]) / f"{self.spec.id}.traj") if rec.get("run_dir") else []
        for st in steps:
            if st.get("action", "").strip() in ("validate", "submit"):
                self.eval_times.append(float(st.get("execution_time") or 0.0))
        self.eval_metrics += [dict(m) for m in rec.get("scores") or []]
        for st in steps:
            obs = str(st.get("observation", ""))
            if st.get("action", "").strip() == "validate" and not _metrics(obs):
                self.eval_errors.append(next((ln.strip() for ln in obs.splitlines() if ln.strip()), "")[:300])

    def evaluator(self) -> None:
        """From the baseline runs: each validated and then submitted one artifact (two evaluations)."""
        r = self.res
        if not self.eval_metrics:
            status = "fail" if self.spec.baseline_command else "skip"
            r.add("evaluator", "declared metrics, finite", status,
                  self.eval_errors[0] if self.eval_errors else "no evaluation of a baseline artifact to check")
            return
        declared = list(dict.fromkeys([self.spec.metric, *self.spec.baseline_scores]))
        missing = sorted({m for res in self.eval_metrics for m in declared if m not in res})
        finite = all(math.isfinite(v) for res in self.eval_metrics for v in res.values())
        r.add("evaluator", "declared metrics, finite", "pass" if not missing and finite else "fail",
              f"reports {', '.join(self.eval_metrics[0])}; priority '{self.spec.metric}' "
              f"({'higher' if self.spec.higher_is_better else 'lower'} is better)"
              + (f"; missing {', '.join(missing)}" if missing else ""))
        if not self.eval_diffs:
            r.add("evaluator", "same artifact twice", "skip", "no run evaluated its artifact twice")
        else:
            diff = max(self.eval_diffs)
            floor = self.floor()
            allowed = FLOOR_MULTIPLE * floor + 1e-6 * max(1.0, abs(self.reference() or 0.0))
            r.add("evaluator", "same artifact twice", "pass" if diff <= allowed else "fail",
                  f"largest difference {diff:.3g} over {len(self.eval_diffs)} pair(s) (noise floor {floor:.3g})")
        limit = self.task.eval_timeout()
        slowest = max(self.eval_times, default=0.0)
        r.add("evaluator", "within its timeout", "pass" if slowest < limit else "fail",
              f"slowest evaluation {slowest:.1f} s of {limit:g} s")

    def cheating(self) -> None:
        """Every attack of the library: those that share a validation together in one episode first
        (each run again alone when that validation is not clean), then each other one in its own
        episode; all in one environment, reset (a fresh sandbox and workspace) for each episode."""
        ready: list[AttackSpec] = []
        lines: dict[str, tuple[str, str, str | None]] = {}
        chosen = select(self.opts.attacks)
        for attack in chosen:
            why = attack.applies(self.spec)
            if not why and attack.needs_artifact and self.artifacts is None:
                why = "needs the honest artifact, and the baseline gave none"
            if why:
                lines[attack.qualified] = ("skip", why, None)
            else:
                ready.append(attack)
        env = self.env(max_steps=sum(len(a.actions) for a in ready) + 6,
                       workspace_from=str(self.artifacts) if self.artifacts else None)
        try:
            shared = [a for a in ready if a.shares_validation]
            if len(shared) > 1:
                lines.update(self._shared(shared, env))
            for attack in ready:
                if attack.qualified not in lines:
                    alone = " (run alone: the validation it shared was not clean)" if attack in shared else ""
                    lines[attack.qualified] = self._attack(attack, env, alone)
        finally:
            env.close()
        for attack in chosen:
            status, detail, run_dir = lines[attack.qualified]
            self.res.add("cheating", attack.name, status, detail, attack_class=attack.attack_class, run_dir=run_dir)

    def _episode(self, attacks: list[AttackSpec], name: str, env: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        options = {"attack": [a.qualified for a in attacks], "make_artifact": False, "validate_honest": False,
                   "share_validation": len(attacks) > 1}
        rec = self.run("cheater", name, env=env, agent_options=options, max_steps=env.max_steps)
        run_dir = rec.get("run_dir")
        return rec, _steps(Path(run_dir) / f"{self.spec.id}.traj") if run_dir else []

    def _attack(self, attack: AttackSpec, env: Any, note: str = "") -> tuple[str, str, str | None]:
        rec, steps = self._episode([attack], f"attack-{attack.name}", env)
        evidence = self._judge(attack, steps)
        if evidence:
            return "fail", "; ".join(evidence), rec.get("run_dir")
        if rec.get("error"):
            why = f"the episode crashed, so the attempt cannot be judged: {rec['error']}"
            return "fail", why[:300], rec.get("run_dir")
        return "pass", _summary(attack, steps) + note, rec.get("run_dir")

    def _shared(self, group: list[AttackSpec], env: Any) -> dict[str, tuple[str, str, str | None]]:
        """The attacks of ``group`` in one episode, validated once. When that validation gives a score
        that no attack of the group raised, broke or leaked a secret into, each is blocked; otherwise none is
        judged here (each runs again alone, which names the one that pays)."""
        rec, steps = self._episode(group, "attacks-shared", env)
        last = next((s for s in reversed(steps) if s.get("action", "").strip() == "validate"), None)
        metrics = _metrics(str(last.get("observation", ""))) if last is not None else None
        if rec.get("error") or self.value(metrics) is None or any(self._judge(a, steps) for a in group):
            return {}
        shared = f" (one validation shared with {len(group) - 1} other attack(s))"
        return {a.qualified: ("pass", _summary(a, steps) + shared, rec.get("run_dir")) for a in group}

    def _judge(self, attack: AttackSpec, steps: list[dict[str, Any]]) -> list[str]:
        evidence: list[str] = []
        text = "\n".join(str(s.get("observation", "")) for s in steps)
        if "secret" in attack.detect:
            evidence += [f"read {w}" for w in found(text, self.secrets)]
        if "marker" in attack.detect and SUCCESS_MARKER in text:
            line = next(ln for ln in text.splitlines() if SUCCESS_MARKER in ln)
            evidence.append(line.strip()[:200])
        validations = [(_HONEST in s["thought"], _metrics(str(s.get("observation", "")))) for s in steps
                       if s.get("action", "").strip() == "validate"]
        after = [m for honest, m in validations if not honest]
        ref = self.reference()
        if "score" in attack.detect and ref is not None:
            for m in after:
                v = self.value(m)
                if v is not None and self.beats(v, ref):
                    evidence.append(f"validate scored {self.spec.metric} {v:.6g} (honest {ref:.6g})")
        if "grading_broken" in attack.detect:
            # the honest artifact graded: in this episode before the actions, or in the baseline runs
            before = [m for h, m in validations if h]
            graded = before[0] is not None if before else any(self.value(m) is not None for m in self.eval_metrics)
            if not graded:
                evidence.append("cannot be judged: the honest artifact gave no score before the attack")
            elif after and after[-1] is None:
                last = next(s for s in reversed(steps) if s.get("action", "").strip() == "validate")
                first = next((ln for ln in str(last.get("observation", "")).splitlines() if ln.strip()), "")
                evidence.append(f"the honest artifact no longer grades: {first[:200]}")
        return evidence

    def secrets_of_task(self) -> None:
        self.task.prepare()
        self.secrets.update(task_secrets(self.task))


def _steps(path: Path) -> list[dict[str, Any]]:
    try:
        return list(json.loads(path.read_text()).get("trajectory") or [])
    except (OSError, ValueError):
        return []


def _metrics(obs: str) -> dict[str, float] | None:
    import ast

    m = _SCORE.search(obs)
    if not m:
        return None
    try:
        return {str(k): float(v) for k, v in ast.literal_eval(m.group(1)).items()}
    except (ValueError, SyntaxError, AttributeError, TypeError):
        return None


def _summary(attack: AttackSpec, steps: list[dict[str, Any]]) -> str:
    if not attack.validate_after:
        return "nothing secret seen" if "secret" in attack.detect else "no success marker"
    last = next((s for s in reversed(steps) if s.get("action", "").strip() == "validate"), None)
    if last is None:
        return "no validation reached"
    m = _metrics(str(last.get("observation", "")))
    first = next((ln for ln in str(last.get("observation", "")).splitlines() if ln.strip()), "")
    shown = ", ".join(f"{k} {v:.6g}" for k, v in (m or {}).items())
    return f"validate gave {shown}" if m else f"validate gave no score: {first.removesuffix(' Output:')[:160]}"


def audit_task(task: str | TaskSpec, opts: AuditOptions, canaries: dict[str, str] | None = None,
               ) -> TaskAudit:
    """Audit one task (an id or a spec registered with the loaded plugins)."""
    from ..datacache import DataUnavailableError, check_available
    from ..registry import get_task

    spec = get_task(task) if isinstance(task, str) else task
    t0 = time.perf_counter()
    a = _Audit(spec, opts, canaries or {})
    try:
        if spec.resources.gpus and a.res.scale != "smoke" and opts.runtime == "local" and not _have_gpu():
            a.res.add("baseline", "reproduces", "skip", f"the task needs {spec.resources.gpus} GPU(s) at "
                      f"'{a.res.scale}' scale; none here")
            return a.res
        try:
            check_available(spec, a.res.scale)
        except DataUnavailableError as exc:
            a.res.add("baseline", "reproduces", "skip", f"data unavailable: {str(exc).splitlines()[0]}")
            return a.res
        a.secrets_of_task()
        a.baseline()
        if any(c.detail.startswith("the episode did not run") for c in a.res.checks):
            return a.res
        a.do_nothing()
        a.evaluator()
        a.cheating()
    finally:
        a.task.close()
        a.res.wall_s = round(time.perf_counter() - t0, 1)
    return a.res


def _have_gpu() -> bool:
    return Path("/proc/driver/nvidia/gpus").is_dir()


def _forked() -> None:
    """In a forked worker: the parent's background threads (sandbox teardown, prestart) did not come
    along, so their queues would never drain; start without them (made again on first use)."""
    import threading

    from .. import background

    background._LOCK = threading.Lock()
    background._CLEANER = None
    background._PRESTARTER = None


def audit_tasks(tasks: list[str], opts: AuditOptions, on_task: Any = None, on_start: Any = None,
                ) -> list[TaskAudit]:
    """Audit each task (all installed ones when ``tasks`` is empty) with canaries planted throughout.

    With ``opts.jobs`` above 1, that many tasks are audited at once, each in a process forked from
    this one (so it has the same plugins and canaries). ``on_start(spec)`` and ``on_task(result)``
    are called before and after each task, in the order of the tasks."""
    from ..registry import collect, get_task
    from .secrets import planted_canaries

    specs = [get_task(t) for t in tasks] or sorted(collect("tasks"), key=lambda s: s.id.lower())
    out = []
    with planted_canaries(opts.output) as canaries:
        if opts.jobs > 1 and len(specs) > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(min(opts.jobs, len(specs)), mp_context=multiprocessing.get_context("fork"),
                                     initializer=_forked) as ex:
                futures = [ex.submit(audit_task, t, opts, canaries) for t in specs]
                for t, fut in zip(specs, futures):
                    if on_start is not None:
                        on_start(t)
                    out.append(fut.result())
                    if on_task is not None:
                        on_task(out[-1])
            return out
        for t in specs:
            if on_start is not None:
                on_start(t)
            res = audit_task(t, opts, canaries)
            out.append(res)
            if on_task is not None:
                on_task(res)
    return out
