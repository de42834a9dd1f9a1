"""Exports read back with real readers: the values, the types, the atomicity."""

from __future__ import annotations

import json
import os
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import acflow
from acflow.errors import DestinationError


@pytest.fixture
def mirror_path(tmp_path):
    return tmp_path / "mirror.duckdb"


def expected_amount(value: int, currency: str) -> Decimal:
    digits = {"jpy": 0, "kwd": 3}.get(currency, 2)
    return Decimal(value) / (10 ** digits)


def test_csv_values_and_types(sandbox, account, mirror_path, tmp_path):
    out = tmp_path / "deals.csv"
    result = acflow.export("deals", to=str(out), account=account, mirror=mirror_path)
    table = pacsv.read_csv(out)
    assert result.rows == table.num_rows == len(sandbox.snapshot("deals"))
    assert table.schema.field("id").type == pa.int64()
    assert pa.types.is_timestamp(table.schema.field("cdate").type)
    # CSV timestamps are UTC as spreadsheets import date-times (2024-01-15 10:00:00); JSONL keeps ISO's T and Z
    acflow.export("deals", to=str(tmp_path / "deals.jsonl"), account=account, mirror=mirror_path)
    iso = [json.loads(line)["cdate"] for line in (tmp_path / "deals.jsonl").read_text().splitlines()]
    text = pacsv.read_csv(out, convert_options=pacsv.ConvertOptions(
        column_types={"cdate": pa.string()}, strings_can_be_null=True)).column("cdate").to_pylist()
    assert text == [t.replace("T", " ").removesuffix("Z") if t else None for t in iso] and "Z" in iso[0]
    rows = table.to_pylist()
    currencies = {r["currency"] for r in rows if r["value"] is not None}
    assert {"usd", "jpy", "kwd"} <= currencies
    for r in rows:
        if r["value"] is not None:
            assert Decimal(str(r["amount"])) == expected_amount(r["value"], r["currency"])
        assert r["status_label"] == {0: "open", 1: "won", 2: "lost"}.get(r["status"])


def test_parquet_is_typed(sandbox, account, mirror_path, tmp_path):
    out = tmp_path / "contacts.parquet"
    acflow.export("contacts", to=str(out), account=account, mirror=mirror_path)
    table = pq.read_table(out)
    assert table.schema.field("id").type == pa.int64()
    assert table.schema.field("deleted").type == pa.int8()
    assert table.schema.field("cdate").type == pa.timestamp("us", tz="UTC")
    assert sorted(table.column("id").to_pylist()) == sorted(int(r["id"]) for r in sandbox.snapshot("contacts"))


def test_jsonl_keeps_nested_objects(sandbox, account, mirror_path, tmp_path):
    out = tmp_path / "forms.jsonl"
    acflow.export("forms", to=str(out), account=account, mirror=mirror_path)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(sandbox.snapshot("forms"))
    assert all(isinstance(r["style"], dict) for r in rows)
    assert all(isinstance(r["cfields"], list | dict) for r in rows)
    assert all(r["cdate"].endswith("Z") for r in rows if r["cdate"])


def test_campaign_rates_and_labels(account, mirror_path, tmp_path):
    out = tmp_path / "campaigns.parquet"
    acflow.export("campaigns", to=str(out), account=account, mirror=mirror_path)
    rows = pq.read_table(out).to_pylist()
    sent = [r for r in rows if r["send_amt"]]
    assert sent and len(sent) < len(rows)  # drafts send nothing: their rates are null, not an error
    for r in rows:
        for rate, (num, den) in {"open_rate": ("uniqueopens", "send_amt"),
                                 "click_rate": ("uniquelinkclicks", "send_amt"),
                                 "click_to_open_rate": ("uniquelinkclicks", "uniqueopens"),
                                 "hard_bounce_rate": ("hardbounces", "send_amt"),
                                 "soft_bounce_rate": ("softbounces", "send_amt"),
                                 "unsubscribe_rate": ("unsubscribes", "send_amt")}.items():
            if r[den]:  # rounded to 4 places (DuckDB rounds halves away from zero, Python to even)
                assert r[rate] == pytest.approx(r[num] / r[den], abs=0.00005 + 1e-12), (rate, r["id"])
            else:
                assert r[rate] is None, (rate, r["id"])
        labels = ("draft", "scheduled", "sending", "paused", "stopped", "completed")
        automation = r["status"] == 1 and r["statusString"] == "Automation"  # reference 8.12
        assert r["status_label"] == ("automation" if automation else labels[r["status"]])


def test_raw_leaves_out_derived_columns(account, mirror_path, tmp_path):
    out = tmp_path / "deals.parquet"
    acflow.export("deals", to=str(out), account=account, mirror=mirror_path, raw=True)
    names = pq.read_table(out).schema.names
    assert "value" in names and "amount" not in names and "status_label" not in names


def test_duckdb_replace_append_merge(sandbox, account, mirror_path, tmp_path):
    db = tmp_path / "out.duckdb"
    n = len(sandbox.snapshot("lists"))
    acflow.export("lists", to=f"duckdb:///{db}?table=l", account=account, mirror=mirror_path)
    acflow.export("lists", to=f"duckdb:///{db}?table=l", account=account, mirror=mirror_path)
    first = acflow.export("lists", to=f"duckdb:///{db}?table=a", mode="append", account=account, mirror=mirror_path)
    done = sandbox.mutate("lists", create=2, update=1, delete=1)
    second = acflow.export("lists", to=f"duckdb:///{db}?table=a", mode="append", account=account,
                           mirror=mirror_path)
    merged = acflow.export("lists", to=f"duckdb:///{db}?table=l", mode="merge", account=account,
                           mirror=mirror_path)
    assert (first.rows, second.rows, merged.rows) == (n, 3, 3)  # append and merge take only what changed
    con = duckdb.connect(str(db), read_only=True)
    ids = {r[0] for r in con.execute("SELECT id FROM l").fetchall()}
    assert ids == {int(r["id"]) for r in sandbox.snapshot("lists")}  # upserts and the deletion applied
    assert int(done["deleted"][0]) not in ids
    assert con.execute("SELECT count(*), count(DISTINCT _extracted_at) FROM a").fetchone() == (n + 3, 2)


def test_sqlite_merge_applies_deletions(sandbox, account, mirror_path, tmp_path):
    import sqlite3

    uri = f"sqlite:///{tmp_path / 'out.db'}?table=deals"
    acflow.export("deals", to=uri, mode="merge", account=account, mirror=mirror_path)
    done = sandbox.mutate("deals", update=2, delete=3)
    acflow.export("deals", to=uri, mode="merge", account=account, mirror=mirror_path, full=True)
    con = sqlite3.connect(tmp_path / "out.db")
    ids = {r[0] for r in con.execute("SELECT id FROM deals")}
    assert ids == {int(r["id"]) for r in sandbox.snapshot("deals")}
    assert not ids & {int(i) for i in done["deleted"]}


def test_csv_append_adds_only_changes_with_their_time(sandbox, account, mirror_path, tmp_path):
    out = tmp_path / "lists.csv"
    acflow.export("lists", to=str(out), mode="append", account=account, mirror=mirror_path)
    assert acflow.export("lists", to=str(out), mode="append", account=account, mirror=mirror_path).rows == 0
    sandbox.mutate("lists", update=1)
    acflow.export("lists", to=str(out), mode="append", account=account, mirror=mirror_path)
    table = pacsv.read_csv(out)
    assert table.num_rows == len(sandbox.snapshot("lists")) + 1
    assert len(set(table.column("_extracted_at").to_pylist())) == 2


def test_failed_append_leaves_the_file_as_it_was(account, mirror_path, tmp_path):
    out = tmp_path / "lists.csv"
    acflow.export("lists", to=str(out), account=account, mirror=mirror_path)
    before = out.read_bytes()
    with pytest.raises(DestinationError) as info:
        acflow.export("lists", to=str(out), mode="append", account=account, mirror=mirror_path)
    assert "(new: _extracted_at)" in str(info.value) and "the file is unchanged" in str(info.value)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lists.csv.acflow-lock", "lists.csv", "mirror.duckdb"]


def test_a_write_that_fails_at_the_last_step_changes_nothing(account, mirror_path, tmp_path, monkeypatch):
    out = tmp_path / "deals.parquet"
    acflow.export("deals", to=str(out), account=account, mirror=mirror_path)
    before = out.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(DestinationError, match="no space left on device; it is unchanged"):
        acflow.export("deals", to=str(out), account=account, mirror=mirror_path, raw=True)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [".deals.parquet.acflow-lock"]


def test_unwritable_destination_is_a_clear_error(account, mirror_path, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DestinationError) as info:
        acflow.export("lists", to=str(blocker / "lists.csv"), account=account, mirror=mirror_path)
    assert str(info.value).startswith(f"cannot write {blocker / 'lists.csv'}: ")
    assert info.value.exit_code == 1


def test_paths_with_quotes_and_files_without_a_final_newline(sandbox, account, mirror_path, tmp_path):
    folder = tmp_path / "o'brien"
    out = folder / "lists.csv"
    acflow.export("lists", to=str(out), mode="append", account=account, mirror=mirror_path)
    out.write_bytes(out.read_bytes().rstrip(b"\n"))  # as a hand-edited file may end
    sandbox.mutate("lists", update=1)
    acflow.export("lists", to=str(out), mode="append", account=account, mirror=mirror_path)
    table = pacsv.read_csv(out)
    assert table.num_rows == len(sandbox.snapshot("lists")) + 1
    assert None not in table.column("id").to_pylist()  # no two rows glued into one
    acflow.export("lists", to=f"duckdb:///{folder / 'x.duckdb'}", account=account, mirror=mirror_path)
    assert duckdb.connect(str(folder / "x.duckdb")).execute("SELECT count(*) FROM lists").fetchone()[0] > 0


def test_csv_is_excel_safe_by_default(account, mirror_path, tmp_path):
    safe, plain = tmp_path / "safe.csv", tmp_path / "plain.csv"
    acflow.export("contacts", to=str(safe), account=account, mirror=mirror_path)
    acflow.export("contacts", to=str(plain), account=account, mirror=mirror_path, bom=False, neutralize=False)
    assert safe.read_bytes()[:3] == b"\xef\xbb\xbf" and plain.read_bytes()[:3] != b"\xef\xbb\xbf"
    con = duckdb.connect()
    risky = con.execute(f"SELECT count(*) FROM read_csv('{plain}', all_varchar=true) "
                        "WHERE regexp_matches(firstName, '^[=+@-]')").fetchone()[0]
    still = con.execute(f"SELECT count(*) FROM read_csv('{safe}', all_varchar=true) "
                        "WHERE regexp_matches(firstName, '^[=+@-]')").fetchone()[0]
    assert risky > 0 and still == 0
