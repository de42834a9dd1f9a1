"""Records changed to given values: what an admin does in ActiveCampaign, for end-to-end tests.

`mutate` changes records at random; an edit says what: create a custom field titled "Plan" of
type dropdown, give contact 3 the value "Gold" in it, rename it, delete it. Edited fields are
kept per record (an override of what the generator draws) and applied when the record is
rendered; each edit stamps the record with the wall clock, as the API's update time moves.

    POST /_sandbox/edit  {"entity": "fields", "create": [{"title": "Plan", "type": "dropdown"}]}
                         {"entity": "fieldValues", "create": [{"contact": "3", "field": "9", "value": "Gold"}]}
                         {"entity": "fields", "update": [{"id": 9, "title": "Tier"}]}
                         {"entity": "fields", "delete": [9]}
    -> {"entity": ..., "created": [ids], "updated": [ids], "deleted": [ids], "cascaded": {entity: [ids]}}

Deleting a custom field deletes its values, as in ActiveCampaign (the values' table is the one
custom_fields.SETS pairs with it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

if TYPE_CHECKING:
    from acflow.sandbox.world import World

Edit = Mapping[str, Any]


class Edits:
    """Per entity and record id, the fields an edit set: applied over the generated record."""

    def __init__(self) -> None:
        self.fields: dict[str, dict[int, dict[str, Any]]] = {}

    def apply(self, name: str, ids: Sequence[int], bodies: list[bytes]) -> list[bytes]:
        """Rendered records with their edited fields in place (records never edited are untouched)."""
        mine = self.fields.get(name)
        if not mine:
            return bodies
        out = list(bodies)
        for i, rid in enumerate(ids):
            changes = mine.get(int(rid))
            if changes:
                record = orjson.loads(out[i])
                record.update(changes)
                out[i] = orjson.dumps(record)
        return out

    def edit(self, world: World, name: str, create: Sequence[Edit] = (), update: Sequence[Edit] = (),
             delete: Sequence[int] = ()) -> dict[str, Any]:
        from acflow.sandbox.world import PROFILES, entity_name

        name = entity_name(name)
        table, profile = world.tables[name], PROFILES[name]
        now = world.clock.now()
        mine = self.fields.setdefault(name, {})
        for item in (*create, *update):
            if not isinstance(item, Mapping) or any(k in ("links",) for k in item):
                raise ValueError(f"each edit is an object of the record's fields, not {item!r}")
        out: dict[str, Any] = {"entity": name, "created": [], "updated": [], "deleted": [], "cascaded": {}}
        if create:
            ids = table.append(len(create), now, lambda ids: profile.aux(world, ids))
            for rid, item in zip(ids.tolist(), create, strict=True):
                self._set(table, rid, item, mine)
            out["created"] = ids.tolist()
        for item in update:
            rid = int(item.get("id", 0))
            row = table.row_of(rid)
            if row is None:
                raise ValueError(f"no {name} record with id {rid}")
            self._set(table, rid, {k: v for k, v in item.items() if k != "id"}, mine)
            table.touch(np.array([row], dtype=np.int64), now)
            out["updated"].append(rid)
        rows = []
        for rid in delete:
            row = table.row_of(int(rid))
            if row is None:
                raise ValueError(f"no {name} record with id {rid}")
            rows.append(row)
        if rows:
            table.remove(np.array(rows, dtype=np.int64))
            out["deleted"] = [int(r) for r in delete]
            out["cascaded"] = self._cascade(world, name, set(out["deleted"]))
        for other, p in PROFILES.items():
            if name in p.depends:
                world.tables[other].changed()
        return out

    def _set(self, table: Any, rid: int, item: Edit, mine: dict[int, dict[str, Any]]) -> None:
        """Keep the edited fields; those the generator also keeps as columns (a value's contact
        and field) are set there too, so filters and cascades see them."""
        row = table.row_of(rid)
        for key, value in item.items():
            if key in table.aux and row is not None:
                try:
                    table.aux[key][row] = int(value)
                except (TypeError, ValueError):
                    raise ValueError(f"{key} must be an id, not {value!r}") from None
        mine.setdefault(rid, {}).update({k: (str(v) if k in table.aux else v) for k, v in item.items()})
        if row is not None:
            table.changed(np.array([row], dtype=np.int64))

    def owned(self, world: World, name: str, rows: np.ndarray, owner: int) -> np.ndarray:
        """Of these rows of a custom field values' table, those of one record (contact 3's
        fieldValues): what `/contacts/3/fieldValues` lists."""
        from acflow.custom_fields import SETS

        fs = next(s for s in SETS.values() if s.data == name)
        values = world.tables[name]
        column = next((c for c in (fs.owner, "contact", "record") if c in values.aux), None)
        keep = values.aux[column][rows] == owner if column else np.zeros(len(rows), dtype=bool)
        edited = self.fields.get(name, {})
        if edited:
            for i, rid in enumerate(values.ids[rows].tolist()):
                if fs.owner in edited.get(rid, {}):
                    keep[i] = int(edited[rid][fs.owner]) == owner
        return rows[keep]

    def _cascade(self, world: World, name: str, gone: set[int]) -> dict[str, list[int]]:
        """A custom field's values go with it."""
        from acflow.custom_fields import SETS

        out: dict[str, list[int]] = {}
        for fs in SETS.values():
            if fs.meta != name or fs.data not in world.tables:
                continue
            values = world.tables[fs.data]
            alive = values.alive_rows()
            column = next((c for c in (fs.field, "field") if c in values.aux), None)  # the generator's name
            hit = set(alive[np.isin(values.aux[column][alive], list(gone))].tolist()) if column else set()
            for rid, changes in self.fields.get(fs.data, {}).items():
                row = values.row_of(rid)
                if row is not None and fs.field in changes:  # a value given by an edit names its field there
                    (hit.add if int(changes[fs.field]) in gone else hit.discard)(row)
            rows = np.array(sorted(hit), dtype=np.int64)
            if len(rows):
                out[fs.data] = values.ids[rows].tolist()
                values.remove(rows)
        return out
