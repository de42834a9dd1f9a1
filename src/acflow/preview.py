"""`preview`: the first rows of an entity, typed and derived as an export would write them."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from . import custom_fields as cf
from .account import Account
from .catalog import CATALOG, Paging
from .client import Client
from .columns import BatchBuilder
from .export import derived_query
from .paging import Page, pages
from .sync import probe_zone, resolve_entities, run_coroutine
from .zones import AccountZone


def preview(entity: str, *, account: Account, limit: int = 10, raw: bool = False,
            timeout: float = 60.0, custom_fields: str = "columns", custom_field_names: str = "title") -> pa.Table:
    """Two requests (who am I, one page); nothing is written anywhere. Naive times are read in the
    account's zone, learnt from the page's own dates, or (an entity without any, like segments)
    from two more requests for contacts' (zones.py). Contacts, deals and accounts get their custom
    field columns (as an export would; named afresh, a preview keeps no names) for one more request
    and one per record shown (custom_fields.fetch_for_preview), unless `custom_fields` is not columns."""
    chosen = resolve_entities([entity])[0]
    cf.check(custom_fields, custom_field_names)
    fs = cf.field_set(chosen) if custom_fields == "columns" else None
    extra: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = []

    async def fetch() -> tuple[list[dict[str, Any]], AccountZone]:
        async with Client(account, timeout=timeout) as client:
            user = await client.check()
            if chosen.paging is Paging.PER_PARENT:  # the first parent's list that has records
                records = []
                async for page in pages(client, chosen, concurrency=1):
                    records = page.records()[:limit]
                    break
            else:
                raw = await client.get_page(chosen.path, chosen.key, {**chosen.order, "limit": limit})
                records = Page(raw).records()[:limit]
            zone = AccountZone(override=account.timezone,
                               user_zone=user.get("localZoneid"))
            zone.observe(v for r in records for v in r.values())
            if not zone.learnt and not account.timezone:
                await probe_zone(client, zone)
            if fs is not None:
                extra.append(await cf.fetch_for_preview(client, chosen, [r.get("id") for r in records]))
            return records, zone

    records, zone = run_coroutine(fetch())
    table = pa.Table.from_batches([BatchBuilder(chosen, zone).build(records)])
    if (raw or not chosen.derived) and not extra:
        return table
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("preview_rows", table)
        source = "preview_rows"
        if fs is not None and extra:
            fields, values = (pa.Table.from_batches([BatchBuilder(CATALOG[name], zone).build(got)])
                              for name, got in zip((fs.meta, fs.data), extra[0], strict=True))
            source, _ = cf.preview_sql(con, chosen, source, fields, values, account=account.url,
                                       naming=custom_field_names, zone=zone.zone)
        return con.sql(derived_query(chosen, source, raw=raw)).to_arrow_table()
    finally:
        con.close()
