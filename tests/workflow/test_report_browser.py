"""report.html as a user sees it: the tiny run's report opened in a real headless browser (Debian's
chromium, driven by PyPI playwright; playwright never downloads a browser of its own)."""

import shutil
from pathlib import Path

import pytest

from helpers import snakemake

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # reported by the fixture: a missing tool is a failure here, not a skip
    sync_playwright = None

pytestmark = pytest.mark.workflow

CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 800}
# a stable copy that a note or a person can open after the run
SCREENSHOT_COPY = Path("/tmp/latentbalance-report-first-screen.png")


@pytest.fixture(scope="module")
def report(tiny_run, tmp_path_factory):
    workdir, config, _ = tiny_run
    # written outside the run's folder: the tiny run is shared and must stay unchanged
    path = tmp_path_factory.mktemp("browser") / "report.html"
    snakemake(workdir, "--configfile", str(config), "--report", str(path))
    return path


@pytest.fixture(scope="module")
def browser():
    if sync_playwright is None:
        pytest.fail(
            "PyPI playwright is missing: pip install -e '.[test]' (not `playwright install`)"
        )
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (Debian's browser)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield browser
        browser.close()


@pytest.fixture
def page(browser, report):
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(report.as_uri())
    yield page
    page.close()


def assert_in_first_screen(locator):
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"], box
    assert box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORT["width"], box


def test_first_screen_shows_the_introduction_and_the_headline(page, tiny_run, tmp_path_factory):
    workdir, _, _ = tiny_run
    introduction = page.locator("p", has_text="trains deep image classifiers on imbalanced data")
    expect(introduction).to_be_visible()  # the app has rendered the landing page
    screenshot = tmp_path_factory.getbasetemp() / "report-first-screen.png"
    page.screenshot(path=screenshot)
    shutil.copy(screenshot, SCREENSHOT_COPY)
    print(f"report's first screen: {screenshot} (copy: {SCREENSHOT_COPY})")

    assert_in_first_screen(introduction)
    assert_in_first_screen(page.locator("p", has_text="Where to look first"))
    # the headline: the summary's own sentences, best model and its margin over the runner-up
    best, runner_up = (workdir / "results/digits/summary/headline.txt").read_text().splitlines()
    headline = page.locator("li", has_text="digits")
    assert_in_first_screen(headline)
    text = headline.inner_text()
    assert best in text and runner_up in text
    assert "Best on acsa: " in text and "significant at 0.05" in text
    # the configuration is its own result, not a block of the landing page
    assert "max_per_class" not in page.locator("body").inner_text()


def test_a_user_clicks_through_to_the_leaderboard_table(page):
    menu = page.locator("nav").first
    menu.get_by_role("link", name="Results").click()
    menu.get_by_role("link", name="digits").click()
    menu.get_by_role("link", name="1. summary").click()
    expect(menu.get_by_text("configuration (YAML)")).to_be_visible()
    item = menu.locator("tr", has_text="leaderboard and significance")
    item.locator("a[iconname=eye]").click()
    leaderboard = page.frame_locator("iframe").first
    expect(leaderboard.get_by_role("heading", name="Test set: test", exact=True)).to_be_visible()
    expect(leaderboard.get_by_role("cell", name="smote-ae / resnet18").first).to_be_visible()
    expect(leaderboard.get_by_role("cell", name="none / resnet18").first).to_be_visible()
