"""mlgym-runtimes without an engine: registration, a cheap entry module, the commands, clear errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from mlgym_core import SandboxError, get_runtime
from mlgym_core.cli import cli
from mlgym_core.testing import check_plugin, list_plugins_json


def test_docker_runtime_is_registered() -> None:
    spec = get_runtime("docker")
    assert spec.plugin == "runtimes" and "network none" in spec.description


def test_entry_module_does_not_import_the_sdk() -> None:
    out = subprocess.run([sys.executable, "-c", "import sys, mlgym_runtimes.plugin; "
                          "print(sorted(m for m in ('docker', 'requests', 'ray') if m in sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_commands_are_there() -> None:
    r = CliRunner().invoke(cli, ["--help"])
    assert " image " in r.output and " gc " in r.output and " bench " in r.output
    r = CliRunner().invoke(cli, ["image", "build", "--help"])
    assert r.exit_code == 0 and "--base" in r.output


def test_no_engine_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/mlgym.sock")
    with pytest.raises(SandboxError, match="docker: no engine reachable at unix:///nonexistent/mlgym.sock") as ei:
        get_runtime("docker").factory()
    assert "\n" not in str(ei.value)


def test_missing_image_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlgym_runtimes.docker_runtime import client

    try:
        client(timeout=5)
    except SandboxError as exc:
        pytest.skip(f"no Docker engine: {exc}")
    monkeypatch.setenv("MLGYM_IMAGE", "mlgym-no-such-image:0")
    with pytest.raises(SandboxError, match="image 'mlgym-no-such-image:0' not found; build it with `mlgym image"):
        get_runtime("docker").factory()


def test_plugin_conformance():
    """Loaded through its entry point as mlgym loads it, every hook it implements registers valid items."""
    assert check_plugin("runtimes").provides == {"runtimes": 1, "commands": 2}


def test_listed_by_cli():
    row = next(p for p in list_plugins_json() if p["name"] == "runtimes")
    assert row["status"] == "ok" and row["provides"] == {"runtimes": 1}
