"""acflow report against the sandbox: every figure of the HTML recomputed here, independently, from the
mirror's rows (plain SQL for the rows, Python for the arithmetic), and the page's other promises: amounts
never added across currencies, restricted deals counted, empty sections that say why, no web address,
no request without --sync."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pytest
from test_cli import acflow_cmd

import acflow
from acflow.account import Account
from acflow.mirror import Mirror
from acflow.report import ENTITIES, build, render_html, summary_png

# The test's own table of minor units (ISO 4217): not the catalog's.
DIGITS = {"usd": 2, "eur": 2, "jpy": 0, "kwd": 3}
NOW = datetime(2026, 1, 15, tzinfo=UTC)  # after the sandbox's generated history (it ends 2026-01-01)
NOW_WINDOW = datetime(2025, 12, 1, tzinfo=UTC)  # a 90-day window inside it: weekly figures


# ---- the page, read back -------------------------------------------------------------------------------------


class Page(HTMLParser):
    """Tables (data-figure), their rows' data-value cells and row attributes, empties, notes, figure titles."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self.empty: dict[str, str] = {}
        self.notes: dict[str, str] = {}
        self.how: dict[str, str] = {}
        self.attrs: list[tuple[str, dict[str, str | None]]] = []
        self.main: dict[str, str | None] = {}
        self._table: str | None = None
        self._row: dict[str, Any] | None = None
        self._cell: dict[str, str | None] | None = None
        self._text: list[str] = []
        self._capture: tuple[str, str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.attrs.append((tag, a))
        if tag == "main":
            self.main = a
        if tag == "figure":
            self.how[str(a["data-figure"])] = str(a.get("title"))
        if tag == "table" and a.get("data-figure"):
            self._table = str(a["data-figure"])
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = {"_attrs": {k[5:].replace("-", "_"): v for k, v in a.items() if k.startswith("data-")}}
        elif tag == "td" and self._row is not None:
            self._cell, self._text = a, []
        elif tag == "p" and (a.get("data-empty") or a.get("data-note")):
            kind = "empty" if a.get("data-empty") else "note"
            self._capture, self._text = (kind, str(a.get("data-empty") or a.get("data-note"))), []

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._row is not None:
            self._row[str(self._cell["data-col"])] = {"value": self._cell["data-value"],
                                                      "currency": self._cell.get("data-currency"),
                                                      "text": "".join(self._text).strip()}
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            if len(self._row) > 1:
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "p" and self._capture is not None:
            kind, name = self._capture
            (self.empty if kind == "empty" else self.notes)[name] = "".join(self._text).strip()
            self._capture = None

    def rows(self, figure: str) -> list[dict[str, Any]]:
        """Each row as {column: value} (ids from the row's attributes), numbers as int, float or Decimal."""
        out = []
        for row in self.tables[figure]:
            plain: dict[str, Any] = {k: (v or None) for k, v in row["_attrs"].items()}
            for col, cell in row.items():
                if col != "_attrs":
                    plain[col] = cell["value"] if cell["value"] != "" else None
            out.append(plain)
        return out


def num(text: Any) -> Any:
    if text is None:
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return Decimal(text)


def close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-15)


# ---- the truth, from the mirror's rows -----------------------------------------------------------------------


class Truth:
    """The mirror's current rows, read with plain SQL, and the figures computed from them in Python."""

    def __init__(self, path: Path, url: str, start: datetime | None, end: datetime, grain: str) -> None:
        self.con = duckdb.connect(str(path), read_only=True)
        self.con.execute("SET TimeZone = 'UTC'")
        self.url, self.start, self.end, self.grain = url, start, end, grain
        self.zone = ZoneInfo(self.con.execute("SELECT zone FROM _acflow.accounts WHERE account = ?",
                                              [url]).fetchone()[0])

    def rows(self, entity: str, columns: str) -> list[dict[str, Any]]:
        found = self.con.execute("SELECT table_name FROM _acflow.state WHERE account = ? AND entity = ?",
                                 [self.url, entity]).fetchone()
        if found is None:
            return []
        cur = self.con.execute(f"SELECT {columns} FROM {found[0]} WHERE _acflow_deleted_at IS NULL")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def period(self, ts: datetime) -> date:
        day = ts.astimezone(self.zone).date()
        return day.replace(day=1) if self.grain == "month" else day - timedelta(days=day.weekday())

    def inside(self, ts: datetime | None) -> bool:
        return ts is not None and (self.start is None or ts >= self.start) and ts < self.end

    def periods(self, first: datetime) -> list[date]:
        p, last, out = self.period(self.start or first), self.period(self.end), []
        while p <= last:
            out.append(p)
            p = (p + timedelta(days=32)).replace(day=1) if self.grain == "month" else p + timedelta(days=7)
        return out

    def names(self) -> tuple[dict[int, str], dict[int, str], dict[int, str]]:
        pipelines = {r["id"]: r["title"] for r in self.rows("dealGroups", "id, title")}
        stages = {r["id"]: r["title"] for r in self.rows("dealStages", "id, title")}
        users = {r["id"]: (" ".join(x for x in (r["firstName"], r["lastName"]) if x).strip() or r["username"])
                 for r in self.rows("users", 'id, "firstName", "lastName", username')}
        return pipelines, stages, users

    def sent(self) -> list[dict[str, Any]]:
        out = []
        for c in self.rows("campaigns", "id, name, type, sdate, ldate, send_amt, uniqueopens, opens, "
                                        "uniquelinkclicks, linkclicks, hardbounces, softbounces, unsubscribes"):
            at = c["sdate"] or c["ldate"]
            if (c["send_amt"] or 0) > 0 and self.inside(at):
                out.append({**{k: (v or 0) for k, v in c.items() if k not in ("sdate", "ldate")}, "at": at,
                            "type": c["type"] or "(none)", "name": c["name"]})
        return out

    def deals(self) -> list[dict[str, Any]]:
        out = []
        for d in self.rows("deals", 'id, "group", stage, owner, status, mdate, value, currency, "winProbability", '
                                    'percent, "isDisabled"'):
            if d["isDisabled"] == 1:
                continue
            cur = (d["currency"] or "").lower()
            d["amount"] = Decimal(d["value"]).scaleb(-DIGITS[cur])
            d["p"] = d["winProbability"] if d["winProbability"] is not None else d["percent"]
            d["forecast"] = d["amount"] * Decimal(d["p"]) / 100 if d["p"] is not None else None
            d["currency"] = cur
            out.append(d)
        return out


def rates(s: dict[str, Any]) -> dict[str, float | None]:
    def r(n: float, d: float) -> float | None:
        return n / d if d else None
    return {"open_rate": r(s["uniqueopens"], s["send_amt"]), "click_rate": r(s["uniquelinkclicks"], s["send_amt"]),
            "click_to_open_rate": r(s["uniquelinkclicks"], s["uniqueopens"]),
            "hard_bounce_rate": r(s["hardbounces"], s["send_amt"]), "soft_bounce_rate": r(s["softbounces"],
                                                                                          s["send_amt"]),
            "unsubscribe_rate": r(s["unsubscribes"], s["send_amt"])}


def summed(campaigns: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("send_amt", "uniqueopens", "opens", "uniquelinkclicks", "linkclicks", "hardbounces", "softbounces",
            "unsubscribes")
    return {k: sum(c[k] for c in campaigns) for k in keys}


def assert_rates(row: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    for key, value in rates(expected).items():
        assert close(num(row[key]), value), (where, key, row[key], value)
    for mine, theirs in (("sends", "send_amt"), ("unique_opens", "uniqueopens"), ("unique_clicks",
                         "uniquelinkclicks"), ("hard_bounces", "hardbounces"), ("soft_bounces", "softbounces"),
                         ("unsubscribes", "unsubscribes")):
        if mine in row:
            assert num(row[mine]) == expected[theirs], (where, mine)


def won_lost(items: list[dict[str, Any]]) -> tuple[int, int, float | None]:
    won = sum(1 for d in items if d["status"] == 1)
    lost = sum(1 for d in items if d["status"] == 2)
    return won, lost, (won / (won + lost) if won + lost else None)


# ---- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synced(sandbox_server, tmp_path_factory) -> tuple[Account, Path]:
    """The report's entities of the sandbox (seed 1) in a mirror of their own, synced once for the module."""
    sandbox_server.reset()
    account = Account(sandbox_server.url, sandbox_server.admin_key, rate_limit=1000)
    path = tmp_path_factory.mktemp("report") / "mirror.duckdb"
    summary = acflow.sync(list(ENTITIES), account=account, mirror=path)
    assert summary.ok
    return account, path


def _made(synced, tmp_path: Path, since: str, now: datetime, **kw: Any) -> tuple[Any, Page, Truth]:
    account, path = synced
    made = acflow.report(account.url, to=tmp_path / "report.html", since=since, mirror=path, now=now, **kw)
    html = (tmp_path / "report.html").read_text()
    w = made.window
    return made, Page(html), Truth(path, account.url, w.start, w.end, w.grain)


@pytest.fixture(params=[("all", NOW), ("90d", NOW_WINDOW)], ids=["all-monthly", "90d-weekly"])
def made(request, synced, tmp_path) -> tuple[Any, Page, Truth]:
    since, now = request.param
    return _made(synced, tmp_path, since, now)


# ---- every figure, recomputed --------------------------------------------------------------------------------


def test_the_window_and_its_grain(made):
    report, page, _ = made
    assert page.main["data-grain"] == ("month" if report.window.start is None else "week")
    assert page.main["data-end"] == (NOW if report.window.start is None else NOW_WINDOW).isoformat()
    if report.window.start is not None:
        assert report.window.start == NOW_WINDOW - timedelta(days=90)


def test_campaigns_sent(made):
    _, page, truth = made
    sent = sorted(truth.sent(), key=lambda c: (c["at"], c["id"]))
    rows = page.rows("email_campaigns")
    assert [int(r["id"]) for r in rows] == [c["id"] for c in sent] and sent
    for row, c in zip(rows, sent, strict=True):
        assert row["sent"] == c["at"].astimezone(truth.zone).date().isoformat()
        assert row["type"] == c["type"]
        assert_rates(row, c, f"campaign {c['id']}")


def test_email_over_time_is_weighted_by_sends(made):
    _, page, truth = made
    sent = truth.sent()
    by: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for c in sent:
        by[truth.period(c["at"])].append(c)
    rows = page.rows("email_over_time")
    assert [r["period"] for r in rows] == [p.isoformat() for p in truth.periods(min(c["at"] for c in sent))]
    for row in rows:
        group = by.get(date.fromisoformat(row["period"]), [])
        assert num(row["campaigns"]) == len(group)
        if group:
            assert_rates(row, summed(group), row["period"])
        else:
            assert row["open_rate"] is None and num(row["sends"]) == 0


def test_email_by_type(made):
    _, page, truth = made
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in truth.sent():
        by[c["type"]].append(c)
    rows = page.rows("email_by_type")
    assert {r["type"] for r in rows} == set(by)
    for row in rows:
        assert num(row["campaigns"]) == len(by[row["type"]])
        assert_rates(row, summed(by[row["type"]]), row["type"])


def test_best_and_worst_campaigns(made):
    _, page, truth = made
    ranked = [c | rates(c) for c in truth.sent() if c["send_amt"] >= 100]
    n = len(ranked)
    best = sorted(ranked, key=lambda c: (-c["open_rate"], -c["click_rate"], c["id"]))[: min(5, (n + 1) // 2)]
    worst = sorted(ranked, key=lambda c: (c["open_rate"], c["click_rate"], -c["id"]))[: min(5, n // 2)]
    rows = page.rows("email_best_worst")
    assert [int(r["id"]) for r in rows if r["rank_group"] == "best"] == [c["id"] for c in best]
    assert [int(r["id"]) for r in rows if r["rank_group"] == "worst"] == [c["id"] for c in worst]
    for r in rows:
        assert close(num(r["open_rate"]), next(c for c in ranked if c["id"] == int(r["id"]))["open_rate"])


def test_what_non_unique_counts_would_have_shown(made):
    _, page, truth = made
    s = summed(truth.sent())
    rows = {r["metric"]: r for r in page.rows("email_inflation")}
    assert close(num(rows["open rate"]["unique_rate"]), s["uniqueopens"] / s["send_amt"])
    assert close(num(rows["open rate"]["total_rate"]), s["opens"] / s["send_amt"])
    assert close(num(rows["click rate"]["factor"]), s["linkclicks"] / s["uniquelinkclicks"])
    if s["opens"] / s["uniqueopens"] >= 1.05:  # the sandbox's opens are well above its unique opens
        assert f"{s['opens'] / s['send_amt']:.1%} instead of {s['uniqueopens'] / s['send_amt']:.1%}" in \
            page.notes["email_inflation"]


def test_contacts_per_list(made):
    _, page, truth = made
    counts: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for m in truth.rows("contactLists", "list, status"):
        counts[m["list"]][m["status"]] += 1
    rows = page.rows("lists")
    assert {int(r["id"]) for r in rows} == {r["id"] for r in truth.rows("lists", "id")}
    for r in rows:
        c = counts[int(r["id"])]
        assert [num(r[k]) for k in ("subscribed", "unconfirmed", "unsubscribed", "bounced")] == [c[1], c[0], c[2], c[3]]
    subscribed = [num(r["subscribed"]) for r in rows]
    assert subscribed == sorted(subscribed, reverse=True)


def test_list_growth_counts_members_from_the_first_membership(made):
    _, page, truth = made
    members = [m for m in truth.rows("contactLists", "list, status, sdate, udate")
               if m["status"] in (1, 2, 3) and m["sdate"] is not None]
    rows = page.rows("list_growth")
    assert rows
    for r in rows:
        p = date.fromisoformat(r["period"])
        mine = [m for m in members if m["list"] == int(r["list"])]
        joined = [m for m in mine if not (m["status"] in (2, 3) and m["udate"] is None)]
        left = [m for m in mine if m["status"] in (2, 3) and m["udate"] is not None]
        assert num(r["joined"]) == sum(1 for m in joined if truth.period(m["sdate"]) == p)
        assert num(r["left"]) == sum(1 for m in left if truth.period(m["udate"]) == p)
        assert num(r["members"]) == (sum(1 for m in joined if truth.period(m["sdate"]) <= p)
                                     - sum(1 for m in left if truth.period(m["udate"]) <= p)), r


def test_contacts_now_and_over_time(made):
    _, page, truth = made
    contacts = truth.rows("contacts", "cdate, deleted, bounced_hard, bounced_soft")
    active = [c for c in contacts if not c["deleted"]]
    [row] = page.rows("contacts")
    assert [num(row[k]) for k in ("contacts", "active", "deleted", "hard_bounced", "soft_bounced")] == [
        len(contacts), len(active), sum(1 for c in contacts if c["deleted"] == 1),
        sum(1 for c in active if c["bounced_hard"] == 1), sum(1 for c in active if c["bounced_soft"] == 1)]
    new = [c for c in contacts if truth.inside(c["cdate"])]
    rows = page.rows("contacts_over_time")
    assert [r["period"] for r in rows] == [p.isoformat() for p in truth.periods(min(c["cdate"] for c in new))]
    for r in rows:
        group = [c for c in new if truth.period(c["cdate"]).isoformat() == r["period"]]
        assert (num(r["new_contacts"]), num(r["deleted_since"])) == (len(group), sum(c["deleted"] == 1 for c in group))


def test_forms(made):
    _, page, truth = made
    forms = sorted(truth.rows("forms", "id, name, entries, contacts, deals"), key=lambda f: (-f["entries"], f["id"]))
    assert [(int(r["id"]), num(r["entries"]), num(r["contacts"]), num(r["deals"])) for r in page.rows("forms")] == [
        (f["id"], f["entries"], f["contacts"], f["deals"]) for f in forms]


def test_open_pipeline_by_stage_per_currency_with_forecast(made):
    _, page, truth = made
    pipelines, stages, _ = truth.names()
    groups: dict[tuple[int, int, str], list[dict[str, Any]]] = defaultdict(list)
    for d in truth.deals():
        if d["status"] == 0:
            groups[(d["group"], d["stage"], d["currency"])].append(d)
    rows = page.rows("pipeline_open")
    assert {(int(r["pipeline_id"]), int(r["stage_id"]), r["currency"]) for r in rows} == set(groups)
    for r in rows:
        items = groups[(int(r["pipeline_id"]), int(r["stage_id"]), r["currency"])]
        assert (r["pipeline"], r["stage"]) == (pipelines[int(r["pipeline_id"])], stages[int(r["stage_id"])])
        assert num(r["deals"]) == len(items)
        assert num(r["amount"]) == sum(d["amount"] for d in items)
        assert num(r["forecast"]) == sum(d["forecast"] for d in items if d["forecast"] is not None)
        assert num(r["with_win_probability"]) == sum(d["winProbability"] is not None for d in items)
        assert num(r["with_percent"]) == sum(d["winProbability"] is None and d["percent"] is not None for d in items)


def test_totals_per_currency_are_never_added_together(made):
    report, page, truth = made
    deals = truth.deals()
    rows = page.rows("pipeline_totals")
    assert sorted(r["currency"] for r in rows) == sorted({d["currency"] for d in deals}) == ["eur", "jpy", "kwd", "usd"]
    for r in rows:
        mine = [d for d in deals if d["currency"] == r["currency"]]
        opened = [d for d in mine if d["status"] == 0]
        closed = [d for d in mine if d["status"] in (1, 2) and truth.inside(d["mdate"])]
        assert num(r["open_deals"]) == len(opened)
        assert num(r["open_amount"]) == sum(d["amount"] for d in opened)
        assert num(r["forecast"]) == sum(d["forecast"] for d in opened if d["forecast"] is not None)
        assert num(r["won_amount"]) == sum(d["amount"] for d in closed if d["status"] == 1)
        assert num(r["lost"]) == sum(1 for d in closed if d["status"] == 2)
    # no cell anywhere holds a sum over currencies: every amount cell names its one currency
    html = report.path.read_text()
    assert 'data-currency=""' not in html
    money_cells = re.findall(r'<td class="n" data-col="(?:amount|open_amount|forecast|won_amount|lost_amount)" '
                             r'data-value="[^"]*" data-currency="([a-z]+)">([^<]*)</td>', html)
    assert money_cells and {c for c, _ in money_cells} == {"eur", "jpy", "kwd", "usd"}
    for cur, text in money_cells:  # shown with the currency's own decimals: jpy none, kwd three
        decimals = len(text.split(".")[1]) if "." in text else 0
        assert text == "—" or decimals == DIGITS[cur], (cur, text)


def test_won_and_lost_over_time_and_win_rates(made):
    _, page, truth = made
    pipelines, _, users = truth.names()
    deals = truth.deals()
    closed = [d for d in deals if d["status"] in (1, 2) and d["mdate"] is not None and truth.inside(d["mdate"])]
    rows = page.rows("deals_closed_over_time")
    assert [r["period"] for r in rows] == [p.isoformat() for p in truth.periods(min(d["mdate"] for d in closed))]
    for r in rows:
        won, lost, rate = won_lost([d for d in closed if truth.period(d["mdate"]).isoformat() == r["period"]])
        assert (num(r["won"]), num(r["lost"])) == (won, lost) and close(num(r["win_rate"]), rate)
    by_pipeline = {r["pipeline"]: r for r in page.rows("win_rate")}
    won, lost, rate = won_lost(closed)
    assert (num(by_pipeline["All pipelines"]["won"]), num(by_pipeline["All pipelines"]["lost"])) == (won, lost)
    for pid, title in pipelines.items():
        w, lo, rt = won_lost([d for d in closed if d["group"] == pid])
        if w + lo:
            assert (num(by_pipeline[title]["won"]), num(by_pipeline[title]["lost"])) == (w, lo)
            assert close(num(by_pipeline[title]["win_rate"]), rt)
    for r in page.rows("owners"):
        mine = [d for d in deals if d["owner"] == int(r["owner_id"])]
        assert r["owner"] == users[int(r["owner_id"])]
        w, lo, rt = won_lost([d for d in mine if d in closed])
        assert (num(r["open_deals"]), num(r["won"]), num(r["lost"])) == (sum(d["status"] == 0 for d in mine), w, lo)
        assert close(num(r["win_rate"]), rt)
    for r in page.rows("owner_amounts"):
        mine = [d for d in deals if d["owner"] == int(r["owner_id"]) and d["currency"] == r["currency"]]
        assert num(r["open_amount"]) == sum(d["amount"] for d in mine if d["status"] == 0)
        assert num(r["won_amount"]) == sum(d["amount"] for d in mine if d["status"] == 1 and d in closed)


def test_the_python_api_returns_the_figures_as_tables(made):
    report, page, _ = made
    tables = report.tables()
    assert isinstance(tables["pipeline_totals"], pa.Table)
    assert set(tables) == set(page.how)  # every figure is on the page, with how it was computed
    assert all(len(how) > 40 for how in page.how.values())
    plain = json.loads(json.dumps(report.to_dict(), default=str))
    assert plain["figures"]["pipeline_totals"]["rows"][0]["currency"] in DIGITS


# ---- what the page promises beyond the numbers ---------------------------------------------------------------


def test_no_web_address_no_script_no_key(synced, tmp_path):
    account, _ = synced
    report, page, _ = _made(synced, tmp_path, "all", NOW)
    html = report.path.read_text()
    assert not re.search(r"(?i)\b(https?|ftp|file):", html)
    assert not re.search(r"(?i)[\"'(=]\s*//[a-z0-9]", html)  # no protocol-relative address either
    assert not re.search(r"(?i)url\((?!#)|@import|<script|<link|<img|<iframe|<object|<embed", html)  # url(#clip) only
    for tag, attrs in page.attrs:
        for name in ("href", "src", "xlink:href", "action", "srcset", "poster"):
            value = attrs.get(name)
            assert value is None or value.startswith("#"), (tag, name, value)
    assert account.key not in html
    assert html.count("<svg") >= 8


def test_restricted_deals_are_counted_and_flagged(sandbox, tmp_path):
    restricted = Account(sandbox.url, sandbox.restricted_key, rate_limit=1000)
    path = tmp_path / "restricted.duckdb"
    summary = acflow.sync(["deals", "dealGroups", "dealStages", "users"], account=restricted, mirror=path)
    stubs = summary.result("deals").stubs
    assert stubs > 0
    made = acflow.report(restricted, to=tmp_path / "r.html", since="all", mirror=path, now=NOW)
    page = Page(made.path.read_text())
    with duckdb.connect(str(path), read_only=True) as con:
        table = con.execute("SELECT table_name FROM _acflow.state WHERE entity = 'deals'").fetchone()[0]
        held, total, seen = con.execute(f'SELECT count(*) FILTER (WHERE "isDisabled" = 1), count(*), '
                                        f'count(*) FILTER (WHERE coalesce("isDisabled", 0) = 0 AND status = 0) '
                                        f"FROM {table} WHERE _acflow_deleted_at IS NULL").fetchone()
    [row] = page.rows("restricted")
    assert (num(row["restricted_deals"]), num(row["deals"])) == (held, total) == (stubs, total)
    assert "admin" in page.notes["restricted"] and str(held) in page.notes["restricted"]
    assert "admin" in page.notes["pipeline_open"]
    assert sum(num(r["open_deals"]) for r in page.rows("pipeline_totals")) == seen  # stubs in no total


def test_empty_sections_say_why(sandbox, account, tmp_path):
    path = tmp_path / "deals-only.duckdb"
    acflow.sync(["deals"], account=account, mirror=path)
    made = acflow.report(account, to=tmp_path / "r.html", since="all", mirror=path, now=NOW)
    page = Page(made.path.read_text())
    for name in ("email_campaigns", "email_over_time", "lists", "list_growth", "contacts", "forms"):
        assert "The mirror holds no" in page.empty[name] and "--sync" in page.empty[name], name
        assert name not in page.tables
    assert page.rows("pipeline_totals")  # what was synced is shown
    assert page.rows("pipeline_open")[0]["pipeline"].startswith("pipeline ")  # names not synced: ids instead


def test_a_period_with_nothing_in_it_says_so(synced, tmp_path):
    _, page, _ = _made(synced, tmp_path, "30d", datetime(2026, 11, 1, tzinfo=UTC))
    assert "No campaign was sent from 2026-10-02" in page.empty["email_campaigns"]
    assert "--since all" in page.empty["email_campaigns"] and "the last on 2025-" in page.empty["email_campaigns"]
    assert "No deal was won or lost" in page.empty["deals_closed_over_time"]
    assert page.rows("pipeline_open")  # open deals are now, whatever the period


def test_stage_probabilities_fill_in_where_a_deal_has_none(synced, tmp_path):
    account, path = synced
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(path.read_bytes())
    with Mirror(copy) as db:
        table = db.table(account.url, "deals")
        db.query(f'UPDATE {table} SET "winProbability" = NULL, percent = NULL WHERE id % 3 = 0 RETURNING id')
        stage_ids = [r[0] for r in db.query(f"SELECT id FROM {db.current(account.url, 'dealStages')} "
                                            "WHERE title = 'Qualified'")]
        made = build(account.url, db, since="all", now=NOW, stage_probabilities={"Qualified": 40})
        with pytest.raises(acflow.ConfigError, match="no deal stage titled 'Won': give a stage id or one of: "):
            build(account.url, db, stage_probabilities={"Won": 50})
    truth = Truth(copy, account.url, None, made.window.end, "month")
    for r in made.figures["pipeline_open"].rows():
        items = [d for d in truth.deals() if d["status"] == 0 and d["stage"] == r["stage_id"]
                 and d["group"] == r["pipeline_id"] and d["currency"] == r["currency"]]
        given = 40 if r["stage_id"] in stage_ids else None
        expected = sum((d["amount"] * Decimal(d["p"] if d["p"] is not None else given) / 100)
                       for d in items if d["p"] is not None or given is not None)
        assert r["forecast"] == (expected if any(d["p"] is not None or given for d in items) else None)
        assert r["with_stage_probability"] == (sum(d["p"] is None for d in items) if given else 0)
        assert r["without_probability"] == (0 if given else sum(d["p"] is None for d in items))
    assert any(r["with_stage_probability"] for r in made.figures["pipeline_open"].rows())


def test_the_cli_makes_no_request_without_sync(synced, sandbox_server, tmp_path):
    _, path = synced
    before = sandbox_server.stats()["requests"]
    result = acflow_cmd("report", "--mirror", str(path), "--since", "all", "--to", str(tmp_path / "r.html"),
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sandbox_server.stats()["requests"] == before
    assert f"to {tmp_path / 'r.html'}: 17 of 17 figures with data" in result.stdout
    assert "<main class=\"acflow-report\"" in (tmp_path / "r.html").read_text()


def test_the_cli_with_sync_syncs_first(sandbox, tmp_path):
    mirror = tmp_path / "m.duckdb"
    result = acflow_cmd("report", "--sync", "--mirror", str(mirror), "--since", "all", "--json",
                        "--to", str(tmp_path / "out" / "r.html"),
                        env={"ACTIVECAMPAIGN_API_URL": sandbox.url, "ACTIVECAMPAIGN_API_KEY": sandbox.admin_key})
    assert result.returncode == 0, result.stderr
    assert sandbox.stats()["requests"] > 0
    data = json.loads(result.stdout)
    assert data["path"] == str(tmp_path / "out" / "r.html") and data["figures"]["forms"]["rows"]
    assert sandbox.admin_key not in result.stdout + (tmp_path / "out" / "r.html").read_text()


@pytest.mark.parametrize("args, message", [
    (["--since", "3x"], "Error: --since '3x' is not a period: write a number of days or weeks (90d, 12w), a date "
                        "(2025-01-01) or all\n"),
    (["--mirror", "missing.duckdb"], "Error: no mirror at missing.duckdb: run `acflow sync` first, or `acflow "
                                     "report --sync`\n"),
    (["--account", "nope"], "Error: no account named 'nope' (no acflow.yaml found); or give the account's API URL\n"),
])
def test_bad_input_is_one_line_and_exit_2(synced, tmp_path, args, message):
    _, path = synced
    result = acflow_cmd("report", "--mirror", str(path), *args, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (2, message)
    assert not (tmp_path / "report.html").exists()


def test_a_mirror_of_several_accounts_needs_one_chosen(synced, tmp_path, sandbox_server):
    _, path = synced
    copy = tmp_path / "two.duckdb"
    copy.write_bytes(path.read_bytes())
    with duckdb.connect(str(copy)) as con:
        con.execute("INSERT INTO _acflow.state SELECT 'https://other.api-us1.com', entity, table_name, synced_at, "
                    "full_synced_at, rows FROM _acflow.state")
    result = acflow_cmd("report", "--mirror", str(copy), cwd=tmp_path)
    assert result.returncode == 2 and "holds several accounts" in result.stderr and "--account" in result.stderr
    result = acflow_cmd("report", "--mirror", str(copy), "--account", "https://nobody.api-us1.com", cwd=tmp_path)
    assert result.returncode == 2 and "holds nothing of https://nobody.api-us1.com" in result.stderr


def test_summary_png_and_fragment_for_the_ui_and_mail(synced):
    account, path = synced
    with Mirror(path) as db:
        made = build(account.url, db, since="all", now=NOW)
    png = summary_png(made)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    assert image.size[0] >= 800 and sum(1 for n in image.histogram() if n) > 20  # drawn, not blank
    fragment = render_html(made, fragment=True)
    assert fragment.startswith("<style>") and "<html" not in fragment and 'data-figure="forms"' in fragment


def test_report_stays_a_function_and_loads_nothing_heavy_for_help():
    code = ("import acflow.report.page, acflow.report.command, acflow.report.charts, acflow; "
            "print(acflow.report.__name__, type(acflow.report).__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["report", "function"], result.stderr
    code = ("import acflow.cli, sys; "
            "print([m for m in ('matplotlib', 'duckdb', 'jinja2', 'pyarrow') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
    assert callable(acflow.report) and acflow.report.__module__ == "acflow.report"
