"""Profiles of deal and account custom fields (`*CustomFieldMeta`) and their values (`*CustomFieldData`).

As the reference's examples: `id` first; the values' ids and references JSON numbers while the
record id is a string; `fieldDefault` a number on some fields and text on others; the
timestamps naive local time; and no `meta` at all in the list answers (paging ends on a short
page). Values follow their field's type: dates as days, currency in cents with its currency,
multi-selects as ||-joined options.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from acflow.sandbox.gen import TOPICS
from acflow.sandbox.profile import Batch, Profile
from acflow.sandbox.relate import aux_of, pairs

CUSTOM_TYPES = ["text", "textarea", "date", "datetime", "dropdown", "multiselect", "radio", "checkbox",
                "hidden", "currency", "number"]
CHOICES = ("dropdown", "multiselect", "radio", "checkbox")
DEAL_LABELS = ["Contract Length", "Lead Source", "Close Reason", "Renewal Date", "Products", "Region",
               "Discount", "Decision Maker", "Budget", "Seats", "Kickoff"]
ACCOUNT_LABELS = ["Industry", "Employees", "Annual Revenue", "Customer Since", "Segment", "Tier", "Website Notes",
                  "Partner", "Regions Served", "Founded"]


class _Meta(Profile):
    parent: ClassVar[str]  # "deals" or "accounts"
    labels: ClassVar[list[str]]
    default_size = 12  # every type once, and a second text field
    links: ClassVar[tuple[str, ...] | None] = ()

    def aux(self, world, ids: np.ndarray) -> dict[str, np.ndarray]:
        kind = (np.asarray(ids, dtype=np.int64) - 1) % len(CUSTOM_TYPES)  # every type in the first eleven
        return {"kind": kind}

    def build(self, b: Batch) -> list[dict[str, Any]]:
        r = b.world.rand(self.name)
        ids = b.id_arr
        kind = b.aux("kind").tolist()
        flags = r.ints(ids, "flags", 1 << 10).tolist()
        cn, un = b.naive(b.ctime), b.naive(b.utime)
        links = self.link_objects(b.world, b.sids)
        prefix = "DEAL" if self.parent == "deals" else "ACCT"
        out = []
        for i, rid in enumerate(b.ids):
            t, f = CUSTOM_TYPES[kind[i]], flags[i]
            label = self.labels[(rid - 1) % len(self.labels)] + ("" if rid <= len(self.labels) else f" {rid}")
            default: int | str | None = 1 if f & 1 else (None if f & 2 else ("" if t not in CHOICES else "Option 1"))
            out.append({
                "id": b.sids[i], "fieldLabel": label, "fieldType": t,
                "fieldOptions": [f"Option {j}" for j in range(1, 4 + f % 3)] if t in CHOICES else None,
                "fieldDefault": default, "fieldDefaultCurrency": "USD" if t == "currency" else None,
                "isFormVisible": 1 if f & 4 else 0, "isRequired": 1 if f & 8 else 0, "displayOrder": rid,
                "personalization": f"%{prefix}_{label.upper().replace(' ', '_')}%" if f & 16 else "",
                "knownFieldId": None, "hideFieldFlag": 1 if t == "hidden" else 0,
                "createdTimestamp": cn[i], "updatedTimestamp": un[i], "links": links[i],
            })
        return out


class _Data(Profile):
    meta_entity: ClassVar[str]
    parent: ClassVar[str]
    parent_key: ClassVar[str]  # "dealId"
    metum_key: ClassVar[str]  # "dealCustomFieldMetumId"
    links: ClassVar[tuple[str, ...] | None] = ()

    def size_bounds(self, sizes: Mapping[str, int]) -> tuple[int, int | None]:
        return 0, sizes[self.parent] * sizes[self.meta_entity]

    def aux(self, world, ids: np.ndarray) -> dict[str, np.ndarray]:
        r = world.rand(self.name)
        record, field = pairs(r, ids, world.sizes[self.name], world.sizes[self.parent],
                              world.sizes[self.meta_entity], "cf")
        return {"record": record, "field": field}

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids, v = b.world, b.id_arr, b.version
        r = w.rand(self.name)
        record, field = b.aux("record").tolist(), b.aux("field")
        kinds = aux_of(w, self.meta_entity, field, "kind").tolist()
        field_l = field.tolist()
        word = r.pick(ids, "word", TOPICS, version=v)
        num = r.ints(ids, "num", 5000, 1, version=v).tolist()
        day = w.clock.dates(b.ctime + r.ints(ids, "day", 900, -300, version=v) * 86_400)
        cn, un = b.naive(b.ctime), b.naive(b.utime)
        links = self.link_objects(w, b.sids)
        out = []
        for i in range(len(b.ids)):
            t = CUSTOM_TYPES[kinds[i]]
            if t == "date":
                value = day[i]
            elif t == "datetime":
                value = f"{day[i]} {num[i] % 24:02d}:{num[i] % 4 * 15:02d}:00"
            elif t in ("dropdown", "radio"):
                value = f"Option {num[i] % 3 + 1}"
            elif t in ("multiselect", "checkbox"):
                value = f"||Option {num[i] % 3 + 1}||Option {num[i] % 3 + 2}||"
            elif t == "currency":
                value = str(num[i] * 100)
            elif t == "number":
                value = str(num[i] % 200) if num[i] & 1 else f"{num[i] % 200}.5"
            else:
                value = f"{word[i]} {num[i]}"
            out.append({
                "id": b.sids[i], self.metum_key: field_l[i], self.parent_key: record[i], "customFieldId": field_l[i],
                "createdTimestamp": cn[i], "updatedTimestamp": un[i], "fieldValue": value,
                "fieldCurrency": "usd" if t == "currency" else None, "links": links[i],
            })
        return out


class DealCustomFieldMeta(_Meta):
    """Deal custom fields: one of each type first, then the types again."""

    name = "dealCustomFieldMeta"
    noun = "DealCustomFieldMetum"
    parent = "deals"
    labels = DEAL_LABELS
    links = ("dealCustomFieldData",)


class AccountCustomFieldMeta(_Meta):
    """Account custom fields: one of each type first, then the types again."""

    name = "accountCustomFieldMeta"
    noun = "AccountCustomFieldMetum"
    parent = "accounts"
    labels = ACCOUNT_LABELS
    links = ("accountCustomFieldData",)


class DealCustomFieldData(_Data):
    """At most one value per deal and field; the restricted key sees only its pipelines' deals'."""

    name = "dealCustomFieldData"
    noun = "DealCustomFieldDatum"
    default_size = 800
    scale = ("deals", 2.0, 40_000)
    meta_entity = "dealCustomFieldMeta"
    parent = "deals"
    parent_key = "dealId"
    metum_key = "dealCustomFieldMetumId"
    links = ("deal", "dealCustomFieldMetum")
    depends = ("deals", "dealCustomFieldMeta")

    def pipelines(self, world, table) -> np.ndarray:
        return aux_of(world, "deals", table.aux["record"][: table.n], "group")


class AccountCustomFieldData(_Data):
    """At most one value per account and field."""

    name = "accountCustomFieldData"
    noun = "AccountCustomFieldDatum"
    default_size = 80
    meta_entity = "accountCustomFieldMeta"
    parent = "accounts"
    parent_key = "accountId"
    metum_key = "accountCustomFieldMetumId"
    links = ("account", "accountCustomFieldMetum")
    depends = ("accountCustomFieldMeta",)
