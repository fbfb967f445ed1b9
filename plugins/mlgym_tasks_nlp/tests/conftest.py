import os
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def nlp_home(tmp_path_factory):
    """A private MLGYM_HOME for one test module (prepared smoke data is shared by its tests)."""
    home = tmp_path_factory.mktemp("nlp-home")
    saved = {k: os.environ.get(k) for k in ("MLGYM_HOME", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    os.environ.update(MLGYM_HOME=str(home), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    yield home
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def mlgym(*args, env=None, check=True, timeout=300):
    """Run the mlgym CLI in a subprocess; return the CompletedProcess."""
    res = subprocess.run([sys.executable, "-c", "from mlgym_core.cli import main; main()", *args],
                         capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"mlgym {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res


@pytest.fixture
def cli():
    """The mlgym CLI as a function: cli("run", "--task", ...)."""
    return mlgym
