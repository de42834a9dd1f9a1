"""Odd but valid records keep every value and fail nothing: thousands of unknown fields, JSON
nested hundreds of levels deep. Served by a real local HTTP server."""

from __future__ import annotations

import json

import orjson
from aiohttp import web
from test_client import sync_against

from acflow.catalog import CATALOG
from acflow.columns import EXTRA_BYTES, EXTRA_FIELDS, MAX_NEW_COLUMNS, BatchBuilder

LISTS, WIDE = 250, 300  # records, and unknown fields on each


def wide_list(i: int, wide: int = WIDE) -> dict:
    record = {"id": str(i), "name": f"List {i}", "cdate": "2024-01-05T10:00:00-06:00"}
    record.update({f"custom_{k}": f"v{i}.{k}" for k in range(wide)})
    return record


async def wide_lists(request, wide: int = WIDE):
    if request.path.endswith("/users/me"):
        return web.json_response({"user": {"id": "1", "localZoneid": "UTC"}})
    offset, limit = int(request.query.get("offset", 0)), int(request.query.get("limit", 20))
    page = [wide_list(i, wide) for i in range(offset + 1, min(offset + limit, LISTS) + 1)]
    return web.Response(body=orjson.dumps({"lists": page, "meta": {"total": str(LISTS)}}),
                        content_type="application/json")


def test_thousands_of_unknown_fields_become_a_bounded_table_and_nothing_is_lost(mirror):
    [summary], account = sync_against(wide_lists, mirror)
    result = summary.result("lists")
    assert result.status == "ok" and result.rows == LISTS
    names = [r[0] for r in mirror.query(f"DESCRIBE {mirror.current(account.url, 'lists')}")]
    known = set(CATALOG["lists"].columns)
    assert len([n for n in names if n not in known and n != EXTRA_FIELDS]) == MAX_NEW_COLUMNS
    assert EXTRA_FIELDS in names and result.extra_fields == WIDE - MAX_NEW_COLUMNS
    assert any("_extra_fields" in note and "left out" not in note for note in summary.advice())
    # every value is somewhere: its own column or the record's JSON remainder
    row = mirror.query(f"SELECT * FROM {mirror.current(account.url, 'lists')} WHERE id = 17")[0]
    got = dict(zip(names, row, strict=True))
    rest = json.loads(got[EXTRA_FIELDS])
    expected = wide_list(17)
    for k in range(WIDE):
        name = f"custom_{k}"
        assert (got[name] if name in got else rest[name]) == expected[name]


def test_json_nested_500_levels_deep_is_kept_as_json_text():
    deep: dict = {}
    inner = deep
    for _ in range(500):
        inner["a"] = {}
        inner = inner["a"]
    builder = BatchBuilder(CATALOG["forms"])
    row = builder.build([{"id": "1", "style": deep, "unknown_deep": [deep]}]).to_pylist()[0]
    assert json.loads(row["style"]) == deep and json.loads(row["unknown_deep"]) == [deep]
    assert builder.degraded == {}


async def wider_lists(request):
    return await wide_lists(request, wide=3_000)


def test_past_a_records_share_the_rest_is_counted_and_named(mirror):
    [summary], account = sync_against(wider_lists, mirror)
    result = summary.result("lists")
    assert result.status == "ok" and result.rows == LISTS
    assert result.extra_fields == 3_000 - MAX_NEW_COLUMNS and result.extra_left_out > 0
    assert any(f"{result.extra_left_out:,} values past its size per record were left out" in note
               for note in summary.advice())
    longest = mirror.query(f"SELECT max(strlen({EXTRA_FIELDS})) FROM {mirror.current(account.url, 'lists')}")
    assert 2_000 < longest[0][0] <= EXTRA_BYTES
