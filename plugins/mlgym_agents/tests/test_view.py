"""`mlgym view` in a real headless Chromium while a real episode runs: the opened trajectory gains the
episode's new step without the page being reloaded."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mlgym_core.testing import fixture_env
from mlgym_core.view import ViewServer

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
REPLIES = ["DISCUSSION\nLook at the answer.\n```\ncat answer.py\n```",
           "DISCUSSION\nSecond look, after the gate.\n```\necho second-step-marker\n```",
           "DISCUSSION\nDone.\n```\nsubmit\n```"]


def _holds(cond) -> bool:
    """cond(), where an element the page replaced while it was read counts as not yet (the viewer re-renders)."""
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        return bool(cond())
    except StaleElementReferenceException:
        return False


def _wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not _holds(cond):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _steps(runs: Path) -> int:
    for traj in runs.glob("*/*.traj"):
        try:
            return len(json.loads(traj.read_text())["trajectory"])
        except ValueError:
            return 0
    return 0


@pytest.fixture
def driver():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("chromium/chromedriver missing (apt-get install -y chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    yield d
    d.quit()


def test_view_follows_a_running_episode_without_a_reload(server, driver, tmp_path):
    from selenium.webdriver.common.by import By

    gate = threading.Event()
    srv = server([REPLIES[0], {"content": REPLIES[1], "gate": gate}, REPLIES[2]])
    runs = tmp_path / "runs"
    env = dict(os.environ, OPENAI_BASE_URL=srv.base_url, OPENAI_API_KEY="sk-test", MLGYM_STRICT_PLUGINS="1")
    env.pop("MLGYM_LOAD_PLUGINS", None)
    env = fixture_env(tmp_path / "site", env)
    p = subprocess.Popen([sys.executable, "-m", "mlgym_core", "run", "--task", "fixtureTask", "--agent", "default",
                          "--model", "openai:m", "--output", str(runs), "--max-steps", "6"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    view = None
    try:
        _wait_for(lambda: _steps(runs) >= 1 and len(srv.requests) >= 2, 120, "the episode's first step")
        view = ViewServer([runs], poll_s=0.3).start()
        driver.get(view.url)
        driver.execute_script("window.__mlgymMarker = 42;")  # gone if the page navigates or reloads
        rows = driver.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
        assert len(rows) == 1, driver.find_element(By.TAG_NAME, "body").text[:800]
        rows[0].click()
        try:
            _wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#steps .step"), 20, "the trajectory viewer")
        except AssertionError:
            raise AssertionError(f"{driver.get_log('browser')} {driver.find_element(By.ID, 'viewer').text[:500]}")
        assert len(driver.find_elements(By.CSS_SELECTOR, "#steps .step")) == 1
        assert "second-step-marker" not in driver.find_element(By.ID, "viewer").text
        gate.set()  # the episode goes on: step 2, then submit
        _wait_for(lambda: "second-step-marker" in driver.find_element(By.ID, "viewer").text, 60,
                  "the new step in the open viewer")
        assert driver.execute_script("return window.__mlgymMarker;") == 42  # no reload, no navigation
        p.wait(120)
        _wait_for(lambda: "submitted" in driver.find_element(By.ID, "runs").text, 30, "the final exit status")
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert errors == []
    finally:
        if p.poll() is None:
            p.kill()
        gate.set()
        if view is not None:
            view.close()
