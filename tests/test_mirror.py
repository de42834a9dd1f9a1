"""The mirror's own guarantees, below the sync: bounded memory and merges that join up."""

from __future__ import annotations

import pyarrow as pa
import pytest

from acflow import mirror as mirror_module
from acflow.mirror import Mirror, _id_ranges


def test_a_load_keeps_no_batch_alive(tmp_path):
    """Appends are one DuckDB transaction; a batch handed to it must not live until the end."""
    schema = pa.schema([("id", pa.int64()), ("text", pa.string())])
    rows = 20_000
    with Mirror(tmp_path / "m.duckdb") as mirror:
        load = mirror.load("https://acme.api-us1.com", "contacts", schema)
        before = pa.total_allocated_bytes()
        for n in range(10):
            batch = pa.RecordBatch.from_arrays(
                [pa.array(range(n * rows, (n + 1) * rows), pa.int64()),
                 pa.array([f"{i:0100d}" for i in range(rows)], pa.string())], schema=schema)
            size = batch.nbytes
            load.append(batch)
            del batch
        held = pa.total_allocated_bytes() - before
        assert held < 2 * size, f"{held:,} bytes of Arrow memory held after ten batches of {size:,}"
        changes = load.commit(full=True)
        assert changes.inserted == changes.rows == 10 * rows
        table = mirror.table("https://acme.api-us1.com", "contacts")
        held_ids = mirror.query(f"SELECT count(DISTINCT id), min(id), max(id) FROM {table}")[0]
        assert held_ids == (10 * rows, 0, 10 * rows - 1)


@pytest.mark.parametrize("ids", [[], [5], list(range(1, 50)), [3, 4, 1000, 10**12, -7, 8, 9, 10, 11, 12, 13, 14, 15]])
def test_id_ranges_hold_every_id_once(tmp_path, monkeypatch, ids):
    monkeypatch.setattr(mirror_module, "MERGE_ROWS", 7)
    with Mirror(tmp_path / "m.duckdb") as mirror, mirror.cursor() as con:
        con.execute("CREATE TABLE t (id BIGINT)")
        if ids:
            con.executemany("INSERT INTO t VALUES (?)", [[i] for i in ids])
        ranges = _id_ranges(con, "t")
        assert len(ranges) == len(ids) // 7 + 1
        for within in ranges:  # no range holds more ids of the table than a merge step takes
            assert con.execute(f"SELECT count(*) FROM t WHERE {within}").fetchone()[0] <= 7
        probes = [*ids, -10**15, 0, 6, 999, 10**12 + 1, 10**15]  # the table's ids and any other
        for probe in probes:
            hits = [w for w in ranges if con.execute(f"SELECT 1 FROM (SELECT {probe}::BIGINT AS id) WHERE {w}"
                                                     ).fetchall()]
            assert len(hits) == 1, (probe, hits)
