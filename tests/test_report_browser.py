"""Open the demo report in headless Chromium (Debian's chromium + chromedriver, driven by selenium): it loads with
no console errors, every chart renders, and the key numbers are on the page."""

import shutil

import pytest

pytest.importorskip("plotly")
webdriver = pytest.importorskip("selenium.webdriver")

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from accelscope.report import write_demo_report  # noqa: E402

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs Debian's chromium and chromium-driver (make test installs them)")
# The flags the workplace documents for a closed network: no background traffic, no sandbox as root.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,2000")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def loaded(browser, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    path, results = write_demo_report(out)
    browser.get(path.resolve().as_uri())
    charts = browser.execute_script("return document.querySelectorAll('.plotly-graph-div').length")
    WebDriverWait(browser, 60).until(
        lambda d: d.execute_script("return document.querySelectorAll('.plotly-graph-div .main-svg').length") >= charts)
    browser.save_screenshot(str(out / "screenshot.png"))
    return browser, results, charts


def test_loads_without_console_errors(loaded):
    browser, _, _ = loaded
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors


def test_every_chart_renders(loaded):
    browser, results, charts = loaded
    # tornado, 2 resource breakdowns, op-type breakdown, tradeoff, 2 validation, training, one roofline per chip
    assert charts == 8 + len(results.chips)
    sizes = browser.execute_script(
        "return [...document.querySelectorAll('.plotly-graph-div')].map(d => {"
        "  const svg = d.querySelector('.main-svg'); const r = svg.getBoundingClientRect();"
        "  return [r.width, r.height, d.querySelectorAll('.point, .bars path, .scatterlayer path, .boxlayer path')"
        "    .length]; })")
    for width, height, marks in sizes:
        assert width > 100 and height > 100 and marks > 0


def test_key_numbers_are_visible(loaded):
    browser, results, _ = loaded
    text = browser.find_element("tag name", "body").text
    h100 = next(s for s in results.serving if s["hw"] == "h100-sxm" and s["dtype"] == "bf16")
    assert f"{h100['tokens_per_s']:,.0f}" in text
    assert "Hardware comparison" in text and "HBM-bound" in text
