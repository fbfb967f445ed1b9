"""The HTML report in a real headless Chromium: no console errors, the JSON's numbers, a trajectory opens."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlgym_core.cli import cli

FIX = Path(__file__).parent / "fixtures" / "reports"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _fmt(v: float | None) -> str:
    from mlgym_core.report.render import fmt

    return fmt(v)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    pytest.importorskip("matplotlib")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")) or not (
            Path(CHROMEDRIVER).exists() or shutil.which("chromedriver")):
        pytest.skip("chromium/chromedriver missing (apt-get install -y chromium chromium-driver)")
    out = tmp_path_factory.mktemp("html")
    html = out / "report.html"
    res = CliRunner().invoke(cli, ["report", str(FIX / "basic"), str(FIX / "ours"), "--json", "--html", str(html),
                                   "--bootstrap", "20"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER if Path(CHROMEDRIVER).exists()
                                              else shutil.which("chromedriver")), options=opts)
    try:
        driver.get(html.resolve().as_uri())
        yield driver, obj, html
    finally:
        driver.quit()


def test_page_is_self_contained(page):
    _, _, html = page
    text = html.read_text()
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in text
    assert text.count("data:image/png;base64,") == 14  # 7 figures for each of the two scales


def test_loads_without_console_errors(page):
    driver, _, _ = page
    assert driver.title == "mlgym report"
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []


def test_tables_show_the_numbers_of_the_json(page):
    from selenium.webdriver.common.by import By

    driver, obj, _ = page
    assert driver.find_element(By.ID, "tau-max").text == f"{obj['tau_max']:.1f}"
    for method, entry in obj["methods"].items():
        for key in ("aup_best_attempt", "borda_best_attempt", "mean_rank_best_attempt"):
            cell = driver.find_element(By.CSS_SELECTOR, f'#summary td[data-method="{method}"][data-key="{key}"]')
            want = entry[key]
            if key == "mean_rank_best_attempt":
                assert cell.text == _fmt(want)  # 4 significant digits
            elif key == "aup_best_attempt":
                assert cell.text.startswith(_fmt(want))
                assert float(cell.get_attribute("data-value")) == want
            else:
                assert cell.text == str(want)
        for task, cells in entry["scores"].items():
            for which, table_id in (("best_attempt", "best-attempt"), ("best_submission", "best-submission")):
                td = driver.find_element(By.CSS_SELECTOR,
                                         f'#{table_id} td[data-method="{method}"][data-task="{task}"]')
                assert td.text == _fmt(cells[which])


def test_trajectory_opens_on_click_and_search_filters(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver, _, _ = page
    rows = driver.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
    assert len(rows) == 11
    search = driver.find_element(By.ID, "search")
    search.send_keys("evaluation_format_error")
    visible = [r for r in rows if r.is_displayed()]
    assert len(visible) == 1 and "o3-mini" in visible[0].text
    visible[0].click()
    WebDriverWait(driver, 10).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#steps .step")))
    viewer = driver.find_element(By.ID, "viewer")
    assert viewer.is_displayed()
    assert "exit status: evaluation_format_error (submit)" in viewer.text
    steps = driver.find_elements(By.CSS_SELECTOR, "#steps .step")
    assert len(steps) == 2
    assert "Let me validate." in steps[0].text
    # the long observation is collapsed until opened
    details = steps[0].find_element(By.TAG_NAME, "details")
    assert details.get_attribute("open") is None
    details.find_element(By.TAG_NAME, "summary").click()
    assert details.get_attribute("open") is not None and "Score: 1.2" in details.text
    assert driver.find_elements(By.CSS_SELECTOR, "#viewer svg.scores-chart circle")
    step_search = driver.find_element(By.ID, "step-search")
    step_search.send_keys("submit now")
    assert [s.is_displayed() for s in steps] == [False, True]
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []


def test_viewer_shows_per_call_tokens_cost_and_the_messages(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver, _, _ = page
    search = driver.find_element(By.ID, "search")
    search.clear()
    search.send_keys("default_openai_gpt-4o-mytask-0")
    (row,) = [r for r in driver.find_elements(By.CSS_SELECTOR, "#runs tbody tr") if r.is_displayed()]
    row.click()
    WebDriverWait(driver, 10).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#steps .step")))
    calls = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "#steps .step .calls")]
    assert calls == ["call 1: 500 tokens sent, 50 received, $0.001750", "call 1: 300 tokens sent, 30 received, "
                     "$0.001050", "call 1: 200 tokens sent, 20 received, $0.0007000"]
    messages = driver.find_element(By.CSS_SELECTOR, "#viewer details.messages")
    assert "Messages sent to the model (7, the history)" in messages.text
    messages.find_element(By.TAG_NAME, "summary").click()
    assert "SETTING: the system prompt" in messages.text and "TASK: minimise the loss" in messages.text


def test_other_scales_have_their_own_tables(page):
    from selenium.webdriver.common.by import By

    driver, obj, _ = page
    assert obj["scale"] == "full" and set(obj["other_scales"]) == {"smoke"}
    assert "Scale smoke" in driver.find_element(By.ID, "scale-smoke").text
    cell = driver.find_element(By.CSS_SELECTOR, '#best-attempt-smoke td[data-method="baseline"][data-task="myTask"]')
    assert cell.text == _fmt(2.0)  # the smoke baseline, not the full one (1.0)
    full = driver.find_element(By.CSS_SELECTOR, '#best-attempt td[data-method="baseline"][data-task="myTask"]')
    assert full.text == _fmt(1.0)
