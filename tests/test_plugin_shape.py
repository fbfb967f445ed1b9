"""Every plugin under plugins/ has the same shape: one entry point in the `mlgym` group, a plugin.py,
a tests/test_plugin.py built on check_plugin, its Python dependencies in pyproject extras (a [test] extra
that setup.sh installs) and a ci/setup.sh only for what pip cannot install."""

from __future__ import annotations

import re
import tomllib

import pytest

from .conftest import REPO

PLUGINS = sorted(p for p in (REPO / "plugins").iterdir() if (p / "pyproject.toml").is_file())


@pytest.mark.parametrize("root", PLUGINS, ids=lambda p: p.name)
def test_plugin_has_the_shape(root):
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    (entry,) = project["entry-points"]["mlgym"].items()  # exactly one
    name, target = entry
    assert target == f"{root.name}.plugin" and root.name == f"mlgym_{name}"
    assert project["name"] == root.name.replace("_", "-")
    assert (root / root.name / "plugin.py").is_file() and (root / "README.md").is_file()
    tests = (root / "tests" / "test_plugin.py").read_text()
    assert "check_plugin(" in tests and "list_plugins_json()" in tests  # conformance, and listed by the CLI
    extras = project.get("optional-dependencies", {})
    assert any(d.startswith("pytest") for d in extras.get("test", ())), "a [test] extra with pytest"
    setup = root / "ci" / "setup.sh"
    if setup.exists():
        assert not re.search(r"pip\"? install|-m pip", setup.read_text()), f"{setup}: pip belongs in pyproject extras"


def test_setup_installs_every_plugin_with_its_test_extra():
    text = (REPO / "setup.sh").read_text()
    assert '"${p%/}[test]"' in text and "for p in plugins/*/" in text
