"""The web UI in a real browser: Debian's Chromium driven by Playwright, against `acflow ui` started
as a subprocess over the sandbox. One server and one browser for the module.

ACFLOW_SCREENSHOTS=1 also copies the pages' screenshots to docs/screenshots/ (the README's).
"""

from __future__ import annotations

import csv
import difflib
import io
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from acflow.sandbox import Sandbox

PASSWORD = "correct-horse-battery"
DB_PASSWORD = "s3cret-db-pw"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
CONFIG = """\
# acflow.yaml of the UI tests: this comment must survive every save.
version: 1
accounts:
  main: {{url: "{url}", key_env: UI_TEST_KEY}}
flows:
  # Every deal with its stage: the edit test changes a column here.
  deals_by_stage:
    source: deals
    lookups: [stage]   # stage_name
    select: [id, title, amount, currency, stage_name]
    sort: id
    to: out/deals_by_stage.csv

  # A database that is not there: its runs fail (and its password is never shown).
  warehouse:
    source: lists
    to: postgresql://loader:{db_password}@127.0.0.1:{closed_port}/crm?table=lists
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, folder: Path, url: str, proc: subprocess.Popen[str], log: Path) -> None:
        self.folder, self.url, self.proc, self.log = folder, url, proc, log
        self.config = folder / "acflow.yaml"

    def client(self, login: bool = True) -> httpx.Client:
        client = httpx.Client(base_url=self.url, follow_redirects=False, timeout=60)
        if login:
            r = client.post("/login", data={"secret": PASSWORD})
            assert r.status_code == 303, r.text
        return client


@pytest.fixture(scope="module")
def server(sandbox_server: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("ui")
    (folder / "acflow.yaml").write_text(CONFIG.format(url=sandbox_server.url, db_password=DB_PASSWORD,
                                                      closed_port=_free_port()))
    port = _free_port()
    log = folder / "ui.log"
    env = {**os.environ, "UI_TEST_KEY": sandbox_server.admin_key, "ACFLOW_UI_PASSWORD": PASSWORD}
    env.pop("ACFLOW_SERVICE_TOKEN", None)
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "acflow.cli", "ui", "--port", str(port), "--config",
                                 str(folder / "acflow.yaml")], cwd=folder, env=env, stdout=out, stderr=out,
                                text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(url + "/health", timeout=2)
            break
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"acflow ui did not start: {log.read_text()}") from None
            time.sleep(0.2)
    try:
        yield Server(folder, url, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def page(browser: object, server: Server) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    pg.on("dialog", lambda d: d.accept())  # Rotate asks first
    pg.goto(server.url + "/")
    pg.get_by_label("Password or service token").fill(PASSWORD)
    pg.get_by_role("button", name="Log in").click()
    pg.wait_for_url(server.url + "/")
    yield pg
    context.close()


def _shot(pg: object, shots: Path, name: str, full: bool = True) -> Path:
    """A screenshot that shows something: many distinct colours, not a blank page."""
    from PIL import Image, ImageStat

    path = shots / f"{name}.png"
    pg.screenshot(path=str(path), full_page=full)  # type: ignore[attr-defined]
    with Image.open(path) as img:
        grey = img.convert("L")
        assert ImageStat.Stat(grey).stddev[0] > 20, f"{name}: the page looks blank"
        assert len(grey.getcolors(65536) or []) > 30, f"{name}: too few colours for a rendered page"
    if os.environ.get("ACFLOW_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS / f"{name}.png")
    return path


def _sandbox_deals(sandbox: Sandbox) -> list[dict[str, str]]:
    out, offset = [], 0
    with httpx.Client(base_url=sandbox.url, headers={"Api-Token": sandbox.admin_key}) as client:
        while True:
            page = client.get("/api/3/deals", params={"limit": 100, "offset": offset}).json()["deals"]
            out += page
            if len(page) < 100:
                return out
            offset += 100


def test_logged_out_and_csrf_less_requests_are_refused(server: Server) -> None:
    anon = server.client(login=False)
    r = anon.get("/ui/runs")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fui%2Fruns"
    assert anon.post("/ui/flows/deals_by_stage/run", data={}).status_code == 401
    assert anon.post("/ui/editor", data={"action": "save"}).status_code == 401
    assert anon.post("/login", data={"secret": "not-the-password"}).status_code == 401

    client = server.client(login=False)
    r = client.post("/login", data={"secret": PASSWORD})
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie  # plain http here
    home = client.get("/")
    assert home.status_code == 200
    assert "default-src 'self'" in home.headers["content-security-policy"]
    csrf = re.search(r'name="csrf" value="([^"]+)"', home.text)[1]
    before = server.config.read_text()
    for path in ("/ui/flows/deals_by_stage/run", "/ui/flows/deals_by_stage/rotate", "/ui/editor", "/logout"):
        assert client.post(path, data={}).status_code == 403, path
        assert client.post(path, data={"csrf": "x" + csrf}).status_code == 403, path
    evil = client.post("/ui/flows/deals_by_stage/run", data={"csrf": csrf}, headers={"origin": "http://evil.test"})
    assert evil.status_code == 403
    assert server.config.read_text() == before
    assert client.get("/ui/runs?flow=deals_by_stage").text.count("/ui/runs/") == 0  # nothing was run

    stored = server.folder / ".acflow" / "ui-password"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert PASSWORD not in stored.read_text() and stored.read_text().startswith("scrypt$")


def test_a_person_creates_previews_saves_runs_and_downloads_a_flow(page: object, server: Server,
                                                                   sandbox_server: Sandbox, shots: Path) -> None:
    pg = page
    _shot(pg, shots, "home")
    pg.get_by_role("link", name="New flow").first.click()
    pg.get_by_label("Name", exact=True).fill("open_deals")
    pg.get_by_label("Entity", exact=True).select_option("deals")
    pg.wait_for_selector("input[name=lookups][value=stage]")  # htmx brought the entity's lookups and columns
    pg.check("input[name=lookups][value=stage]")
    pg.wait_for_selector(".columns input[value=stage_name]")
    pg.get_by_label("Filters: one condition a line, all must hold").fill("status_label = 'open'")
    wanted = ["id", "title", "amount", "currency", "status_label", "stage_name"]
    ticked = []
    for box in pg.locator(".columns input[type=checkbox]").all():
        box.set_checked(box.get_attribute("value") in wanted)
        ticked += [box.get_attribute("value")] if box.get_attribute("value") in wanted else []
    assert sorted(ticked) == sorted(wanted)
    pg.get_by_label("Sort").fill("id")
    pg.get_by_label("Write to").fill("out/open_deals.csv")
    pg.check("input[name=serve][value=csv]")
    pg.get_by_role("button", name="Preview").click()
    pg.wait_for_selector("#editor-preview table")
    headers = pg.locator("#editor-preview th").all_inner_texts()
    assert [h.split("\n")[0] for h in headers] == ticked  # in the list's order
    assert "bigint" in headers[0].lower()  # each column with its type
    statuses = pg.locator(f"#editor-preview td:nth-child({ticked.index('status_label') + 1})").all_inner_texts()
    assert statuses and set(statuses) == {"open"}
    _shot(pg, shots, "new-flow")

    pg.get_by_role("button", name="Save to acflow.yaml").click()
    pg.wait_for_url(re.compile(r".*/ui/flows/open_deals\?saved=1$"))
    text = server.config.read_text()
    assert "# acflow.yaml of the UI tests: this comment must survive every save." in text
    assert "  open_deals:\n    source: deals\n    lookups: [stage]\n" in text
    assert "    filter: status_label = 'open'\n" in text and "    serve: {csv: true}\n" in text

    pg.get_by_role("button", name="Run now").click()
    pg.wait_for_selector("#run-status .st-success", timeout=120_000)
    pg.wait_for_selector("#preview table")
    _shot(pg, shots, "flow")

    pg.get_by_role("button", name="Rotate the token").click()  # its confirm() is accepted (the page fixture)
    pg.wait_for_selector("#urls .notice")  # htmx swapped in the new URLs
    url = pg.locator("#url-csv").input_value()
    assert re.fullmatch(re.escape(server.url) + r"/data/open_deals\.csv\?token=[\w-]{40,}", url)
    rows = list(csv.DictReader(io.StringIO(httpx.get(url, timeout=60).content.decode("utf-8-sig"))))
    truth = sorted(int(d["id"]) for d in _sandbox_deals(sandbox_server) if str(d["status"]) == "0")
    assert [int(r["id"]) for r in rows] == truth
    assert {r["status_label"] for r in rows} == {"open"} and all(r["stage_name"] for r in rows)
    assert list(rows[0]) == ticked
    written = list(csv.DictReader(io.StringIO((server.folder / "out/open_deals.csv").read_text("utf-8-sig"))))
    assert written == rows
    assert httpx.get(url.replace("token=", "token=x"), timeout=30).status_code == 404

    pg.get_by_role("link", name="Runs").first.click()
    pg.wait_for_selector("table")
    _shot(pg, shots, "runs")
    pg.locator("a[href^='/ui/runs/']").first.click()
    pg.wait_for_selector("dl.facts")
    assert "deals" in pg.inner_text("dl.facts")
    _shot(pg, shots, "run")


def test_an_edit_changes_only_that_column_and_keeps_comments(page: object, server: Server, shots: Path) -> None:
    pg = page
    before = server.config.read_text()
    pg.goto(server.url + "/ui/flows/deals_by_stage/edit")
    pg.wait_for_selector(".columns input[value=currency]")
    pg.uncheck(".columns input[value=currency]")
    _shot(pg, shots, "edit-flow")
    pg.get_by_role("button", name="Save to acflow.yaml").click()
    pg.wait_for_url(re.compile(r".*/ui/flows/deals_by_stage\?saved=1$"))
    after = server.config.read_text()
    diff = [d for d in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if not d.startswith(("---", "+++", "@@"))]
    assert diff == ["-    select: [id, title, amount, currency, stage_name]",
                    "+    select: [id, title, amount, stage_name]"]
    assert "lookups: [stage]   # stage_name" in after  # a line comment beside another key, kept

    # the file edited by hand while the form is open: the save is refused, nothing overwritten
    pg.goto(server.url + "/ui/flows/deals_by_stage/edit")
    pg.wait_for_selector(".columns input[value=title]")
    pg.uncheck(".columns input[value=title]")
    by_hand = after.replace("    sort: id\n", "    sort: id desc\n", 1)
    server.config.write_text(by_hand)
    pg.get_by_role("button", name="Save to acflow.yaml").click()
    pg.wait_for_selector("text=changed on disk")
    assert server.config.read_text() == by_hand
    assert not pg.is_checked(".columns input[value=title]")  # the person's change is still in the form


def test_validate_shows_each_message_beside_its_field(page: object, server: Server) -> None:
    pg = page
    pg.goto(server.url + "/ui/flows/deals_by_stage/edit")
    pg.get_by_label("Filters: one condition a line, all must hold").fill("no_such_column > 1")
    pg.get_by_label("Mode").select_option("merge")
    pg.get_by_role("button", name="Validate").click()
    pg.wait_for_selector("#err-filter")
    assert "no_such_column" in pg.inner_text("#err-filter")
    assert re.search(r"line \d+", pg.inner_text("#err-filter"))
    assert "merge" in pg.inner_text("#err-mode")
    assert pg.get_attribute("#filters", "aria-invalid") == "true"


def test_a_failing_flow_is_shown_with_its_error_and_what_to_do(page: object, server: Server, shots: Path) -> None:
    pg = page
    pg.goto(server.url + "/ui/flows/warehouse")
    pg.get_by_role("button", name="Run now").click()
    pg.wait_for_selector("#run-status .st-failed", timeout=120_000)
    pg.reload()
    alert = pg.inner_text(".error")
    assert "The last run failed" in alert and "What to do:" in alert and "127.0.0.1" in alert
    _shot(pg, shots, "failed-flow")
    pg.goto(server.url + "/")
    first = pg.locator("table.flows tbody tr").first
    assert "warehouse" in first.inner_text() and "failed" in first.inner_text()  # failed flows first
    pg.set_viewport_size({"width": 390, "height": 844})
    _shot(pg, shots, "home-phone")
    assert pg.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than a phone


def test_no_secret_in_any_page(server: Server, sandbox_server: Sandbox) -> None:
    client = server.client()
    pages = ["/", "/ui/runs", "/ui/new", "/login"]
    for name in ("deals_by_stage", "warehouse"):
        pages += [f"/ui/flows/{name}", f"/ui/flows/{name}/edit", f"/ui/flows/{name}/preview"]
    runs = client.get("/ui/runs").text
    pages += sorted(set(re.findall(r'href="(/ui/runs/[0-9a-f]+)"', runs)))
    assert len(pages) > 10
    tokens = (server.folder / ".acflow").glob("*")
    for path in pages:
        html = client.get(path).text
        assert DB_PASSWORD not in html, path
        assert sandbox_server.admin_key not in html, path
        assert PASSWORD not in html, path
    assert "loader:***@" in client.get("/ui/flows/warehouse").text
    assert list(tokens)


def test_the_report_is_a_page_of_the_ui(page: object, server: Server, shots: Path) -> None:
    client = server.client()  # logged in; a browser without a session is sent to the login
    assert httpx.get(server.url + "/ui/report", follow_redirects=False).status_code in (303, 307)
    page.goto(server.url + "/ui/report?since=all")  # type: ignore[attr-defined]
    html = page.content()  # type: ignore[attr-defined]
    for section in ("E-mail", "Pipeline", "Forms"):
        assert section in html
    assert "<script" not in html.lower() and 'src="http' not in html
    _shot(page, shots, "report-page")
    bad = client.get("/ui/report?since=yesterday-ish")
    assert bad.status_code == 400 and "since" in bad.text
