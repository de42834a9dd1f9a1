"""The Google Sheets destination against the Sheets API stand-in (tests/sheets_api): every mode through
the CLI and flows, exact values, the never-blank guarantee, quotas, failures mid-way, limits,
credentials. Verified against the stand-in, not Google (see sheets_api/__init__.py for what it models)."""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import subprocess
import sys
import threading
from typing import Any

import httpx
import pytest
from sheets_api import Formula, SheetsStandIn
from typer.testing import CliRunner

from acflow import destinations
from acflow.account import Account
from acflow.cli import app
from acflow.destinations import gsheets, gsheets_api
from acflow.errors import ConfigError, DestinationError
from acflow.mirror import Mirror

runner = CliRunner()
_emails = itertools.count(1)


@pytest.fixture(scope="module")
def standin():
    with SheetsStandIn() as api:
        yield api


@pytest.fixture
def api(standin, monkeypatch, tmp_path):
    """The stand-in, emptied; acflow pointed at it; retries fast; no user token of the machine's."""
    standin.reset()
    monkeypatch.setenv("ACFLOW_SHEETS_ENDPOINT", standin.url)
    monkeypatch.setenv("ACFLOW_GOOGLE_TOKEN", str(tmp_path / "no-token.json"))
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setattr(gsheets_api, "BACKOFF_MULTIPLIER", 0.01)
    monkeypatch.setattr(gsheets_api, "BACKOFF_MAX", 0.05)
    return standin


@pytest.fixture
def key(api, monkeypatch, tmp_path):
    """A service account of its own (so its quota window is its own), in GOOGLE_APPLICATION_CREDENTIALS."""
    info = api.service_account(f"writer{next(_emails)}@standin-project.iam.gserviceaccount.com")
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps(info))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    return info


@pytest.fixture
def book(api, key):
    """A spreadsheet shared with the service account, with a sheet of someone's own work."""
    book = api.create(sheets=["Notes"], editors=[key["client_email"]])
    api.put(book, "Notes", [["my notes", 42], ["keep", Formula("=1+1")]])
    return book


def export(sandbox, tmp_path, to: str, *extra: str) -> Any:
    return runner.invoke(app, ["export", "deals", "--to", to, "--api-url", sandbox.url, "--api-key",
                               sandbox.admin_key, "--rate-limit", "1000", "--mirror", str(tmp_path / "m.duckdb"),
                               *extra])


def mirror_rows(sandbox, tmp_path, columns: str = "id, title") -> list[tuple[Any, ...]]:
    with Mirror(tmp_path / "m.duckdb") as db:
        return db.query(f"SELECT {columns} FROM {db.current(Account(sandbox.url, 'x').url, 'deals')} ORDER BY id")


def no_staging(api, book) -> bool:
    return not any(s.title.startswith(gsheets.STAGING) for s in api.sheets(book))


def notes_untouched(api, book) -> bool:
    return api.values(book, "Notes", "FORMULA") == [["my notes", 42], ["keep", "=1+1"]]


# ---- the three modes, through the CLI ------------------------------------------------------------------
def test_export_replace_writes_the_table_and_keeps_the_sheet(sandbox, api, book, tmp_path):
    api.put(book, "Notes", [["my notes", 42]])
    result = export(sandbox, tmp_path, f"gsheets://{book}?sheet=Deals")
    assert result.exit_code == 0, result.output
    deals = api.values(book, "Deals")
    expected = mirror_rows(sandbox, tmp_path)
    assert len(deals) == len(expected) + 1 == len(sandbox.snapshot("deals")) + 1
    assert deals[0][:2] == ["id", "title"]
    assert [tuple(r[:2]) for r in deals[1:]] == [(str(i), t or "") for i, t in expected]  # ids as text
    sheet = api.sheet(book, "Deals")
    assert (sheet.rows, sheet.cols, sheet.frozen_rows, sheet.hidden) == (len(deals), len(deals[0]), 1, False)
    assert api.values(book, "Notes", "FORMULA") == [["my notes", 42], ["keep", "=1+1"]]
    # again, after changes: same sheet (its id: formulas elsewhere still point at it), new content
    sandbox.mutate("deals", create=3, update=5)
    result = export(sandbox, tmp_path, f"gsheets://{book}?sheet=Deals")
    assert result.exit_code == 0, result.output
    assert api.sheet(book, "Deals").sheet_id == sheet.sheet_id
    assert len(api.values(book, "Deals")) == len(sandbox.snapshot("deals")) + 1
    assert [tuple(r[:2]) for r in api.values(book, "Deals")[1:]] == [
        (str(i), t or "") for i, t in mirror_rows(sandbox, tmp_path)]
    assert no_staging(api, book)
    assert f"to gsheets://{book}?sheet=Deals (replace)" in result.stdout.replace("\n", "")


def test_the_browser_address_writes_to_the_tab_it_shows(sandbox, api, book, tmp_path):
    notes = api.sheet(book, "Notes").sheet_id
    url = f"https://docs.google.com/spreadsheets/d/{book}/edit?usp=sharing#gid={notes}"
    result = export(sandbox, tmp_path, url)
    assert result.exit_code == 0, result.output
    assert api.values(book, "Notes")[0][:2] == ["id", "title"]
    assert [s.title for s in api.sheets(book)] == ["Notes"]


def test_append_adds_changed_rows_at_the_end_with_extracted_at(sandbox, api, book, tmp_path):
    assert export(sandbox, tmp_path, f"gsheets://{book}?sheet=Deals").exit_code == 0
    before = api.values(book, "Deals")
    sandbox.mutate("deals", create=2, update=3)
    result = export(sandbox, tmp_path, f"gsheets://{book}?sheet=Deals", "--mode", "append")
    assert result.exit_code == 0, result.output
    after = api.values(book, "Deals")
    header = after[0]
    assert header[:len(before[0])] == before[0] and header[-1] == "_extracted_at"
    assert after[1:len(before)] == before[1:]  # the rows there stay as they were (their _extracted_at empty)
    added = after[len(before):]
    assert len(added) == 5
    assert all(isinstance(r[-1], float) for r in added)  # a date-time serial
    assert api.number_format(book, f"Deals!{gsheets_api.column(len(header) - 1)}{len(before) + 1}")["type"] \
        == "DATE_TIME"
    # nothing changed since: nothing written
    writes = api.stats()["by_method"].get("values.update", 0)
    assert export(sandbox, tmp_path, f"gsheets://{book}?sheet=Deals", "--mode", "append").exit_code == 0
    assert api.values(book, "Deals") == after
    assert api.stats()["by_method"].get("values.update", 0) == writes
    assert no_staging(api, book) and notes_untouched(api, book)


def test_merge_updates_in_place_adds_and_deletes(sandbox, api, book, tmp_path):
    to = f"gsheets://{book}?sheet=Deals"
    assert export(sandbox, tmp_path, to, "--mode", "merge").exit_code == 0  # creates the sheet
    first = api.values(book, "Deals")
    width = len(first[0])
    # someone adds a column of their own at the right, on every row
    api.put(book, "Deals", [["My note"]] + [[f"note {r[0]}"] for r in first[1:]], at=f"{gsheets_api.column(width)}1")
    snapshot = {r["id"] for r in sandbox.snapshot("deals")}
    changes = sandbox.mutate("deals", create=2, update=4, delete=3)
    result = export(sandbox, tmp_path, to, "--mode", "merge", "--full")
    assert result.exit_code == 0, result.output
    after = api.values(book, "Deals")
    ids_after = [r[0] for r in after[1:]]
    now = {str(r["id"]) for r in sandbox.snapshot("deals")}
    assert set(ids_after) == now and len(ids_after) == len(now)  # each id once, the deleted gone
    assert len(now) == len(snapshot) + 2 - 3, changes
    # rows kept their place (in id order, as first written), the new ones at the end
    old_order = [r[0] for r in first[1:] if r[0] in now]
    assert ids_after[:len(old_order)] == old_order
    assert set(ids_after[len(old_order):]) == now - {r[0] for r in first[1:]}
    # the user's column: untouched on the rows that stayed, empty on the new ones
    notes = {r[0]: r[width] if len(r) > width else "" for r in after[1:]}
    assert all(notes[i] == f"note {i}" for i in old_order)
    assert all(notes[i] == "" for i in ids_after[len(old_order):])
    assert after[0][width] == "My note"
    # the values are the mirror's
    assert [tuple(r[:2]) for r in sorted(after[1:], key=lambda r: int(r[0]))] == [
        (str(i), t or "") for i, t in mirror_rows(sandbox, tmp_path)]
    assert no_staging(api, book) and notes_untouched(api, book)


def test_a_large_merge_is_committed_in_parts_and_still_exact(sandbox, api, book, tmp_path, monkeypatch):
    to = f"gsheets://{book}?sheet=Deals"
    assert export(sandbox, tmp_path, to).exit_code == 0
    # the sheet's rows in another order than the mirror's: every update is a run of its own
    rows = api.values(book, "Deals")
    api.put(book, "Deals", rows[1:][::-1], at="A2")
    monkeypatch.setattr(gsheets, "CHUNK_BYTES", 20_000)
    sandbox.mutate("deals", update=60)
    result = export(sandbox, tmp_path, to, "--mode", "merge")
    assert result.exit_code == 0, result.output
    assert api.stats()["by_method"]["spreadsheets.batchUpdate"] >= 4  # check, staging, and a split commit
    after = api.values(book, "Deals")
    assert [r[0] for r in after[1:]] == [r[0] for r in rows[1:][::-1]]
    assert sorted((int(r[0]), r[1]) for r in after[1:]) == [(i, t or "") for i, t in mirror_rows(sandbox, tmp_path)]
    assert no_staging(api, book)


def test_flows_write_to_sheets_in_all_three_modes(sandbox, api, key, tmp_path, monkeypatch):
    book = api.create(sheets=["Sheet1"], editors=[key["client_email"]])
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "sa.json").write_text(json.dumps(key))
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")  # the key comes from acflow.yaml, relative to it
    monkeypatch.setenv("AC_URL", sandbox.url)
    monkeypatch.setenv("AC_KEY", sandbox.admin_key)
    (tmp_path / "acflow.yaml").write_text(f"""
credentials: keys/sa.json
accounts:
  main: {{url_env: AC_URL, key_env: AC_KEY, rate_limit: 1000}}
flows:
  deals_replace: {{source: deals, select: [id, title, cdate], to: "gsheets://{book}?sheet=Replaced"}}
  deals_append: {{source: deals, select: [id, title], to: "gsheets://{book}?sheet=Appended", mode: append}}
  deals_merge:
    source: deals
    select: [id, title, cdate]
    timezone: Europe/Paris
    to: "https://docs.google.com/spreadsheets/d/{book}/edit?sheet=Merged#gid=0"
    mode: merge
""")
    result = runner.invoke(app, ["run", "--config", str(tmp_path / "acflow.yaml")])
    assert result.exit_code == 0, result.output
    count = len(sandbox.snapshot("deals"))
    assert [len(api.values(book, s)) for s in ("Replaced", "Appended", "Merged")] == [count + 1] * 3
    assert api.values(book, "Appended")[0] == ["id", "title", "_extracted_at"]
    # the merged flow's dates are Paris time, as flows.py made them, and their format says so
    merged, replaced = api.values(book, "Merged"), api.values(book, "Replaced")
    shift = [round((m[2] - r[2]) * 24, 3) for m, r in zip(merged[1:], replaced[1:], strict=True) if r[2] != ""]
    assert set(shift) <= {1.0, 2.0} and shift  # CET or CEST ahead of UTC
    assert api.number_format(book, "Replaced!C2")["pattern"] == 'yyyy-mm-dd hh:mm:ss "UTC"'
    assert api.number_format(book, "Merged!C2")["pattern"] == 'yyyy-mm-dd hh:mm:ss "Europe/Paris"'
    sandbox.mutate("deals", update=2)
    result = runner.invoke(app, ["run", "--config", str(tmp_path / "acflow.yaml")])
    assert result.exit_code == 0, result.output
    assert len(api.values(book, "Appended")) == 2 * count + 1  # a flow appends its whole output each run
    assert len(api.values(book, "Merged")) == count + 1
    assert api.values(book, "Sheet1") == []


def test_credentials_in_the_flow_must_be_for_sheets(tmp_path):
    from acflow.config import load

    (tmp_path / "acflow.yaml").write_text("""
accounts: {main: {url: https://acme.api-us1.com, key_env: AC_KEY}}
flows:
  deals: {source: deals, to: deals.csv, credentials: sa.json}
""")
    with pytest.raises(ConfigError, match=r"acflow.yaml:4: flows.deals.credentials: credentials: is for gsheets://"):
        load(tmp_path / "acflow.yaml")


# ---- values ------------------------------------------------------------------------------------------
VALUES = """
SELECT 7::BIGINT AS id, 12::BIGINT AS contact, '02134' AS zip, '+17445898618' AS phone, '=1+1' AS formula,
       '@SUM(A1:A9)' AS at_sign, '2024-01-15' AS looks_like_a_date, 12.5::DECIMAL(10,2) AS amount,
       3::TINYINT AS deleted, (2::BIGINT ** 60)::BIGINT AS big, 'nan'::DOUBLE AS ratio, 0.25::DOUBLE AS open_rate,
       TIMESTAMPTZ '2024-01-15 10:00:00+00' AS cdate, DATE '2025-08-02' AS bounced_date, true AS flag,
       repeat('x', 60000) AS long_text, repeat('😀', 30000) AS emoji_text, [1, 2]::INTEGER[] AS list,
       NULL::VARCHAR AS empty
"""


def test_values_are_written_exactly(api, book, tmp_path, caplog):
    with Mirror(tmp_path / "m.duckdb") as db:
        dest = destinations.parse(f"gsheets://{book}?sheet=Values", "x")
        destinations.write(db, VALUES, dest, "replace")
    cell = {h: api.cell(book, f"Values!{gsheets_api.column(i)}2") for i, h in enumerate(api.values(book, "Values")[0])}
    assert cell["id"] == "7" and cell["contact"] == "12"  # ids: text
    assert cell["zip"] == "02134" and cell["phone"] == "+17445898618"  # RAW: never numbers
    assert cell["formula"] == "=1+1" and not isinstance(cell["formula"], Formula)  # text, never run
    assert cell["at_sign"] == "@SUM(A1:A9)" and cell["looks_like_a_date"] == "2024-01-15"  # no date guessing
    assert cell["amount"] == 12.5 and cell["deleted"] == 3 and cell["open_rate"] == 0.25  # numbers
    assert cell["big"] == str(2**60)  # past 2^53 a sheet's double would change it
    assert cell["ratio"] == "NaN" and cell["flag"] is True and cell["list"] == "[1, 2]" and cell["empty"] is None
    shown = dict(zip(api.values(book, "Values")[0], api.values(book, "Values", "FORMATTED_VALUE")[1], strict=False))
    assert shown["cdate"] == "2024-01-15 10:00:00 UTC" and shown["bounced_date"] == "2025-08-02"
    assert shown["open_rate"] == "25.00%" and shown["formula"] == "=1+1"
    assert api.number_format(book, "Values!M2") == {"type": "DATE_TIME", "pattern": 'yyyy-mm-dd hh:mm:ss "UTC"'}
    long, emoji = cell["long_text"], cell["emoji_text"]
    assert long.startswith("x" * 49_000) and long.endswith("[cut by acflow: 60,000 characters]")
    assert len(long) == 50_000 and len(emoji.encode("utf-16-le")) // 2 <= 50_000
    assert "'long_text'" in caplog.text and "'emoji_text'" in caplog.text and "50,000" in caplog.text
    assert api.values(book, "Values")[0][-1] == "empty"


def test_progress_is_reported_as_rows_are_sent(api, book, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(gsheets, "CHUNK_BYTES", 2_000)
    caplog.set_level(logging.INFO, logger="acflow")
    with Mirror(tmp_path / "m.duckdb") as db:
        destinations.write(db, "SELECT range::BIGINT AS id, 'row ' || range AS title FROM range(500)",
                           destinations.parse(f"gsheets://{book}?sheet=P", "x"), "replace")
    seen = [int(m[1].replace(",", "")) for r in caplog.records
            if (m := re.search(r": ([\d,]+) of 500 rows written$", r.getMessage()))]
    assert len(seen) == api.stats()["by_method"]["values.update"] >= 5  # a line a request (not a terminal)
    assert seen == sorted(seen) and seen[-1] == 500


def test_a_flow_zone_given_by_the_caller_is_in_the_format(api, book, tmp_path):
    with Mirror(tmp_path / "m.duckdb") as db:
        dest = destinations.parse(f"gsheets://{book}?sheet=Zoned", "x")
        destinations.write(db, "SELECT 1::BIGINT AS id, TIMESTAMPTZ '2024-01-15 10:00:00+00' AS cdate", dest,
                           "replace", options=destinations.WriteOptions(zone="America/Chicago"))
    shown = api.values(book, "Zoned", "FORMATTED_VALUE")[1]
    assert shown[1] == "2024-01-15 04:00:00 America/Chicago"


# ---- the never-blank guarantee and failures mid-way ------------------------------------------------------
def test_a_reader_never_sees_a_blank_or_partial_sheet_during_a_replace(sandbox, api, book, key, tmp_path,
                                                                      monkeypatch):
    to = f"gsheets://{book}?sheet=Deals"
    assert export(sandbox, tmp_path, to).exit_code == 0
    old = api.values(book, "Deals")
    sandbox.mutate("deals", create=40, update=20)
    monkeypatch.setattr(gsheets, "CHUNK_BYTES", 15_000)  # many requests: a long window to look in
    api.share(book, "reader@example.com", role="reader")
    api.set_quota(reads=None)
    api.set_latency(0.02)
    token = api.token("reader@example.com")
    seen: list[list[list[Any]]] = []
    done = threading.Event()

    def read() -> None:
        with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {token}"}) as http:
            while not done.is_set():
                answer = http.get(f"/v4/spreadsheets/{book}/values/Deals",
                                  params={"valueRenderOption": "UNFORMATTED_VALUE"})
                seen.append(answer.json().get("values", []))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        result = export(sandbox, tmp_path, to)
    finally:
        done.set()
        reader.join()
    assert result.exit_code == 0, result.output
    new = api.values(book, "Deals")
    assert new != old and len(seen) > 10
    assert all(view in (old, new) for view in seen)  # the old table or the new one, nothing between
    assert seen[0] == old and seen[-1] == new
    assert api.stats()["by_method"]["values.update"] > 5


def test_a_failure_mid_way_leaves_the_previous_data(sandbox, api, book, tmp_path, monkeypatch):
    to = f"gsheets://{book}?sheet=Deals"
    assert export(sandbox, tmp_path, to).exit_code == 0
    old = api.values(book, "Deals")
    monkeypatch.setattr(gsheets, "CHUNK_BYTES", 15_000)
    sandbox.mutate("deals", update=30)
    api.fail(500, nth=3, times=1000, method="values.update")  # the third request and every retry of it
    result = export(sandbox, tmp_path, to)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: cannot write {to}: Google Sheets did not answer as it should (gave "
                                    "up after 8 attempts (last: 500 INTERNAL: Internal error encountered.))")
    assert result.stderr.rstrip().endswith("the sheet is unchanged")
    assert api.values(book, "Deals") == old
    assert no_staging(api, book) and notes_untouched(api, book)


def test_a_refused_commit_leaves_the_previous_data(sandbox, api, book, tmp_path):
    to = f"gsheets://{book}?sheet=Deals"
    assert export(sandbox, tmp_path, to).exit_code == 0
    old = api.values(book, "Deals")
    sandbox.mutate("deals", update=3)
    api.fail(503, nth=3, times=1000, method="spreadsheets.batchUpdate")  # check, staging, then the commit
    result = export(sandbox, tmp_path, to)
    assert result.exit_code == 1 and "the sheet is unchanged" in result.stderr
    assert api.values(book, "Deals") == old
    assert not no_staging(api, book)  # Google failing on, the clean-up failed too: a hidden sheet is left...
    api.clear_faults()
    assert export(sandbox, tmp_path, to).exit_code == 0
    assert no_staging(api, book)  # ...which the next write of the sheet removes
    assert [r[0] for r in api.values(book, "Deals")[1:]] == [str(i) for i, _ in mirror_rows(sandbox, tmp_path)]


def test_a_commit_whose_answer_is_lost_is_not_sent_twice(sandbox, api, book, tmp_path):
    to = f"gsheets://{book}?sheet=Deals"
    assert export(sandbox, tmp_path, to).exit_code == 0
    sandbox.mutate("deals", create=1, update=3)
    api.fail("drop", nth=3, method="spreadsheets.batchUpdate")  # applied, then the connection dies
    result = export(sandbox, tmp_path, to)
    assert result.exit_code == 0, result.output
    assert [r[0] for r in api.values(book, "Deals")[1:]] == [str(i) for i, _ in mirror_rows(sandbox, tmp_path)]
    assert api.stats()["by_status"].get(400, 0) == 0  # no "No sheet with id" from a second commit
    assert no_staging(api, book)


@pytest.mark.parametrize("fault", ["503", "reset", "401"])
def test_passing_faults_are_retried(sandbox, api, book, tmp_path, fault):
    api.fail(fault, nth=1, times=2, method="values.update")
    result = export(sandbox, tmp_path, f"gsheets://{book}?sheet=Deals")
    assert result.exit_code == 0, result.output
    assert len(api.values(book, "Deals")) == len(sandbox.snapshot("deals")) + 1


# ---- quotas ------------------------------------------------------------------------------------------
def test_quota_refusals_are_waited_out(sandbox, api, book, tmp_path, monkeypatch):
    monkeypatch.setattr(gsheets, "CHUNK_BYTES", 15_000)
    monkeypatch.setattr(gsheets_api, "BACKOFF_MULTIPLIER", 0.05)  # 8 attempts span > 1 s, as > 3 min for Google
    monkeypatch.setattr(gsheets_api, "BACKOFF_MAX", 0.2)
    api.set_quota(writes=3, window=0.5)  # far below what acflow paces itself to: Google's 429s come
    result = export(sandbox, tmp_path, f"gsheets://{book}?sheet=Deals")
    assert result.exit_code == 0, result.output
    stats = api.stats()
    assert stats["rate_limited"] > 0 and stats["by_status"][429] == stats["rate_limited"]
    assert [r[0] for r in api.values(book, "Deals")[1:]] == [str(i) for i, _ in mirror_rows(sandbox, tmp_path)]


def test_acflow_paces_itself_within_the_quota(sandbox, api, book, tmp_path, monkeypatch):
    monkeypatch.setattr(gsheets, "CHUNK_BYTES", 15_000)
    monkeypatch.setattr(gsheets_api, "WRITES_PER_MINUTE", 4)
    monkeypatch.setattr(gsheets_api, "READS_PER_MINUTE", 4)
    monkeypatch.setattr(gsheets_api, "QUOTA_WINDOW", 0.5)
    api.set_quota(writes=4, reads=4, window=0.5)  # the same quota, per half second instead of a minute
    result = export(sandbox, tmp_path, f"gsheets://{book}?sheet=Deals")
    assert result.exit_code == 0, result.output
    assert api.stats()["writes"] > 8 and api.stats()["rate_limited"] == 0


def test_a_quota_that_stays_exhausted_gives_up_with_advice(sandbox, api, book, tmp_path):
    api.set_quota(writes=0)
    result = export(sandbox, tmp_path, f"gsheets://{book}?sheet=Deals")
    assert result.exit_code == 1
    assert "Google's quota of 60 write requests a minute per user stayed exhausted" in result.stderr
    assert "the sheet is unchanged" in result.stderr


def test_a_retry_after_header_is_honoured(api, key):
    api.set_quota(writes=1, window=30.0, retry_after=0.2)
    book = api.create(editors=[key["client_email"]])
    creds = gsheets._credentials(destinations.parse(f"gsheets://{book}", "x"))
    with gsheets_api.SheetsClient(creds.credentials, creds.identity) as client:
        client.update(book, "Sheet1!A1", b'{"values":[["a"]]}')
        api.set_quota(writes=None)  # the next try is let through
        client.update(book, "Sheet1!A1", b'{"values":[["b"]]}')
        assert client.stats.rate_limited == 0  # a fresh window: no refusal
        api.set_quota(writes=0, retry_after=0.01)
        with pytest.raises(gsheets_api.SheetsFailure, match="gave up after 8 attempts"):
            client.update(book, "Sheet1!A1", b'{"values":[["c"]]}')
        assert client.stats.rate_limited == 8
    assert api.values(book, "Sheet1") == [["b"]]


# ---- limits ------------------------------------------------------------------------------------------
def test_the_cell_limit_is_checked_before_writing(sandbox, api, key, tmp_path):
    book = api.create(sheets=[("Big", 384_500, 26)], editors=[key["client_email"]])  # 9,997,000 cells
    result = export(sandbox, tmp_path, f"gsheets://{book}?sheet=Deals")
    assert result.exit_code == 1
    rows = len(sandbox.snapshot("deals")) + 1
    assert (f"the sheet would be {rows:,} rows x " in result.stderr
            and "the spreadsheet's other sheets hold 9,997,000; a spreadsheet holds at most 10,000,000 cells; "
                "filter the flow (filter:), select fewer columns (select:), or write to a database" in result.stderr)
    assert "values.update" not in api.stats()["by_method"]
    assert [s.title for s in api.sheets(book)] == ["Big"]


def test_the_column_limit_is_checked_before_writing(api, book, tmp_path, monkeypatch):
    monkeypatch.setattr(gsheets, "MAX_COLUMNS", 40)  # Google's 18,278 columns take DuckDB 10 s to bind
    query = "SELECT " + ", ".join(f"1 AS c{i}" for i in range(41))
    with Mirror(tmp_path / "m.duckdb") as db, pytest.raises(DestinationError) as caught:
        destinations.write(db, query, destinations.parse(f"gsheets://{book}?sheet=Wide", "x"), "replace")
    assert str(caught.value) == (f"cannot write gsheets://{book}?sheet=Wide: 41 columns; a Google sheet holds "
                                 "at most 40; select fewer columns (select:) or write to a database; "
                                 "the sheet is unchanged")
    assert "values.update" not in api.stats()["by_method"]


def test_no_room_for_a_staging_copy_replaces_in_place(sandbox, api, key, tmp_path, caplog):
    book = api.create(sheets=[("Filler", 383_800, 26)], editors=[key["client_email"]])  # 9,978,800 cells
    to = f"gsheets://{book}?sheet=Deals"
    assert export(sandbox, tmp_path, to).exit_code == 0  # fits beside the filler, as a new sheet
    sandbox.mutate("deals", update=5, delete=4)
    result = export(sandbox, tmp_path, to, "--full")
    assert result.exit_code == 0, result.output
    assert "writing over the old rows in place" in result.stderr
    assert [tuple(r[:2]) for r in api.values(book, "Deals")[1:]] == [
        (str(i), t or "") for i, t in mirror_rows(sandbox, tmp_path)]
    assert api.sheet(book, "Deals").rows == len(mirror_rows(sandbox, tmp_path)) + 1
    assert no_staging(api, book)


def test_requests_stay_near_two_megabytes(sandbox, api, book, tmp_path):
    result = runner.invoke(app, ["export", "contacts", "--to", f"gsheets://{book}?sheet=Contacts", "--api-url",
                                 sandbox.url, "--api-key", sandbox.admin_key, "--rate-limit", "1000", "--mirror",
                                 str(tmp_path / "m.duckdb")])
    assert result.exit_code == 0, result.output
    assert api.stats()["max_body"] <= gsheets_api.CHUNK_BYTES


# ---- credentials -----------------------------------------------------------------------------------------
def test_no_credentials_says_how_to_get_some(sandbox, api, tmp_path):
    result = export(sandbox, tmp_path, "gsheets://1abcdefghijklmnopqrstu?sheet=Deals")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: no Google credentials found: give acflow Google credentials: a "
                                    "service-account key file in GOOGLE_APPLICATION_CREDENTIALS")


def test_a_sheet_not_shared_names_the_account_to_share_it_with(sandbox, api, key, tmp_path):
    book = api.create()
    result = export(sandbox, tmp_path, f"gsheets://{book}?sheet=Deals")
    assert result.exit_code == 1
    assert (f"{key['client_email']} may not edit this spreadsheet: share it with {key['client_email']} as Editor"
            in result.stderr)
    api.share(book, key["client_email"], role="reader")
    assert "as Editor" in export(sandbox, tmp_path, f"gsheets://{book}?sheet=Deals").stderr


def test_an_unknown_spreadsheet_and_a_disabled_api_are_said(sandbox, api, key, tmp_path):
    result = export(sandbox, tmp_path, "gsheets://1nosuchspreadsheetxxxxxxxxxx?sheet=Deals")
    assert result.exit_code == 1 and "no spreadsheet with id 1nosuchspreadsheetxxxxxxxxxx" in result.stderr
    api.set_api_enabled(False)
    book = api.create(editors=[key["client_email"]])
    result = export(sandbox, tmp_path, f"gsheets://{book}?sheet=Deals")
    assert "the Google Sheets API is off in the credentials' Google Cloud project: enable it at" in result.stderr


def test_a_broken_key_file_is_a_configuration_error(sandbox, api, tmp_path, monkeypatch):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(bad))
    result = export(sandbox, tmp_path, "gsheets://1abcdefghijklmnopqrstu?sheet=Deals")
    assert result.exit_code == 2 and f"GOOGLE_APPLICATION_CREDENTIALS ({bad}): not a JSON file" in result.stderr


def test_secrets_never_show(sandbox, api, book, key, tmp_path, caplog):
    caplog.set_level("DEBUG", logger="acflow")
    ok = export(sandbox, tmp_path, f"gsheets://{book}?sheet=Deals", "--verbose")
    api.fail(403, nth=1, times=100)
    failed = export(sandbox, tmp_path, f"gsheets://{book}?sheet=Deals", "--verbose")
    assert ok.exit_code == 0 and failed.exit_code == 1
    tokens = list(api._runner.server.tokens)
    assert tokens
    secrets = [key["private_key"].splitlines()[1], key["private_key_id"], *tokens]
    mirror = (tmp_path / "m.duckdb").read_bytes()
    for secret in secrets:
        for text in (ok.output, failed.output, caplog.text):
            assert secret not in text
        assert secret.encode() not in mirror


def test_validate_connect_checks_the_sheet(api, key, tmp_path):
    book = api.create(editors=[key["client_email"]])
    gsheets.check(destinations.parse(f"gsheets://{book}?sheet=Deals", "x"))
    assert api.stats()["writes"] == 1 and api.values(book, "Sheet1") == []  # a no-op edit
    other = api.create()
    with pytest.raises(DestinationError, match="may not edit this spreadsheet"):
        gsheets.check(destinations.parse(f"gsheets://{other}", "x"))


def test_acflow_auth_google_signs_in_and_flows_then_write_as_the_user(sandbox, api, tmp_path, monkeypatch):
    client = tmp_path / "client_secret.json"
    client.write_text(json.dumps(api.oauth_client()))
    token = tmp_path / "config" / "google-token.json"
    env = {**os.environ, "ACFLOW_GOOGLE_TOKEN": str(token), "PYTHONUNBUFFERED": "1"}
    env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    proc = subprocess.Popen([sys.executable, "-m", "acflow.cli", "auth", "google", "--client-secrets", str(client),
                             "--no-browser"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = ""
        while not line.startswith("http"):
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
        consent = httpx.get(line.strip(), follow_redirects=False)  # the user approves in the browser...
        assert consent.status_code == 302
        back = httpx.get(consent.headers["location"])  # ...which goes back to acflow's loopback address
        assert back.status_code == 200
        out, errors = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, errors
    assert f"Signed in. The token is in {token}" in out
    assert oct(token.stat().st_mode & 0o777) == "0o600"
    saved = json.loads(token.read_text())
    assert saved["type"] == "authorized_user" and saved["refresh_token"].startswith("1//standin-")
    assert "token" not in saved  # no access token kept, only what renews it
    # no service account anywhere: the export writes as the signed-in user
    monkeypatch.setenv("ACFLOW_GOOGLE_TOKEN", str(token))
    book = api.create(editors=[api.user_email])
    result = export(sandbox, tmp_path, f"gsheets://{book}?sheet=Deals")
    assert result.exit_code == 0, result.output
    assert {p for p, _, _ in api.stats()["log"]} == {api.user_email}


# ---- the URI -----------------------------------------------------------------------------------------
BOOK = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"


@pytest.mark.parametrize(("uri", "table", "gid", "described"), [
    (f"gsheets://{BOOK}?sheet=Deals", "Deals", None, f"gsheets://{BOOK}?sheet=Deals"),
    (f"gsheets://{BOOK}", "deals", None, f"gsheets://{BOOK}?sheet=deals"),
    (f"gsheets://{BOOK}?sheet=My%20deals", "My deals", None, f"gsheets://{BOOK}?sheet=My%20deals"),
    (f"https://docs.google.com/spreadsheets/d/{BOOK}/edit#gid=1386834576", None, "1386834576",
     f"gsheets://{BOOK}?gid=1386834576"),
    (f"https://docs.google.com/spreadsheets/u/1/d/{BOOK}/edit?usp=sharing", "deals", None,
     f"gsheets://{BOOK}?sheet=deals"),
    (f"https://docs.google.com/spreadsheets/d/{BOOK}/edit?sheet=Pipeline#gid=0", "Pipeline", None,
     f"gsheets://{BOOK}?sheet=Pipeline"),
])
def test_uris(uri, table, gid, described):
    dest = destinations.parse(uri, "deals")
    assert (dest.kind, dest.table, dest.server.param("gid"), dest.describe()) == ("gsheets", table, gid, described)
    assert dest.server.database == BOOK and dest.modes() == ("replace", "append", "merge")


@pytest.mark.parametrize(("uri", "message"), [
    ("gsheets://?sheet=Deals", "names no spreadsheet: write gsheets://SPREADSHEET_ID?sheet=NAME"),
    (f"gsheets://{BOOK}?table=Deals", "unknown parameter 'table'"),
    ("https://docs.google.com/spreadsheets/u/0/", "is not a spreadsheet's address"),
    (f"gsheets://{BOOK}?gid=abc", "is not a sheet id"),
])
def test_bad_uris(uri, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        destinations.parse(uri, "deals")


def test_a_relative_key_file_is_under_the_config_folder(tmp_path):
    dest = destinations.parse(f"gsheets://{BOOK}?credentials=keys/sa.json", "deals", base=tmp_path)
    assert dest.server.param("credentials") == str(tmp_path / "keys" / "sa.json")
    assert "credentials" not in dest.describe() and "sa.json" not in dest.key()


def test_the_stand_in_runs_user_entered_text_and_keeps_raw_text(api):
    """What RAW saves us from, on the stand-in itself: typed text is parsed, RAW text is kept."""
    api.share(book := api.create(), "me", "writer")
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api.token('me')}"}) as http:
        for option, row in (("USER_ENTERED", 1), ("RAW", 2)):
            answer = http.put(f"/v4/spreadsheets/{book}/values/Sheet1!A{row}:C{row}",
                              params={"valueInputOption": option}, json={"values": [["=1+1", "02134", "2024-01-15"]]})
            assert answer.status_code == 200
    assert api.values(book, "Sheet1") == [[2, 2134, 45306], ["=1+1", "02134", "2024-01-15"]]
