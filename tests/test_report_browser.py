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
    # tornado, 2 resource breakdowns, op-type breakdown, tradeoff, 2 validation, training, serving under load,
    # one roofline per chip
    assert charts == 9 + len(results.chips)
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


WIDTHS = (1400, 900, 600)
LAYOUT = """
const wrap = document.querySelector('#comparison').parentElement;
const box = wrap.getBoundingClientRect();
const heads = [...document.querySelectorAll('#comparison th')].map(th => th.getBoundingClientRect());
const legends = [...document.querySelectorAll('.plotly-graph-div')].map(d => d.querySelectorAll('.legend .traces').length);
return {page: document.documentElement.scrollWidth, window: window.innerWidth,
        wrapScroll: wrap.scrollWidth, wrapWidth: wrap.clientWidth,
        columns: heads.length, visible: heads.filter(r => r.left >= box.left - 1 && r.right <= box.right + 1).length,
        legends: legends};
"""


@pytest.fixture(scope="module")
def layouts(loaded, tmp_path_factory):
    """The page at three window widths: layout facts and a screenshot of each (in /tmp, to look at)."""
    browser, _, charts = loaded
    shots = tmp_path_factory.mktemp("screenshots")
    out = {}
    for width in WIDTHS:
        browser.set_window_size(width, 1600)
        browser.refresh()
        WebDriverWait(browser, 60).until(lambda d: d.execute_script(
            "return document.querySelectorAll('.plotly-graph-div .main-svg').length") >= charts)
        browser.save_screenshot(str(shots / f"report-{width}.png"))
        out[width] = browser.execute_script(LAYOUT)
    browser.set_window_size(1280, 2000)
    return out


def test_comparison_table_fits_900px_with_every_column(layouts):
    for width in (1400, 900):
        layout = layouts[width]
        assert layout["wrapScroll"] <= layout["wrapWidth"] + 1, (width, layout)  # no horizontal overflow
        assert layout["visible"] == layout["columns"] >= 8, (width, layout)  # every column in view


def test_page_never_scrolls_sideways(layouts):
    for width, layout in layouts.items():
        assert layout["page"] <= layout["window"] + 1, (width, layout)  # a wide table scrolls inside its box


def test_every_chart_with_several_series_has_a_legend(layouts, loaded):
    _, results, _ = loaded
    kernels = len({k["kernel"] for k in results.kernels})
    for width, layout in layouts.items():
        rooflines = layout["legends"][-len(results.chips):]
        # each roofline names its roofs and every kernel it places
        assert all(n >= kernels + 4 for n in rooflines), (width, rooflines)
