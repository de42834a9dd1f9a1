"""The mirror's own guarantees, below the sync: bounded memory and merges that join up."""

from __future__ import annotations

import pyarrow as pa
import pytest

from acflow import mirror as mirror_module
from acflow.mirror import DELETED_AT, Mirror, _id_ranges


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


@pytest.mark.parametrize("ids", [[], [5], list(range(1, 50)), [3, 4, 1000, 10**12, -7, 8, 9, 10, 11, 12, 13, 14, 15],
                                 [1, None, 2, None, 3, 4, 5, 6, 7, 8]])
def test_id_ranges_hold_every_id_once(tmp_path, monkeypatch, ids):
    monkeypatch.setattr(mirror_module, "MERGE_ROWS", 7)
    with Mirror(tmp_path / "m.duckdb") as mirror, mirror.cursor() as con:
        con.execute("CREATE TABLE t (id BIGINT)")
        if ids:
            con.executemany("INSERT INTO t VALUES (?)", [[i] for i in ids])
        ranges = _id_ranges(con, "t")
        assert len(ranges) == len([i for i in ids if i is not None]) // 7 + 2  # and one for null ids
        for within in ranges:  # no range holds more ids of the table than a merge step takes
            assert con.execute(f"SELECT count(*) FROM t WHERE {within}").fetchone()[0] <= 7
        probes = [*ids, -10**15, 0, 6, 999, 10**12 + 1, 10**15, None]  # the table's ids and any other
        for probe in probes:
            value = "NULL" if probe is None else str(probe)
            hits = [w for w in ranges if con.execute(f"SELECT 1 FROM (SELECT {value}::BIGINT AS id) WHERE {w}"
                                                     ).fetchall()]
            assert len(hits) == 1, (probe, hits)


def _load(mirror, ids, id_type, full=True):
    schema = pa.schema([("id", id_type), ("name", pa.string())])
    load = mirror.load("https://acme.api-us1.com", "lists", schema)
    load.append(pa.RecordBatch.from_arrays([pa.array(ids, id_type), pa.array([f"n{i}" for i in ids])],
                                           schema=schema))
    return load.commit(full=full)


def test_merges_in_steps_when_ids_are_kept_as_text(tmp_path, monkeypatch):
    """An id that does not fit an integer ("1.5") makes the column text; merges in id ranges
    must then compare text with text, also for later loads whose ids are integers again."""
    monkeypatch.setattr(mirror_module, "MERGE_ROWS", 2)
    with Mirror(tmp_path / "m.duckdb") as mirror:
        first = _load(mirror, ["1", "2", "1.5", "10", "9", "100"], pa.string())
        assert (first.inserted, first.rows) == (6, 6)
        second = _load(mirror, [1, 2, 10, 9, 100, 11, 3], pa.int64())
        assert (second.inserted, second.updated, second.removed, second.unchanged) == (2, 0, 1, 5)
        table = mirror.table("https://acme.api-us1.com", "lists")
        held = mirror.query(f"SELECT id, {DELETED_AT} IS NOT NULL FROM {table} ORDER BY id")
        assert held == [("1", False), ("1.5", True), ("10", False), ("100", False), ("11", False), ("2", False),
                        ("3", False), ("9", False)]


def test_syncs_at_once_keep_the_sync_settings_until_the_last_ends(tmp_path):
    """acflow run syncs several accounts at once through one mirror."""
    with Mirror(tmp_path / "m.duckdb") as mirror:
        def settings():
            return mirror.query("SELECT current_setting('memory_limit'), current_setting('threads')")[0]
        default = settings()
        with mirror.frugal():
            frugal = settings()
            assert frugal != default and frugal[1] == 1
            with mirror.frugal():
                pass
            assert settings() == frugal  # the other sync goes on
        assert settings() == default
