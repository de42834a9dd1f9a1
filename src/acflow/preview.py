"""`preview`: the first rows of an entity, typed and derived as an export would write them."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from .account import Account
from .client import Client
from .columns import BatchBuilder
from .export import derived_query
from .paging import Page
from .sync import probe_zone, resolve_entities, run_coroutine
from .zones import AccountZone


def preview(entity: str, *, account: Account, limit: int = 10, raw: bool = False,
            timeout: float = 60.0) -> pa.Table:
    """Two requests (who am I, one page); nothing is written anywhere. Naive times are read in the
    account's zone, learnt from the page's own dates, or (an entity without any, like segments)
    from two more requests for contacts' (zones.py)."""
    chosen = resolve_entities([entity])[0]

    async def fetch() -> tuple[list[dict[str, Any]], AccountZone]:
        async with Client(account, timeout=timeout) as client:
            user = await client.check()
            raw = await client.get_page(chosen.path, chosen.key, {**chosen.order, "limit": limit})
            records = Page(raw).records()[:limit]
            zone = AccountZone(override=account.timezone,
                               user_zone=user.get("localZoneid"))
            zone.observe(v for r in records for v in r.values())
            if not zone.learnt and not account.timezone:
                await probe_zone(client, zone)
            return records, zone

    records, zone = run_coroutine(fetch())
    table = pa.Table.from_batches([BatchBuilder(chosen, zone).build(records)])
    if raw or not chosen.derived:
        return table
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("preview_rows", table)
        return con.sql(derived_query(chosen, "preview_rows")).to_arrow_table()
    finally:
        con.close()
