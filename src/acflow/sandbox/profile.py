"""What a sandbox entity looks like: how its records are generated and drawn.

The catalog says *which* fields an entity has and how the API pages it; a
Profile adds what only a fake server needs: plausible values, the JSON types
the real API uses for each, the record's `links`, its meta quirks and which
rows a restricted key may not see. One subclass per catalog entity
(see `people.py`, `crm.py`, `marketing.py`); the server never branches on names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import orjson

from acflow.catalog import CATALOG, Access, Entity
from acflow.sandbox.clock import DAY
from acflow.sandbox.table import Table

if TYPE_CHECKING:
    from acflow.sandbox.world import World


@dataclass(frozen=True)
class Principal:
    """The user behind an API key and what that user may see."""

    name: str
    user_id: int
    admin: bool

    def manages(self, pipeline_ids: np.ndarray) -> np.ndarray:
        """Pipelines (dealGroups) this user may manage: all for admins, odd ids otherwise."""
        ids = np.asarray(pipeline_ids)
        return np.ones(ids.shape, dtype=bool) if self.admin else (ids % 2 == 1)


class Batch:
    """The columns of some rows, as Python lists ready for building dicts."""

    def __init__(self, world: World, table: Table, rows: np.ndarray) -> None:
        self.world = world
        self.table = table
        self.rows = rows
        self.id_arr = table.ids[rows]
        self.ids: list[int] = self.id_arr.tolist()
        self.sids = [str(i) for i in self.ids]
        self.ctime = table.ctime[rows]
        self.utime = table.utime[rows]
        self.unull: list[bool] = table.unull[rows].tolist()
        self.version = table.version[rows]
        self.deleted: list[int] = table.deleted[rows].tolist()
        self.dtime = table.dtime[rows]

    def aux(self, name: str) -> np.ndarray:
        return self.table.aux[name][self.rows]

    def iso(self, t: np.ndarray) -> list[str]:
        return self.world.clock.iso(t)

    def naive(self, t: np.ndarray) -> list[str]:
        return self.world.clock.naive(t)

    def updated_iso(self) -> list[str | None]:
        """The update column as sent: ISO, or null for records never updated."""
        return [None if n else s for s, n in zip(self.iso(self.utime), self.unull, strict=True)]


class Profile:
    name: ClassVar[str]
    noun: ClassVar[str]  # "No Result found for {noun} with id {id}"
    missing_status: ClassVar[int] = 404  # forms answer a missing id with 403
    default_size: ClassVar[int] = 10
    total_as_int: ClassVar[bool] = False  # deals send meta.total as a number
    links: ClassVar[tuple[str, ...] | None] = ()  # None: `links` is [] (segments)
    link_query: ClassVar[Mapping[str, str]] = {}  # sub-resource -> query string in its URL
    depends: ClassVar[tuple[str, ...]] = ()  # tables whose changes alter these records
    span_days: ClassVar[int] = 3 * 365  # how far back `created` goes
    monotonic: ClassVar[bool] = True  # created time grows with the id
    tie_share: ClassVar[float] = 0.0  # share created in the same second as the previous id
    updated_share: ClassVar[float] = 0.6
    null_update_share: ClassVar[float] = 0.0  # never-updated records whose update column is null
    deleted_share: ClassVar[float] = 0.0  # soft-deleted at generation
    # (entity, records per record of it, at most): the size when not given, so `--contacts 50000` brings
    # as many list memberships as such an account has; capped to keep big sandboxes quick to start
    scale: ClassVar[tuple[str, float, int] | None] = None
    created_orders: ClassVar[tuple[str, ...]] = ("cdate",)  # orders[X] that sort by created time
    parent_column: ClassVar[str | None] = None  # a list under each parent record: the aux naming the parent

    @property
    def entity(self) -> Entity:
        return CATALOG[self.name]

    # ---- generation ------------------------------------------------------------------------
    def size_bounds(self, sizes: Mapping[str, int]) -> tuple[int, int | None]:
        """(least, most) records this entity can have given the others' sizes (None: no most)."""
        return 0, None

    def aux(self, world: World, ids: np.ndarray) -> dict[str, np.ndarray]:
        """Entity-specific columns of these ids (references, amounts...), a pure function of the id."""
        return {}

    def generate(self, world: World, n: int) -> Table:
        r = world.rand(self.name)
        ids = np.arange(1, n + 1, dtype=np.int64)
        end = world.clock.reference - 3600
        start = end - self.span_days * DAY
        spread = r.unit(ids, "created") ** 0.7  # more records in recent years
        if self.monotonic:
            spread = np.sort(spread)
        ctime = (end - (1 - spread) * (end - start)).astype(np.int64)
        if self.tie_share and n > 1:
            tie = np.flatnonzero(r.chance(ids, "tie", self.tie_share)[1:]) + 1
            ctime[tie] = ctime[tie - 1]
        updated = r.chance(ids, "updated", self.updated_share)
        lag = (r.unit(ids, "update-lag") ** 3 * (end - ctime)).astype(np.int64)
        utime = np.where(updated, ctime + lag, ctime)
        unull = ~updated & r.chance(ids, "update-null", self.null_update_share)
        deleted = r.chance(ids, "deleted", self.deleted_share)
        dtime = np.where(deleted, utime + (r.unit(ids, "deleted-lag") * (end - utime)).astype(np.int64), 0)
        utime = np.where(deleted, dtime, utime)
        unull &= ~deleted
        return Table(self.name, ids, ctime, utime, unull, deleted.astype(np.int8), dtime,
                     self.aux(world, ids), world.cache_bytes)

    # ---- rendering ---------------------------------------------------------------------------
    def build(self, b: Batch) -> list[dict[str, Any]]:
        raise NotImplementedError

    def render(self, world: World, table: Table, rows: np.ndarray) -> list[bytes]:
        return [orjson.dumps(d) for d in self.build(Batch(world, table, rows))]

    def link_objects(self, world: World, sids: list[str]) -> list[Any]:
        """Each record's `links`: sub-resource URLs on this server, pre-serialised."""
        if self.links is None:
            return [[] for _ in sids]
        template = world.link_template(self)
        return [orjson.Fragment(template.replace(b"{ID}", s.encode())) for s in sids]

    def meta(self, world: World, table: Table, selected: np.ndarray, query: Mapping[str, str]) -> dict | None:
        """The list answer's `meta` (None: the endpoint sends none, as custom field data)."""
        if not self.entity.counted:
            return None
        total = len(selected)
        return {"total": total if self.total_as_int else str(total)}

    def sideloads(self, world: World, table: Table, page: np.ndarray, who: Principal) -> dict[str, list]:
        """Arrays sent next to the records in a list answer (contacts' scoreValues...): name ->
        list of items, each a JSON-able value or pre-rendered bytes."""
        return {name: [] for name in self.entity.sideloads}

    def single_sideloads(self) -> dict[str, list]:
        """Arrays sent next to the record in a by-id answer."""
        return {}

    def on_update(self, world: World, table: Table, rows: np.ndarray) -> None:
        """Change entity-specific columns of updated rows (a deal moves on a stage)."""

    # ---- permissions ---------------------------------------------------------------------------
    def hidden(self, world: World, table: Table, who: Principal) -> np.ndarray | None:
        """Mask over rows this user's lists omit (None: sees everything): for entities of deals, the
        records of pipelines the user may not manage."""
        if who.admin or self.entity.access is not Access.PIPELINES:
            return None
        groups = self.pipelines(world, table)
        return None if groups is None else (groups > 0) & ~who.manages(groups)

    def pipelines(self, world: World, table: Table) -> np.ndarray | None:
        """Each row's pipeline (dealGroups id; 0 for none), for entities whose access is PIPELINES."""
        return None

    def stubbed(self, world: World, table: Table, rows: np.ndarray, who: Principal) -> np.ndarray | None:
        """Mask over `rows` sent reduced to a stub (deals in pipelines the user may not manage)."""
        return None

    def stub(self, record: dict[str, Any]) -> dict[str, Any]:
        flag = self.entity.stub_flag
        if not flag:
            return record
        stub = {"title": record.get("title"), "id": record["id"], flag: True}
        if int(record["id"]) % 2 == 0 and "status" in record:  # some real stubs carry status too (8.6)
            stub = {"title": stub["title"], "status": record["status"], "id": record["id"], flag: True}
        return stub


def strs(values: np.ndarray) -> list[str]:
    """Numbers as the API sends them: JSON strings."""
    return [str(v) for v in values.tolist()]
