"""The web view in real headless Chromium (Debian's `chromium`, driven by Playwright).

Filters are used through the form, the event page shows the seed's demand marked in its
sentence, the charts are drawn (pixels on the canvas), and an article full of `<script>`
shows as text with no script run and no Content-Security-Policy violation. Screenshots go
to NEWSWATCH_ARTIFACTS (CI keeps that folder) or the test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._web import SEED_DEMAND

CHROMIUM = os.environ.get("NEWSWATCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Chromium from the system (never a browser Playwright downloads)."""
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing (make setup-browser installs Debian's chromium)")
        pytest.skip(f"{CHROMIUM} is missing (make setup-browser installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, tmp_path: Path, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A fresh page that records console errors, script errors and dialogs; screenshots on exit."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.problems = []  # type: ignore[attr-defined]
    opened.on("console", lambda m: m.type in ("error", "warning") and opened.problems.append(f"console: {m.text}"))
    opened.on("pageerror", lambda e: opened.problems.append(f"pageerror: {e}"))
    opened.on("dialog", lambda d: (opened.problems.append(f"dialog: {d.message}"), d.dismiss()))
    yield opened
    folder = Path(os.environ.get("NEWSWATCH_ARTIFACTS", tmp_path)) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    name = request.node.name.replace("/", "_").replace("[", "-").replace("]", "")
    opened.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    context.close()


def _canvas_has_pixels(page, selector: str) -> int:  # type: ignore[no-untyped-def]
    """How many pixels of the canvas are painted (0: nothing drawn)."""
    return int(page.evaluate(
        """(selector) => {
            const canvas = document.querySelector(selector);
            const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) painted++; }
            return painted;
        }""", selector))


def test_events_page_shows_the_seed_demands_and_filters_work(page, site: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{site}/")
    assert page.locator("table.events td.content", has_text=SEED_DEMAND).count() == 1
    assert page.locator("#events-chart").get_attribute("data-drawn") is not None
    assert _canvas_has_pixels(page, "#events-chart") > 500
    # the form: type REJECT, submit
    page.select_option("select[name=type]", "REJECT")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/events?**type=REJECT**")
    types = page.locator("table.events tbody tr td:nth-child(2)").all_inner_texts()
    assert types and set(types) == {"REJECT"}
    # an actor typed in lower case, a topic from the list
    page.goto(f"{site}/events")
    page.fill("input[name=actor]", "nato")
    page.select_option("select[name=topic]", "nato-enlargement")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state()
    rows = page.locator("table.events tbody tr")
    assert rows.count() >= 1
    assert SEED_DEMAND in page.locator("table.events").inner_text()
    assert "actor: NATO" in page.locator("#summary").inner_text()
    # a facet link narrows the list, a chip removes the filter again
    page.goto(f"{site}/events")
    page.locator("aside.facets a", has_text="DENY").click()
    page.wait_for_url("**type=DENY**")
    assert set(page.locator("table.events tbody tr td:nth-child(2)").all_inner_texts()) == {"DENY"}
    page.locator("a.chip", has_text="type: DENY").click()
    page.wait_for_load_state()
    assert "type=" not in page.url
    assert page.problems == []


def test_event_page_marks_the_demand_in_its_sentence(page, site: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{site}/events")
    page.locator("table.events td.content a", has_text=SEED_DEMAND).click()
    page.wait_for_url("**/events/*")
    assert page.locator("#content").inner_text() == SEED_DEMAND
    assert page.locator(".mentions mark").first.inner_text() == SEED_DEMAND
    sentence = page.locator(".mentions .sentence").first.inner_text()
    assert sentence.startswith("MOSCOW — Russia on Friday published draft security pacts demanding NATO")
    reasons = page.locator("ul.reasons").inner_text()
    assert "NATO enlargement" in reasons and "membership" in reasons
    assert page.problems == []


def test_actor_page_draws_its_chart(page, site: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{site}/actors")
    page.locator("table.actors a", has_text="RUS").click()
    page.wait_for_url("**/actors/RUS")
    page.wait_for_function("document.querySelector('#actor-chart').dataset.drawn !== undefined")
    assert _canvas_has_pixels(page, "#actor-chart") > 500
    assert "NATO" in page.locator("table.counterparts").inner_text()
    assert page.problems == []


def test_markup_in_an_article_shows_as_text_and_runs_nothing(page, site: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{site}/events?search=__xss")
    page.locator("table.events td.content a").first.click()
    page.wait_for_url("**/events/*")
    text = page.locator("body").inner_text()
    assert "<script>window.__xss_body=1</script>" in text
    assert '<img src=x onerror="window.__xss_img=1">' in text
    assert "<script>window.__xss_title = 1</script> Russia demands <b>NATO</b> halt drills" in text
    ran = page.evaluate("() => Object.keys(window).filter(k => k.startsWith('__xss'))")
    assert ran == []
    assert page.locator("main script, main img, main iframe, main b").count() == 0
    for path in ("/", "/alerts", "/actors/RUS"):
        page.goto(site + path)
        assert page.evaluate("() => Object.keys(window).filter(k => k.startsWith('__xss'))") == []
    assert page.problems == []
