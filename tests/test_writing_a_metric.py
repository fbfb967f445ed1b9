"""docs/writing-a-metric.md is enough to add a metric: its code blocks, written out as the files they
name, make a plugin whose metric `mlgym report` computes and shows, and whose own tests pass."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from mlgym_core.cli import cli
from mlgym_core.testing import registered

from .conftest import REPO
from .test_report import FIX, fixture_tasks  # noqa: F401  (the fixtures' task specs)

DOC = REPO / "docs" / "writing-a-metric.md"
BLOCK = re.compile(r"^```python\n# (\S+)\n(.*?)^```", re.S | re.M)


@pytest.fixture
def acme(tmp_path, monkeypatch):
    """The doc's files under tmp_path, importable as ``acme_metrics``."""
    files = {name: body for name, body in BLOCK.findall(DOC.read_text(encoding="utf-8"))}
    assert {"acme_metrics/plugin.py", "acme_metrics/metrics.py", "tests/test_plugin.py"} <= set(files)
    for name, body in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(body, encoding="utf-8")
    (tmp_path / "acme_metrics" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for mod in [m for m in sys.modules if m == "acme_metrics" or m.startswith("acme_metrics.")]:
        del sys.modules[mod]


def test_the_documented_metric_shows_in_the_report(acme):
    plugin = importlib.import_module("acme_metrics.plugin")
    with registered(plugin, name="acme_metrics"):
        res = CliRunner().invoke(cli, ["report", str(FIX / "basic"), "--json"])
        table = CliRunner().invoke(cli, ["report", str(FIX / "basic")])
        listed = CliRunner().invoke(cli, ["list", "metrics"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    # basic fixture (tests/test_report.py): gpt-4o beats the baseline on BoS, 3SAT and blotto; o3-mini on 3SAT
    assert obj["plugin_metrics"]["acme_metrics/beats_baseline"] == {"gpt-4o": 3, "o3-mini": 1, "baseline": 0}
    assert obj["methods"]["o3-mini"]["acme_metrics/beats_baseline"] == 1
    assert "Metrics from plugins" in table.stdout and "acme_metrics/beats_baseline" in table.stdout
    assert "beats_baseline" in listed.stdout


def test_the_documented_tests_pass(acme):
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(acme / "tests")],
                       cwd=acme, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(acme)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 passed" in r.stdout
