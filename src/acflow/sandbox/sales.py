"""Profiles of the sales team's records around deals: tasks, task types, notes, deal history,
secondary contacts, pipeline users, calendar feeds and saved responses.

Deal-side records follow their deal: a task's or history row's pipeline is its deal's, so the
restricted key (which manages odd-numbered pipelines only) does not see the others' (inferred
from how deals answer it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from acflow.sandbox.gen import TOPICS
from acflow.sandbox.profile import Batch, Profile, strs
from acflow.sandbox.relate import aux_of, pairs, refs, sid
from acflow.sandbox.table import Table

TASK_TYPES = ["Call", "Email", "Lunch", "Meeting", "Todo", "Deadline", "Demo", "Follow-up"]
TASK_TITLES = ["Call back", "Send proposal", "Book a demo", "Check in", "Prepare contract", "Intro call", ""]


class DealTaskTypes(Profile):
    """Call, Email, Lunch, Meeting are built in: null cdate and udate, as the reference shows."""

    name = "dealTasktypes"
    noun = "DealTasktype"
    default_size = 6
    links = None

    def build(self, b: Batch) -> list[dict[str, Any]]:
        cdate, udate = b.iso(b.ctime), b.iso(b.utime)
        out = []
        for i, rid in enumerate(b.ids):
            builtin = rid <= 4
            title = TASK_TYPES[(rid - 1) % len(TASK_TYPES)]
            out.append({
                "cdate": None if builtin else cdate[i], "defduration": "0" if builtin else "30", "id": b.sids[i],
                "links": [], "status": "0", "title": title if rid <= len(TASK_TYPES) else f"{title} {rid}",
                "udate": None if builtin else udate[i],
            })
        return out


class DealTasks(Profile):
    """Most on deals (reltype "Deal"), some on contacts ("Subscriber"); `owner` an object naming
    it; done tasks have status "1" and an edate. An update completes the task."""

    name = "dealTasks"
    noun = "DealTask"
    default_size = 400
    scale = ("deals", 1.0, 40_000)
    links = ("activities", "taskNotifications", "dealTasktype", "user", "assignee", "automation", "doneAutomation")
    depends = ("deals",)

    def aux(self, world, ids: np.ndarray) -> dict[str, np.ndarray]:
        r = world.rand(self.name)
        on_deal = ~r.chance(ids, "contact-task", 0.15)
        relid = np.where(on_deal, refs(r, ids, "deal", world.sizes["deals"]),
                         refs(r, ids, "contact", world.sizes["contacts"]))
        done = r.chance(ids, "done", 0.45)
        return {"relid": relid, "on_deal": on_deal.astype(np.int64), "done": done.astype(np.int64)}

    def on_update(self, world, table: Table, rows: np.ndarray) -> None:
        table.aux["done"][rows] = 1

    def pipelines(self, world, table: Table) -> np.ndarray:
        n = table.n
        groups = aux_of(world, "deals", table.aux["relid"][:n], "group")
        return np.where(table.aux["on_deal"][:n] == 1, groups, 0)

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        relid, on_deal, done = strs(b.aux("relid")), b.aux("on_deal").tolist(), b.aux("done").tolist()
        kind = strs(refs(r, ids, "type", w.sizes["dealTasktypes"]))
        owner = strs(refs(r, ids, "owner", w.sizes["users"]))
        assignee = strs(refs(r, ids, "assignee", w.sizes["users"]))
        title = r.pick(ids, "title", TASK_TITLES)
        note = r.pick(ids, "note", ["", "Ask about budget", "Send the pricing sheet", *TOPICS])
        due = b.iso(b.ctime + r.ints(ids, "due", 21 * 86_400, 3600))
        cdate, udate = b.iso(b.ctime), b.iso(b.utime)
        links = self.link_objects(w, b.sids)
        out = []
        for i in range(len(b.ids)):
            deal = on_deal[i] == 1
            out.append({
                "duedate": due[i], "edate": udate[i] if done[i] else None, "status": "1" if done[i] else "0",
                "title": title[i], "note": note[i], "relid": relid[i], "reltype": "Deal" if deal else "Subscriber",
                "d_tasktypeid": kind[i], "userid": owner[i], "assignee_userid": assignee[i], "cdate": cdate[i],
                "udate": udate[i], "automation": None, "doneAutomation": None, "user": owner[i],
                "assignee": assignee[i], "dealTasktype": kind[i],
                "owner": {"type": "deal" if deal else "contact", "id": relid[i]}, "links": links[i], "id": b.sids[i],
            })
        return out


NOTE_TEXTS = ["Called, left a voicemail.", "Wants a quote for 20 seats.", "Follow up after the holidays.",
              "Decision expected next quarter.", "Oh, hi Mark", "Prefers e-mail over phone.",
              "Met at the trade fair; interested in the annual plan.", "Budget approved!"]
NOTE_OWNERS = [("Deal", "deal", "deals"), ("Subscriber", "contact", "contacts"),
               ("CustomerAccount", "account", "accounts"), ("Activity", "activity", "activities")]


class Notes(Profile):
    """Notes on deals (most), contacts, accounts and activities; `owner` names what the note is on."""

    name = "notes"
    noun = "Note"
    default_size = 200
    scale = ("deals", 0.5, 20_000)
    links = ("activities", "user", "mentions", "notes", "owner")

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        u = r.unit(ids, "on")
        on = np.where(u < 0.6, 0, np.where(u < 0.85, 1, np.where(u < 0.95, 2, 3))).tolist()
        target = [refs(r, ids, f"rel-{entity}", w.sizes[entity]).tolist() for _, _, entity in NOTE_OWNERS]
        user = strs(refs(r, ids, "user", w.sizes["users"]))
        text = r.pick(ids, "text", NOTE_TEXTS, version=b.version)
        draft = r.chance(ids, "draft", 0.03).tolist()
        cdate, mdate = b.iso(b.ctime), b.iso(b.utime)
        links = self.link_objects(w, b.sids)
        out = []
        for i in range(len(b.ids)):
            reltype, kind, _ = NOTE_OWNERS[on[i]]
            rel = str(target[on[i]][i])
            out.append({
                "relid": rel, "reltype": reltype, "userid": user[i], "is_draft": "1" if draft[i] else "0",
                "cdate": cdate[i], "mdate": mdate[i], "note": text[i], "links": links[i], "id": b.sids[i],
                "user": user[i], "owner": {"type": kind, "id": rel},
            })
        return out


# (dataType, dataAction): what a history row records
DEAL_EVENTS = [("", "add"), ("contact", "add"), ("d_stageid", "update"), ("value", "update"), ("note", "add"),
               ("task", "add"), ("task", "complete"), ("email", "add"), ("owner", "update"), ("status", "update")]


class DealActivities(Profile):
    """Each deal's history in order: created, then stage moves, value changes, notes, tasks...
    `stage` null unless the row names one; ~3% deleted ("1")."""

    name = "dealActivities"
    noun = "DealActivity"
    default_size = 1600
    scale = ("deals", 4.0, 100_000)
    updated_share = 0.0
    deleted_share = 0.03
    links = ("deal", "stage", "user", "automation", "activity")
    depends = ("deals",)

    def aux(self, world, ids: np.ndarray) -> dict[str, np.ndarray]:
        return {"deal": refs(world.rand(self.name), ids, "deal", world.sizes["deals"])}

    def pipelines(self, world, table: Table) -> np.ndarray:
        return aux_of(world, "deals", table.aux["deal"][: table.n], "group")

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        deal = b.aux("deal")
        stage = aux_of(w, "deals", deal, "stage").tolist()
        event = r.ints(ids, "event", len(DEAL_EVENTS)).tolist()
        user = strs(refs(r, ids, "user", w.sizes["users"]))
        data_id = r.ints(ids, "data", 5000, 1).tolist()
        old = strs(r.ints(ids, "old", 5_000_000, 100))
        cdate = b.iso(b.ctime)
        deal_l = deal.tolist()
        links = self.link_objects(w, b.sids)
        out = []
        for i in range(len(b.ids)):
            dtype, action = DEAL_EVENTS[event[i]]
            moved = dtype == "d_stageid" and stage[i]
            out.append({
                "d_id": str(deal_l[i]), "d_stageid": str(stage[i]) if moved else "0", "userid": user[i],
                "dataId": "0" if not dtype else str(data_id[i]), "dataType": dtype, "dataAction": action,
                "dataOldval": old[i] if dtype in ("value", "d_stageid") else "", "cdate": cdate[i],
                "sortdate": cdate[i], "isAddtask": "1" if dtype == "task" and action == "add" else "0",
                "deleted": "1" if b.deleted[i] else "0", "seriesid": "0", "links": links[i], "id": b.sids[i],
                "deal": str(deal_l[i]), "stage": str(stage[i]) if moved else None, "user": user[i],
                "automation": None,
            })
        return out


class DealGroupUsers(Profile):
    """Which users work each pipeline, each pair once."""

    name = "dealGroupUsers"
    noun = "DealGroupUser"
    default_size = 12
    links = ("dealGroup", "user")

    def size_bounds(self, sizes: Mapping[str, int]) -> tuple[int, int | None]:
        return 0, sizes["dealGroups"] * sizes["users"]

    def aux(self, world, ids: np.ndarray) -> dict[str, np.ndarray]:
        r = world.rand(self.name)
        group, user = pairs(r, ids, world.sizes[self.name], world.sizes["dealGroups"], world.sizes["users"], "gu")
        return {"group": group, "user": user}

    def pipelines(self, world, table: Table) -> np.ndarray:
        return table.aux["group"][: table.n]

    def build(self, b: Batch) -> list[dict[str, Any]]:
        group, user, cdate = strs(b.aux("group")), strs(b.aux("user")), b.iso(b.ctime)
        links = self.link_objects(b.world, b.sids)
        return [{"dealGroup": group[i], "user": user[i], "cdate": cdate[i], "links": links[i], "id": b.sids[i]}
                for i in range(len(b.ids))]


class ContactDeals(Profile):
    """Secondary contacts of deals; `role` a deal role id (Contributor, Decision Maker) or null."""

    name = "contactDeals"
    noun = "ContactDeal"
    default_size = 120
    scale = ("deals", 0.3, 20_000)
    links = ("deal", "contact", "role")

    def size_bounds(self, sizes: Mapping[str, int]) -> tuple[int, int | None]:
        return 0, sizes["deals"] * sizes["contacts"]

    def aux(self, world, ids: np.ndarray) -> dict[str, np.ndarray]:
        r = world.rand(self.name)
        deal, contact = pairs(r, ids, world.sizes[self.name], world.sizes["deals"], world.sizes["contacts"], "cd")
        return {"deal": deal, "contact": contact}

    def build(self, b: Batch) -> list[dict[str, Any]]:
        r = b.world.rand(self.name)
        deal, contact = strs(b.aux("deal")), strs(b.aux("contact"))
        role = sid(refs(r, b.id_arr, "role", 2, none=0.5))
        cdate, cn, un = b.iso(b.ctime), b.naive(b.ctime), b.naive(b.utime)
        links = self.link_objects(b.world, b.sids)
        return [{
            "deal": deal[i], "contact": contact[i], "role": role[i], "cdate": cdate[i], "created_timestamp": cn[i],
            "updated_timestamp": un[i], "created_by": "1", "updated_by": "1", "links": links[i], "id": b.sids[i],
        } for i in range(len(b.ids))]


class Calendars(Profile):
    """Calendar feeds of users' tasks, each with its secret feed token."""

    name = "calendars"
    noun = "Calendar"
    default_size = 4
    links = ("calendarRels", "calendarUsers")

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        user = strs(refs(r, ids, "user", w.sizes["users"]))
        kind = r.pick(ids, "type", ["All", "Deals", "Contacts"])
        token, note = r.hexes(ids, "token"), r.chance(ids, "notify", 0.5).tolist()
        cdate, mdate = b.iso(b.ctime), b.iso(b.utime)
        links = self.link_objects(w, b.sids)
        return [{
            "userid": user[i], "title": f"{kind[i]} tasks", "type": kind[i], "token": token[i],
            "notification": "1" if note[i] else "0", "cdate": cdate[i], "mdate": mdate[i], "links": links[i],
            "id": b.sids[i],
        } for i in range(len(b.ids))]


class SavedResponses(Profile):
    """Saved e-mail answers; mdate and ldate null until edited or sent, as the reference shows."""

    name = "savedResponses"
    noun = "SavedResponse"
    default_size = 8
    null_update_share = 0.6
    links = ("user", "savedResponseCategorySavedResponse")

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        topic = r.pick(ids, "topic", TOPICS)
        sent = r.chance(ids, "sent", 0.5).tolist()
        user = strs(refs(r, ids, "user", w.sizes["users"]))
        cdate, mdate, ldate = b.iso(b.ctime), b.updated_iso(), b.iso(b.utime)
        links = self.link_objects(w, b.sids)
        return [{
            "title": f"{topic[i]} reply", "subject": f"Re: {topic[i]}",
            "body": f"Hi %FIRSTNAME%,\n\nThanks for asking about our {topic[i].lower()}.\n\nBest,\n%SENDER%",
            "ldate": ldate[i] if sent[i] else None, "last_sent_user_id": user[i] if sent[i] else None,
            "cdate": cdate[i], "mdate": mdate[i], "links": links[i], "id": b.sids[i],
        } for i in range(len(b.ids))]
