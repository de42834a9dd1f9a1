"""The fast path (Arrow reads raw pages) types exactly as the exact path (dicts) does."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from test_recorded_payloads import FILES, load

from acflow import catalog
from acflow.account import Account
from acflow.client import Client, RawPage
from acflow.columns import BatchBuilder
from acflow.paging import Page, pages


def both_ways(entity, raw_pages):
    fast, exact = BatchBuilder(entity, "America/Chicago"), BatchBuilder(entity, "America/Chicago")
    batch = fast.build_pages(raw_pages)
    expected = exact.build([r for p in raw_pages for r in p.records()])
    return batch, expected, fast


def as_page(entity, records, keep=None):
    body = orjson.dumps({entity.key: records, "meta": {"total": str(len(records))}})
    return Page(RawPage(body, entity.key, [r.get("id") for r in records], len(records)), keep)


@pytest.mark.parametrize("name", catalog.names())
def test_sandbox_pages_type_the_same_both_ways(sandbox, name):
    entity = catalog.CATALOG[name]
    account = Account(sandbox.url, sandbox.admin_key, rate_limit=1000)

    async def collect():
        async with Client(account) as client:
            return [page async for page in pages(client, entity)]

    raw_pages = asyncio.run(collect())
    batch, expected, fast = both_ways(entity, raw_pages)
    assert batch.schema == expected.schema
    assert batch.to_pylist() == expected.to_pylist()
    if name in ("contacts", "deals", "campaigns", "lists"):
        assert fast.fallbacks == 0, "the fast path should read these"


@pytest.mark.parametrize("path", [p for p in FILES if load(p)[0].key in load(p)[1]],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recorded_payloads_type_the_same_both_ways(path):
    entity, _, records = load(path)
    batch, expected, _ = both_ways(entity, [as_page(entity, records)])
    assert batch.to_pylist() == expected.to_pylist()


def test_kept_positions_are_honoured():
    entity = catalog.CATALOG["deals"]
    records = [{"id": str(i), "title": f"d{i}", "value": str(i * 100)} for i in range(1, 6)]
    batch, expected, fast = both_ways(entity, [as_page(entity, records, keep=(1, 3))])
    assert [r["id"] for r in batch.to_pylist()] == [2, 4] == [r["id"] for r in expected.to_pylist()]
    assert fast.fallbacks == 0


def test_drifting_types_fall_back_and_stay_exact():
    entity = catalog.CATALOG["deals"]
    pages_ = [as_page(entity, [{"id": "1", "isDisabled": False, "value": "5"}]),
              as_page(entity, [{"id": 2, "isDisabled": "1", "value": 7}])]
    batch, expected, fast = both_ways(entity, pages_)
    assert fast.fallbacks == 1
    assert batch.to_pylist() == expected.to_pylist()
    assert [r["isDisabled"] for r in batch.to_pylist()] == [0, 1]


def test_objects_of_different_shapes_are_not_rewritten():
    entity = catalog.CATALOG["forms"]
    records = [{"id": "1", "style": {"a": 1}}, {"id": "2", "style": {"b": 2}}]
    batch, _, fast = both_ways(entity, [as_page(entity, records)])
    assert [orjson.loads(r["style"]) for r in batch.to_pylist()] == [{"a": 1}, {"b": 2}]
    assert fast.fallbacks == 1


def test_floats_type_the_same_both_ways():
    """Arrow widens 2 to 2.0 in a column that also holds 1.5: such batches take the dict path."""
    entity = catalog.CATALOG["deals"]
    records = [{"id": "1", "winProbability": 44, "newfield": 1.5, "arr": [1.5, 2]},
               {"id": "2", "winProbability": 44.5, "newfield": 2, "arr": [2]}]
    batch, expected, fast = both_ways(entity, [as_page(entity, records)])
    assert batch.to_pylist() == expected.to_pylist()
    assert [r["newfield"] for r in batch.to_pylist()] == ["1.5", "2"]
    assert [r["arr"] for r in batch.to_pylist()] == ["[1.5,2]", "[2]"]
    assert fast.fallbacks == 1
