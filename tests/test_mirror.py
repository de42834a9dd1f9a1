"""The mirror's own guarantees, below the sync."""

from __future__ import annotations

import pyarrow as pa

from acflow.mirror import Mirror


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
