"""The HTML report in a real headless Chromium (Playwright driving the system browser, /usr/bin/chromium).

Offline by construction: every request that is not the report file itself is aborted and fails the test; the page
must log no console error and raise no page error; every chart's bars have a real size on screen; the headings and
key figures are visible; a full-page screenshot goes to ``out/report-screenshot.png``.

A missing browser FAILS (it is not skipped): ``make test`` installs it (the Makefile's ``chromium`` target).
"""

from __future__ import annotations

import shutil
import struct
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crm_cli.report_html import render_report
from tests.cli import report_data

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "out" / "report-screenshot.png"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1200, "height": 900}
GENERATED = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (CHROMIUM.is_file() and shutil.which(str(CHROMIUM))):
        pytest.fail(f"Chromium is missing at {CHROMIUM}: the HTML report's browser test needs it. Install it with "
                    "`make chromium` (as root: apt-get install -y chromium); `make test` does that itself.",
                    pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail('The Python package playwright is missing: pip install -e ".[dev]"', pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


class Opened:
    """A report page and what happened while it loaded."""

    def __init__(self, browser: Any, html: str, path: Path) -> None:
        path.write_text(html, encoding="utf-8")
        self.url = path.resolve().as_uri()
        self.context = browser.new_context(viewport=VIEWPORT, java_script_enabled=True)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url}")
                     if r.url != self.url and r.url not in self.blocked else None)
        self.page.route("**/*", self._route)
        self.page.goto(self.url, wait_until="load")

    def _route(self, route: Any) -> None:
        url = route.request.url
        self.requests.append(url)
        if url == self.url:
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def text(self, selector: str) -> list[str]:
        return [" ".join(t.replace("\u00a0", " ").split()) for t in self.page.locator(selector).all_inner_texts()]

    def close(self) -> None:
        self.context.close()


def _png_facts(data: bytes) -> tuple[int, int, int]:
    """(width, height, distinct byte values of the decompressed pixel data) of a PNG; asserts it is one."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    assert data[12:16] == b"IHDR"
    idat, pos = b"", 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


def test_the_report_renders_offline_with_every_chart_drawn(browser: Any, tmp_path: Path) -> None:
    html = render_report(report_data.report_data(), locale="cs", generated_at=GENERATED,
                         source="http://127.0.0.1:3000")
    opened = Opened(browser, html, tmp_path / "report.html")
    page = opened.page
    try:
        # Then the file is all it needed: no other request, no error of any kind
        assert opened.blocked == [], f"the report fetched something: {opened.blocked}"
        assert opened.requests == [opened.url]
        assert opened.errors == []
        # And the headings are visible
        assert page.locator("h1").is_visible()
        assert opened.text("h1") == ["Report marketingu a obchodu"]
        assert opened.text("h2") == ["Důvody prohraných obchodů", "Věrnost zákazníků", "Výsledky automatizací",
                                     "Výsledky kampaní"]
        for heading in page.locator("h2, figcaption").all():
            assert heading.is_visible()
        # And every chart is on screen with a real size, and so is every bar in it
        charts = page.locator("svg.chart")
        assert charts.count() == 10
        for n in range(charts.count()):
            chart = charts.nth(n)
            name = chart.get_attribute("id")
            assert chart.is_visible(), name
            box = chart.bounding_box()
            assert box and box["width"] > 200 and box["height"] > 50, (name, box)
            assert chart.get_attribute("role") == "img"
            assert chart.locator("title").first.text_content(), name
            bars = chart.locator("rect.bar")
            assert bars.count() > 0, name
            for b in range(bars.count()):
                bar_box = bars.nth(b).bounding_box()
                assert bar_box and bar_box["width"] > 0.5 and bar_box["height"] > 0.5, (name, b, bar_box)
        # And the longest loss reason bar is the widest (3 of 8 lost deals), on screen too
        widths = [page.locator("#chart-loss-reasons rect.bar").nth(i).bounding_box()["width"] for i in range(4)]
        assert widths[0] == max(widths) and abs(widths[1] / widths[0] - 2 / 3) < 0.01
        # And the key figures are visible, as written
        assert opened.text("#loss .kpi .value") == ["8", "4", "33,3 %"]
        assert opened.text("#retention .kpi .value")[0] == "20,0 %"
        figures = page.locator("table.data td", has_text="480\u00a0000 CZK")
        assert figures.count() >= 1 and figures.first.is_visible()
        assert page.locator("td", has_text="Návrat bývalých zákazníků").first.is_visible()
        # And text does not spill out of its card horizontally (nothing wider than the page)
        assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
        # And every data table fits its card at this width (no hidden columns to scroll to)
        assert page.evaluate("[...document.querySelectorAll('.tablewrap')]"
                             ".filter(w => w.scrollWidth > w.clientWidth + 1).length") == 0

        # The screenshot a person can look at
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        data = SCREENSHOT.read_bytes()
        width, height, distinct = _png_facts(data)
        assert width == VIEWPORT["width"]
        assert height == page.evaluate("document.documentElement.scrollHeight") and height > 3000
        assert len(data) > 100_000 and distinct > 100, "the screenshot looks blank"

        # And it prints: the print layout keeps every bar, and Chromium makes a PDF of it
        page.emulate_media(media="print")
        for b in range(page.locator("rect.bar").count()):
            bar_box = page.locator("rect.bar").nth(b).bounding_box()
            assert bar_box and bar_box["width"] > 0.5
        assert page.pdf(format="A4", print_background=True)[:5] == b"%PDF-"
        assert opened.errors == []
    finally:
        opened.close()


def test_an_empty_report_shows_notes_in_the_browser(browser: Any, tmp_path: Path) -> None:
    html = render_report(report_data.empty_data(), locale="en", generated_at=GENERATED, source="fixture")
    opened = Opened(browser, html, tmp_path / "empty.html")
    try:
        assert opened.blocked == [] and opened.errors == []
        assert opened.page.locator("svg").count() == 0
        assert opened.text("p.empty") == ["No lost deals in this period.", "No purchases in this period.",
                                          "The workflows handled nothing in this period.",
                                          "No campaigns were created in this period."]
        for note in opened.page.locator("p.empty").all():
            assert note.is_visible()
    finally:
        opened.close()
