"""How generated records point at each other: references, distinct pairs, contiguous children.

Every function is a pure function of the record ids (and the world's sizes), like the rest of
the generator, so a record renders the same bytes whatever page it is asked in. Seed records
(ids up to the seeded size) are laid out so pairs never repeat and children sit under their
parents; records created later by mutations draw their references at random.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from acflow.sandbox.gen import Rand


def refs(r: Rand, ids: np.ndarray, salt: str, n: int, none: float = 0.0) -> np.ndarray:
    """An id in 1..n per record (0, sent as null, for a share `none` of them, or when n is 0)."""
    out = r.ints(ids, salt, max(n, 1), 1)
    if none:
        out = np.where(r.chance(ids, salt + "-none", none), 0, out)
    return np.where(n > 0, out, 0)


def pairs(r: Rand, ids: np.ndarray, total: int, n_left: int, n_right: int, salt: str) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) ids per record: the seed records 1..total spread evenly over the lefts (a contact
    on one or two lists), each left with distinct rights; later records at random.

    Needs total <= n_left * n_right (Profile.size_bounds says so).
    """
    ids = np.asarray(ids, dtype=np.int64)
    k = ids - 1
    total, n_left, n_right = max(total, 1), max(n_left, 1), max(n_right, 1)
    left0 = k * n_left // total
    first = -(-(left0 * total) // n_left)  # the first record of the same left
    start = r.ints(left0 + 1, salt + "-start", n_right)
    right0 = (start + k - first) % n_right
    seeded = ids <= total
    left = np.where(seeded, left0 + 1, r.ints(ids, salt + "-left", n_left, 1))
    right = np.where(seeded, right0 + 1, r.ints(ids, salt + "-right", n_right, 1))
    return left.astype(np.int64), right.astype(np.int64)


def runs(ids: np.ndarray, total: int, n_parents: int, r: Rand, salt: str) -> tuple[np.ndarray, np.ndarray]:
    """(parent, position in the parent from 0) per record: the seed records in contiguous runs, one
    per parent (a campaign's links, an order's products); later records under a random parent."""
    ids = np.asarray(ids, dtype=np.int64)
    k = ids - 1
    total, n_parents = max(total, 1), max(n_parents, 1)
    parent0 = k * n_parents // total
    first = -(-(parent0 * total) // n_parents)
    seeded = ids <= total
    parent = np.where(seeded, parent0 + 1, r.ints(ids, salt + "-parent", n_parents, 1))
    return parent.astype(np.int64), np.where(seeded, k - first, 0).astype(np.int64)


def children_of(parent: int, total: int, n_parents: int) -> list[int]:
    """The seed record ids `runs` puts under `parent` (an order's product ids)."""
    total, n_parents = max(total, 1), max(n_parents, 1)
    lo = -(-((parent - 1) * total) // n_parents)
    hi = -(-(parent * total) // n_parents)
    return list(range(lo + 1, min(hi, total) + 1))


def aux_of(world: Any, entity: str, ids: np.ndarray, column: str) -> np.ndarray:
    """Another entity's aux `column` at these record ids (0 where the record is gone or the id is 0)."""
    table = world.tables[entity]
    ids = np.asarray(ids, dtype=np.int64)
    known = table.ids[: table.n]
    at = np.clip(np.searchsorted(known, ids), 0, max(table.n - 1, 0))
    if not table.n:
        return np.zeros(len(ids), dtype=np.int64)
    found = (known[at] == ids) & table.alive[at]
    return np.where(found, table.aux[column][at], 0)


def sid(values: np.ndarray) -> list[str | None]:
    """Ids as the API sends them: strings, null for 0."""
    return [str(v) if v else None for v in values.tolist()]


def flag(values: np.ndarray) -> list[str]:
    return ["1" if v else "0" for v in values.tolist()]
