"""Profiles of the CRM entities: pipelines (dealGroups), their stages and deals.

Pipelines cycle through usd, eur, jpy and kwd so deal values in the smallest
unit come with 2, 2, 0 and 3 decimals. The restricted key's user manages the
odd-numbered pipelines only: its deal lists carry stubs for the others and its
stage and pipeline lists leave them out, as ActiveCampaign does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from acflow.sandbox.gen import ADJECTIVES, ANIMALS, COLORS, CURRENCIES, STAGE_TITLES, TOPICS
from acflow.sandbox.profile import Batch, Principal, Profile, strs
from acflow.sandbox.table import Table

PIPELINE_TITLES = ["Sales Pipeline", "Partnerships", "Enterprise", "Renewals", "Onboarding",
                   "Inbound Leads", "Upsell", "Events"]
# Typical deal sizes per currency, in its smallest unit (cents, yen, fils).
VALUE_RANGE = {"usd": (5_000, 2_500_000), "eur": (5_000, 2_000_000), "jpy": (5_000, 3_000_000),
               "kwd": (10_000, 8_000_000)}


def pipeline_currency(ids: np.ndarray) -> np.ndarray:
    """Index into CURRENCIES of each pipeline id."""
    return (np.asarray(ids, dtype=np.int64) - 1) % len(CURRENCIES)


def stage_layout(world) -> tuple[np.ndarray, np.ndarray]:
    """Seed stages are split into contiguous runs, one per pipeline: (pipeline, order) per stage."""
    s, g = world.sizes["dealStages"], max(world.sizes["dealGroups"], 1)
    k = np.arange(s, dtype=np.int64)
    group = k * g // max(s, 1) + 1
    first = np.searchsorted(group, group)  # index of the first stage of the same pipeline
    return group, k - first + 1


def stages_by_group(world) -> dict[int, list[int]]:
    """Live stage ids of each pipeline in board order (order, then id)."""
    table = world.tables["dealStages"]

    def compute() -> dict[int, list[int]]:
        rows = table.alive_rows()
        group, order, ids = table.aux["group"][rows], table.aux["order"][rows], table.ids[rows]
        out: dict[int, list[int]] = {}
        for i in np.lexsort((ids, order, group)).tolist():
            out.setdefault(int(group[i]), []).append(int(ids[i]))
        return out

    return table.memo("by_group", compute)  # type: ignore[return-value]


class DealGroups(Profile):
    """Pipelines; `stages` lists their stage ids, lists side-load those dealStages."""

    name = "dealGroups"
    noun = "DealGroup"
    default_size = 4
    links = ("stages", "dealGroupUsers", "dealGroupGroups", "winProbabilityFeatures")
    depends = ("dealStages",)

    def build(self, b: Batch) -> list[dict[str, Any]]:
        r = b.world.rand(self.name)
        ids = b.id_arr
        cur = pipeline_currency(ids).tolist()
        flags = r.ints(ids, "flags", 16).tolist()
        stages = stages_by_group(b.world)
        cdate, udate = b.iso(b.ctime), b.iso(b.utime)
        links = self.link_objects(b.world, b.sids)
        out = []
        for i, rid in enumerate(b.ids):
            title = PIPELINE_TITLES[(rid - 1) % len(PIPELINE_TITLES)]
            out.append({
                "title": title if rid <= len(PIPELINE_TITLES) else f"{title} {rid}",
                "currency": CURRENCIES[cur[i]],
                "autoassign": "1" if flags[i] & 1 else "0",
                "allusers": "1",
                "allgroups": "1",
                "win_probability_initialize_date": cdate[i] if flags[i] & 2 else None,
                "cdate": cdate[i],
                "udate": udate[i],
                "stages": [str(s) for s in stages.get(rid, [])],
                "links": links[i],
                "id": b.sids[i],
                "count": len(stages.get(rid, [])), "source": None,  # newer fields (reference 8)
            })
        return out

    def hidden(self, world, table: Table, who: Principal) -> np.ndarray | None:
        return None if who.admin else ~who.manages(table.ids[: table.n])

    def sideloads(self, world, table: Table, page: np.ndarray, who: Principal) -> dict[str, list]:
        stage_table = world.tables["dealStages"]
        rows = stage_table.alive_rows()
        rows = rows[np.isin(stage_table.aux["group"][rows], table.ids[page])]
        return {"dealStages": world.render("dealStages", rows)}


class DealStages(Profile):
    """Stages; many real ones have null cdate/udate, `order` and `width` are strings."""

    name = "dealStages"
    noun = "DealStage"
    default_size = 14
    links = ("group",)
    null_update_share = 0.5

    def aux(self, world, ids: np.ndarray) -> dict[str, np.ndarray]:
        group, order = stage_layout(world)
        seeded = ids <= len(group)
        r = world.rand(self.name)
        k = np.minimum(ids, max(len(group), 1)) - 1
        g = np.where(seeded, group[k] if len(group) else 1,
                     r.ints(ids, "group", max(world.sizes["dealGroups"], 1), 1))
        o = np.where(seeded, order[k] if len(order) else 1, r.ints(ids, "order", 7, 1))
        return {"group": g.astype(np.int64), "order": o.astype(np.int64)}

    def build(self, b: Batch) -> list[dict[str, Any]]:
        r = b.world.rand(self.name)
        ids = b.id_arr
        group, order = strs(b.aux("group")), b.aux("order").tolist()
        color = r.pick(ids, "color", COLORS)
        region = r.ints(ids, "region", 4).tolist()
        cdate, udate = b.iso(b.ctime), b.updated_iso()
        links = self.link_objects(b.world, b.sids)
        return [{
            "group": group[i],
            "title": STAGE_TITLES[(order[i] - 1) % len(STAGE_TITLES)],
            "color": color[i],
            "order": str(order[i]),
            "width": "280" if region[i] else "270",
            "dealOrder": "next-action DESC" if region[i] else "title ASC",
            "cardRegion1": "title",
            "cardRegion2": "next-action",
            "cardRegion3": "show-avatar" if region[i] else "hide-avatar",
            "cardRegion4": "contact-fullname-acctname" if region[i] != 1 else "contact-fullname-orgname",
            "cardRegion5": "value",
            "cdate": None if b.unull[i] else cdate[i],
            "udate": udate[i],
            "links": links[i],
            "id": b.sids[i],
        } for i in range(len(b.ids))]

    def hidden(self, world, table: Table, who: Principal) -> np.ndarray | None:
        return None if who.admin else ~who.manages(table.aux["group"][: table.n])


class Deals(Profile):
    """Deals: value in the smallest unit as a string, winProbability an int or null, isDisabled a
    bool, edate naive; created times not in id order (imports) with ties, so orders[cdate] matters.
    meta has `currencies` (keyed by upper-case code, [] when empty) and an int total. An update
    moves the deal to the next stage of its pipeline."""

    name = "deals"
    noun = "Deal"
    default_size = 200
    total_as_int = True
    links = ("dealActivities", "contact", "contactDeals", "group", "nextTask", "notes", "account",
             "customerAccount", "organization", "owner", "scoreValues", "stage", "tasks",
             "dealCustomFieldData")
    monotonic = False
    tie_share = 0.1
    updated_share = 0.7

    def aux(self, world, ids: np.ndarray) -> dict[str, np.ndarray]:
        r = world.rand(self.name)
        sizes = world.sizes
        layout_group, _ = stage_layout(world)
        if len(layout_group):
            stage_idx = r.ints(ids, "stage", len(layout_group))
            group, stage = layout_group[stage_idx], stage_idx + 1
        else:
            group = r.ints(ids, "group", max(sizes["dealGroups"], 1), 1)
            stage = np.zeros(len(ids), dtype=np.int64)
        currency = np.where(r.chance(ids, "usd", 0.1), 0, pipeline_currency(group))
        lo = np.array([VALUE_RANGE[c][0] for c in CURRENCIES])[currency]
        hi = np.array([VALUE_RANGE[c][1] for c in CURRENCIES])[currency]
        value = (lo + r.unit(ids, "value") ** 2 * (hi - lo)).astype(np.int64)
        value = np.where(r.chance(ids, "round", 0.5), value // 100 * 100, value)
        u = r.unit(ids, "status")
        status = np.where(u < 0.6, 0, np.where(u < 0.85, 1, 2))
        return {
            "group": group.astype(np.int64),
            "stage": stage.astype(np.int64),
            "owner": r.ints(ids, "owner", max(sizes["users"], 1), 1),
            "contact": np.where(r.chance(ids, "no-contact", 0.05), 0,
                                r.ints(ids, "contact", max(sizes["contacts"], 1), 1)),
            "account": np.where(r.chance(ids, "account", 0.4) & (sizes["accounts"] > 0),
                                r.ints(ids, "acct", max(sizes["accounts"], 1), 1), 0),
            "currency": currency.astype(np.int64),
            "value": value,
            "status": status.astype(np.int64),
        }

    def on_update(self, world, table: Table, rows: np.ndarray) -> None:
        stages = stages_by_group(world)
        for row in rows.tolist():
            board = stages.get(int(table.aux["group"][row]), [])
            if board:
                cur = int(table.aux["stage"][row])
                table.aux["stage"][row] = board[(board.index(cur) + 1) % len(board)] if cur in board else board[0]

    def build(self, b: Batch) -> list[dict[str, Any]]:
        r = b.world.rand(self.name)
        ids, v = b.id_arr, b.version
        group, stage, owner = strs(b.aux("group")), b.aux("stage").tolist(), strs(b.aux("owner"))
        contact, account = b.aux("contact").tolist(), b.aux("account").tolist()
        currency, value, status = b.aux("currency").tolist(), strs(b.aux("value")), b.aux("status").tolist()
        title_a, title_b = r.pick(ids, "adj", ADJECTIVES), r.pick(ids, "animal", ANIMALS)
        desc = r.pick(ids, "desc", ["", "", "Renewal", *TOPICS])
        percent = strs(r.ints(ids, "percent", 11) * 10)
        wp = r.ints(ids, "win", 101, version=v).tolist()
        has_wp = r.chance(ids, "has-win", 0.6).tolist()
        acts = strs(r.ints(ids, "acts", 12) + v)
        hashes = r.hexes(ids, "hash", 8)
        task = r.chance(ids, "task", 0.2).tolist()
        cdate, mdate = b.iso(b.ctime), b.iso(b.utime)
        soon = b.iso(b.utime + r.ints(ids, "next", 30 * 86_400, 3600))
        closed = b.naive(b.utime)
        links = self.link_objects(b.world, b.sids)
        out = []
        for i, sid in enumerate(b.sids):
            acc = str(account[i]) if account[i] else None
            out.append({
                "hash": hashes[i],
                "owner": owner[i],
                "contact": str(contact[i]) if contact[i] else None,
                "organization": acc,
                "group": group[i],
                "stage": str(stage[i]) if stage[i] else None,
                "title": f"{title_a[i]} {title_b[i]}",
                "description": desc[i],
                "percent": percent[i],
                "cdate": cdate[i],
                "mdate": mdate[i],
                "nextdate": soon[i] if task[i] else None,
                "nexttaskid": str(b.ids[i] * 3) if task[i] else None,
                "nextTask": None,
                "value": value[i],
                "currency": CURRENCIES[currency[i]],
                "winProbability": wp[i] if has_wp[i] else None,
                "winProbabilityMdate": mdate[i] if has_wp[i] else None,
                "status": str(status[i]),
                "activitycount": acts[i],
                "nextdealid": sid,
                "edate": closed[i] if status[i] else None,
                "links": links[i],
                "id": sid,
                "isDisabled": False,
                "account": acc,
                "customerAccount": acc,
            })
        return out

    def stubbed(self, world, table: Table, rows: np.ndarray, who: Principal) -> np.ndarray | None:
        return None if who.admin else ~who.manages(table.aux["group"][rows])

    def meta(self, world, table: Table, selected: np.ndarray, query) -> dict:
        cur, val = table.aux["currency"][selected], table.aux["value"][selected]
        currencies = {}
        for c in np.unique(cur).tolist():
            mask = cur == c
            code = CURRENCIES[c].upper()
            currencies[code] = {"total": str(int(mask.sum())), "value": str(int(val[mask].sum())),
                                "currency": code, "isDisabled": False}
        return {"currencies": currencies or [], "total": len(selected)}
