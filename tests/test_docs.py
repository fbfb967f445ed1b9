"""The READMEs say what the code does: README's command list names every verb and only real options,
and every concrete example in README and the plugins' READMEs runs, where it is cheap (game tasks;
a local fake OpenAI-compatible endpoint where a model is needed). Expensive examples (full-scale CV
training, hub downloads) are listed as skipped with the reason."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, needs_bwrap, needs_games

READMES = [REPO / "README.md", *sorted(REPO.glob("plugins/*/README.md"))]
CHEAP_TASKS = {"battleOfSexes", "prisonersDilemma", "blotto"}
PLACEHOLDER = re.compile(r"\[|\.\.\.|\bKIND\b|\bID\b|RUN_DIR|\bTRAJ\b|\bDIR\b|<[^>]+>|\bNAME\b")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def _blocks(path: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(path.read_text(encoding="utf-8"))]


def _mlgym_lines(body: str) -> list[str]:
    lines = body.replace("\\\n", " ").splitlines()
    return [re.sub(r"\s+", " ", ln.strip()) for ln in lines if ln.strip().startswith("mlgym ")]


def _examples() -> list[tuple[str, str]]:
    out = []
    for path in READMES:
        for _, body in _blocks(path):
            for line in _mlgym_lines(body):
                if not PLACEHOLDER.search(line):
                    out.append((str(path.relative_to(REPO)), line))
    return out


EXAMPLES = _examples()


def _synopsis() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Command line"):]
    _, body = _blocks_from(section)[0]
    merged: list[str] = []
    for ln in body.splitlines():
        if ln.startswith("mlgym "):
            merged.append(ln)
        elif merged and ln.startswith(" "):
            merged[-1] += " " + ln.strip()
    return merged


def _blocks_from(text: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(text)]


def _command(verb: str):
    import click

    from mlgym_core.cli import cli

    with click.Context(cli) as ctx:
        return cli.get_command(ctx, verb)


def test_readme_command_list_names_every_verb():
    import click

    from mlgym_core.cli import cli

    with click.Context(cli) as ctx:
        verbs = set(cli.list_commands(ctx))
    listed = {line.split()[1] for line in _synopsis()}
    text = (REPO / "README.md").read_text(encoding="utf-8")
    missing = {v for v in verbs - listed if f"`mlgym {v}" not in text}
    assert not missing, f"README's command list lacks: {sorted(missing)}"
    assert listed <= verbs, f"README lists verbs that do not exist: {sorted(listed - verbs)}"


@pytest.mark.parametrize("line", _synopsis(), ids=lambda s: s.split()[1])
def test_readme_synopsis_options_exist(line):
    cmd = _command(line.split()[1])
    known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
    named = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", line.split("  ")[0] if "  " in line else line))
    named = {n for n in named if n.startswith("--") or len(n) == 2}
    assert named <= known, f"{line!r}: unknown options {sorted(named - known)}"


def test_examples_were_found():
    assert any("--agent default" in line for _, line in EXAMPLES)  # the agents README's model examples
    assert any("--agent baseline" in line for _, line in EXAMPLES)


@pytest.fixture
def fake_endpoint():
    testing = pytest.importorskip("mlgym_agents.testing", reason="mlgym-agents is not installed")
    pytest.importorskip("openai")
    srv = testing.ScriptedServer(["DISCUSSION\nSubmit the starter strategy.\n```\nsubmit\n```"], repeat=True).start()
    yield srv
    srv.close()


@needs_games
@needs_bwrap
@pytest.mark.parametrize("where, line", EXAMPLES, ids=[f"{w}:{line[:60]}" for w, line in EXAMPLES])
def test_readme_example_runs(where, line, tmp_path, request):
    argv = shlex.split(line, comments=True)
    task = argv[argv.index("--task") + 1] if "--task" in argv else None
    if argv[1] == "run" and task not in CHEAP_TASKS:
        pytest.skip(f"not cheap: {task} (full-scale training or data download)")
    if argv[1] not in ("run", "list", "list-plugins", "check"):
        pytest.skip(f"not cheap: mlgym {argv[1]}")
    env = dict(os.environ)
    if any(a.startswith("openai:") for a in argv):
        srv = request.getfixturevalue("fake_endpoint")
        env.update(OPENAI_BASE_URL=srv.base_url, OPENAI_API_KEY="sk-docs")
        argv = [a.replace("http://localhost:8000/v1", srv.base_url) for a in argv]
    r = subprocess.run([sys.executable, "-m", "mlgym_core", *argv[1:]], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{where}: {line}\n{r.stdout[-1500:]}\n{r.stderr[-1500:]}"
    if argv[1] == "run":
        assert "run dir" in r.stdout and (tmp_path / "runs").is_dir()


@needs_games
@needs_bwrap
def test_readme_environment_snippet_runs(tmp_path):
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## The environment"):]
    lang, code = _blocks_from(section)[0]
    assert lang == "python" and "gym.make" in code
    code += "\nassert reward >= 0 and 'Evaluation Score' in obs, obs\nenv.close()\n"
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "MLGYM_WORK_DIR": str(tmp_path / "w")})
    assert r.returncode == 0, r.stderr[-2000:]
