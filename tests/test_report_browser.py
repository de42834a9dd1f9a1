"""The report page in a real headless Chromium (Debian's): it renders (a screenshot that is not blank),
logs no console error, loads nothing from the network, reads in the light and the dark scheme, and prints.

ACFLOW_SCREENSHOTS=1 also saves docs/screenshots/report.png (the README's picture).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

import acflow

DOCS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def page_file(sandbox_server, tmp_path_factory) -> Path:
    sandbox_server.reset()
    folder = tmp_path_factory.mktemp("report-browser")
    account = acflow.Account(sandbox_server.url, sandbox_server.admin_key, rate_limit=1000)
    made = acflow.report(account, to=folder / "report.html", since="all", mirror=folder / "m.duckdb", sync=True)
    assert made.path is not None
    return made.path


def _open(browser, path: Path, scheme: str, problems: list[str]):
    page = browser.new_page(viewport={"width": 1200, "height": 1500}, color_scheme=scheme)
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning")
            else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: problems.append(f"request {r.url}") if not r.url.startswith("file:") else None)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page


def _variance(png: bytes) -> float:
    from PIL import Image, ImageStat

    image = Image.open(io.BytesIO(png)).convert("L")
    return ImageStat.Stat(image).var[0]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_it_renders_without_errors_in_both_schemes(browser, page_file, scheme, tmp_path):
    problems: list[str] = []
    page = _open(browser, page_file, scheme, problems)
    try:
        shot = page.screenshot(full_page=False)
        assert _variance(shot) > 200, "the screenshot is (nearly) blank"
        assert problems == []
        # every chart is laid out with a size, and its text takes the page's colour (readable on either background)
        charts = page.eval_on_selector_all(
            "svg.chart", "els => els.map(e => [e.getBoundingClientRect().width, e.getBoundingClientRect().height])")
        assert len(charts) >= 8 and all(w > 500 and h > 100 for w, h in charts), charts
        text, background = page.evaluate("""() => {
            const t = document.querySelector('svg.chart text');
            const main = document.querySelector('main.acflow-report');
            return [getComputedStyle(t).fill, getComputedStyle(main).backgroundColor];
        }""")
        assert text == ("rgb(31, 35, 40)" if scheme == "light" else "rgb(230, 237, 243)"), text
        assert background == ("rgb(255, 255, 255)" if scheme == "light" else "rgb(13, 17, 23)"), background
        if scheme == "light" and os.environ.get("ACFLOW_SCREENSHOTS"):
            DOCS.mkdir(parents=True, exist_ok=True)
            page.set_viewport_size({"width": 1200, "height": 1400})
            (DOCS / "report.png").write_bytes(page.screenshot(full_page=False))
    finally:
        page.close()


def test_it_prints(browser, page_file):
    problems: list[str] = []
    page = _open(browser, page_file, "dark", problems)
    try:
        page.emulate_media(media="print")
        assert page.eval_on_selector("nav", "e => getComputedStyle(e).display") == "none"
        assert page.eval_on_selector("main.acflow-report", "e => getComputedStyle(e).backgroundColor") == \
            "rgb(255, 255, 255)"  # paper is white even when the screen is dark
        pdf = page.pdf(format="A4")
        assert pdf[:5] == b"%PDF-" and len(pdf) > 50_000
        assert problems == []
    finally:
        page.close()
