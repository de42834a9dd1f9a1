"""One entity's records, stored column by column.

A million contacts are a handful of numpy arrays (id, created, updated,
version, flags and a few entity-specific columns), not a million dicts: the
sandbox starts in seconds and a page is rendered from ~a dozen array gathers.
Rendered JSON bytes are cached per row (bounded) and dropped when the row
changes, so hot pages are a bytes join. Rows are never moved: ids only grow, a
hard delete clears `alive`, so a row number stays valid for caches.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence

import numpy as np

_GROW = 1.5


class Table:
    def __init__(self, name: str, ids: np.ndarray, ctime: np.ndarray, utime: np.ndarray,
                 unull: np.ndarray, deleted: np.ndarray, dtime: np.ndarray,
                 aux: dict[str, np.ndarray], cache_bytes: int) -> None:
        self.name = name
        self.n = len(ids)
        self.ids = np.asarray(ids, dtype=np.int64)
        self.ctime = np.asarray(ctime, dtype=np.int64)
        self.utime = np.asarray(utime, dtype=np.int64)  # == ctime when never updated
        self.unull = np.asarray(unull, dtype=bool)  # the update column is sent as null
        self.deleted = np.asarray(deleted, dtype=np.int8)  # soft-delete flag ("1")
        self.dtime = np.asarray(dtime, dtype=np.int64)
        self.version = np.zeros(self.n, dtype=np.int32)  # bumped by each update
        self.alive = np.ones(self.n, dtype=bool)  # False once hard-deleted
        self.aux = {k: np.asarray(v) for k, v in aux.items()}
        self.next_id = int(self.ids.max()) + 1 if self.n else 1
        self.data_version = 0
        self.cache: OrderedDict[int, bytes] = OrderedDict()  # oldest first: O(1) eviction
        self.cache_size = 0
        self.cache_limit = cache_bytes
        self._memo: dict[Hashable, object] = {}

    # ---- reading -------------------------------------------------------------------------
    def memo(self, key: Hashable, compute: Callable[[], object]) -> object:
        """A value derived from the current data (selections, masks); recomputed after a change."""
        try:
            return self._memo[key]
        except KeyError:
            if len(self._memo) > 256:
                self._memo.clear()
            value = self._memo[key] = compute()
            return value

    def alive_rows(self) -> np.ndarray:
        return self.memo("alive", lambda: np.flatnonzero(self.alive[: self.n]))  # type: ignore[return-value]

    def row_of(self, record_id: int) -> int | None:
        i = int(np.searchsorted(self.ids[: self.n], record_id))
        if i < self.n and self.ids[i] == record_id and self.alive[i]:
            return i
        return None

    def render(self, rows: Sequence[int], build: Callable[[np.ndarray], list[bytes]]) -> list[bytes]:
        """JSON bytes of these rows, from the cache or built together in one vectorised batch."""
        cache = self.cache
        out = [cache.get(r) for r in rows]
        missing = [i for i, b in enumerate(out) if b is None]
        if missing:
            want = np.array([rows[i] for i in missing], dtype=np.int64)
            for i, built in zip(missing, build(want), strict=True):
                # orjson's bytes keep ~16 KiB allocated whatever their length: cache a tight copy
                body = memoryview(built).tobytes()
                out[i] = body
                cache[rows[i]] = body
                self.cache_size += len(body)
            if self.cache_size > self.cache_limit:
                self._evict()
        return out  # type: ignore[return-value]

    def _evict(self) -> None:
        """Drop the oldest entries until a quarter of the budget is free."""
        target = self.cache_limit * 3 // 4
        cache = self.cache
        while cache and self.cache_size > target:
            self.cache_size -= len(cache.popitem(last=False)[1])

    # ---- changing ------------------------------------------------------------------------
    def changed(self, rows: np.ndarray | None = None) -> None:
        """Forget derived data; drop cached bytes of `rows` (all rows when None)."""
        self.data_version += 1
        self._memo.clear()
        if rows is None:
            self.cache.clear()
            self.cache_size = 0
            return
        for r in rows.tolist():
            body = self.cache.pop(r, None)
            if body is not None:
                self.cache_size -= len(body)

    def _ensure(self, extra: int) -> None:
        need = self.n + extra
        if need <= len(self.ids):
            return
        cap = max(need, int(len(self.ids) * _GROW) + 16)
        for name in ("ids", "ctime", "utime", "unull", "deleted", "dtime", "version", "alive"):
            setattr(self, name, _grown(getattr(self, name), cap))
        self.aux = {k: _grown(v, cap) for k, v in self.aux.items()}

    def append(self, count: int, now: int, aux: Callable[[np.ndarray], dict[str, np.ndarray]]) -> np.ndarray:
        """New records with the next ids, created and updated `now`; returns their ids."""
        self._ensure(count)
        ids = np.arange(self.next_id, self.next_id + count, dtype=np.int64)
        s = slice(self.n, self.n + count)
        self.ids[s] = ids
        self.ctime[s] = now
        self.utime[s] = now
        self.unull[s] = False
        self.deleted[s] = 0
        self.dtime[s] = 0
        self.version[s] = 0
        self.alive[s] = True
        for k, v in aux(ids).items():
            self.aux[k][s] = v
        self.n += count
        self.next_id += count
        self.changed(np.arange(s.start, s.stop))
        return ids

    def touch(self, rows: np.ndarray, now: int) -> None:
        self.utime[rows] = now
        self.unull[rows] = False
        self.version[rows] += 1
        self.changed(rows)

    def soft_delete(self, rows: np.ndarray, now: int) -> None:
        self.deleted[rows] = 1
        self.dtime[rows] = now
        self.touch(rows, now)

    def remove(self, rows: np.ndarray) -> None:
        self.alive[rows] = False
        self.changed(rows)


def _grown(a: np.ndarray, cap: int) -> np.ndarray:
    out = np.zeros(cap, dtype=a.dtype)
    out[: len(a)] = a
    return out
