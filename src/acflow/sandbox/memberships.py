"""Profiles of what contacts belong to: lists, tags, automations, scores, accounts, their data.

Memberships are laid out so a contact is on a list, under a tag or in an automation at most once
(relate.pairs); shapes and quirks follow the API reference's examples and the one recorded
real membership (contacts/sourcelab-single-1.json: unsubreason "", udate null, sync "0").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from acflow.sandbox.clock import ZERO_DATETIME
from acflow.sandbox.people import contact_orgs
from acflow.sandbox.profile import Batch, Profile, strs
from acflow.sandbox.relate import pairs, refs, sid
from acflow.sandbox.table import Table

UNSUB_REASONS = ["", "", "Too many e-mails", "No longer relevant", "I never signed up", "Other"]


class ContactLists(Profile):
    """Mostly subscribed ("1"); ~12% unsubscribed ("2", udate set, sometimes through a campaign);
    a few bounced ("3") and unconfirmed ("0"). An update unsubscribes a subscriber (or resubscribes)."""

    name = "contactLists"
    noun = "ContactList"
    default_size = 750
    scale = ("contacts", 1.5, 30_000)
    links = ("automation", "list", "contact", "form", "autosyncLog", "campaign", "unsubscribeAutomation", "message")

    def size_bounds(self, sizes: Mapping[str, int]) -> tuple[int, int | None]:
        return 0, sizes["contacts"] * sizes["lists"]

    def aux(self, world, ids: np.ndarray) -> dict[str, np.ndarray]:
        r = world.rand(self.name)
        contact, lst = pairs(r, ids, world.sizes[self.name], world.sizes["contacts"], world.sizes["lists"], "cl")
        u = r.unit(ids, "status")
        status = np.where(u < 0.03, 0, np.where(u < 0.15, 2, np.where(u < 0.17, 3, 1)))
        return {"contact": contact, "list": lst, "status": status.astype(np.int64)}

    def on_update(self, world, table: Table, rows: np.ndarray) -> None:
        status = table.aux["status"]
        status[rows] = np.where(status[rows] == 1, 2, 1)

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        status = b.aux("status").tolist()
        contact, lst = strs(b.aux("contact")), strs(b.aux("list"))
        form = sid(refs(r, ids, "form", w.sizes["forms"], none=0.8))
        campaign = refs(r, ids, "campaign", w.sizes["campaigns"], none=0.4)
        reason = r.pick(ids, "reason", UNSUB_REASONS, version=b.version)
        source = strs(r.ints(ids, "source", 9))
        ip = strs(r.ints(ids, "ip", 4_000_000_000, 16_777_216))
        kind = r.ints(ids, "kind", 1 << 20).tolist()
        sdate, udate = b.iso(b.ctime), b.iso(b.utime)
        cn, un = b.naive(b.ctime), b.naive(b.utime)
        links = self.link_objects(w, b.sids)
        out = []
        for i, s in enumerate(status):
            k, left = kind[i], s in (2, 3)
            via = str(campaign[i]) if s == 2 and campaign[i] else None
            out.append({
                "contact": contact[i], "list": lst[i], "form": form[i], "seriesid": "0",
                "sdate": sdate[i], "udate": udate[i] if left else None, "status": str(s),
                "responder": "1", "sync": "1" if k & 1 else "0",
                "unsubreason": reason[i] if s == 2 else ("" if k & 2 else None),
                "campaign": via, "message": str(int(via) * 2) if via else None,
                "first_name": "", "last_name": "", "ip4Sub": ip[i] if k & 4 else "0", "sourceid": source[i],
                "autosyncLog": None, "ip4_last": ip[i] if k & 4 else "0", "ip4Unsub": ip[i] if left and k & 8 else "0",
                "created_timestamp": cn[i], "updated_timestamp": un[i], "created_by": None, "updated_by": None,
                "unsubscribeAutomation": None, "links": links[i], "id": b.sids[i],
                "automation": str(k % 7 + 1) if k % 11 == 0 else None,
            })
        return out


class ContactTags(Profile):
    """A contact carries a tag at most once; cdate ISO beside the naive created_timestamp."""

    name = "contactTags"
    noun = "ContactTag"
    default_size = 1000
    scale = ("contacts", 2.0, 40_000)
    links = ("contact", "tag")
    updated_share = 0.1

    def size_bounds(self, sizes: Mapping[str, int]) -> tuple[int, int | None]:
        return 0, sizes["contacts"] * sizes["tags"]

    def aux(self, world, ids: np.ndarray) -> dict[str, np.ndarray]:
        r = world.rand(self.name)
        contact, tag = pairs(r, ids, world.sizes[self.name], world.sizes["contacts"], world.sizes["tags"], "ct")
        return {"contact": contact, "tag": tag}

    def build(self, b: Batch) -> list[dict[str, Any]]:
        r = b.world.rand(self.name)
        by = r.chance(b.id_arr, "by", 0.3).tolist()
        contact, tag = strs(b.aux("contact")), strs(b.aux("tag"))
        cdate, cn, un = b.iso(b.ctime), b.naive(b.ctime), b.naive(b.utime)
        links = self.link_objects(b.world, b.sids)
        return [{
            "contact": contact[i], "tag": tag[i], "cdate": cdate[i], "created_timestamp": cn[i],
            "updated_timestamp": un[i], "created_by": "1" if by[i] else None, "updated_by": "1" if by[i] else None,
            "links": links[i], "id": b.sids[i],
        } for i in range(len(b.ids))]


AUTOMATION_NAMES = ["Welcome Series", "Abandoned Cart", "Lead Scoring", "Re-engagement", "Birthday Greeting",
                    "Webinar Follow-up", "Trial Nurture", "Post-purchase", "Deal Won Handover", "Newsletter Signup"]


class Automations(Profile):
    """`status` a JSON number (as the 2025 reference example), counters strings; meta carries
    `starts`, `filtered` and `smsLogs`. An update lets more contacts in and out."""

    name = "automations"
    noun = "Automation"
    default_size = 12
    links = ("campaigns", "contactGoals", "contactAutomations", "blocks", "goals", "sms", "sitemessages", "triggers")

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids, v = b.world, b.id_arr, b.version.astype(np.int64)
        r = w.rand(self.name)
        entered = r.ints(ids, "entered", 3000) + v * 7
        exited = (entered * r.unit(ids, "exited")).astype(np.int64)
        owner = strs(refs(r, ids, "owner", w.sizes["users"]))
        kind = r.ints(ids, "kind", 1 << 16).tolist()
        cdate, mdate = b.iso(b.ctime), b.iso(b.utime)
        links = self.link_objects(w, b.sids)
        out = []
        for i, rid in enumerate(b.ids):
            k = kind[i]
            name = AUTOMATION_NAMES[(rid - 1) % len(AUTOMATION_NAMES)]
            out.append({
                "name": name if rid <= len(AUTOMATION_NAMES) else f"{name} {rid}",
                "cdate": cdate[i], "mdate": mdate[i], "userid": owner[i], "status": 2 if k % 4 == 0 else 1,
                "entered": str(entered[i]), "exited": str(exited[i]), "hidden": "1" if k % 13 == 0 else "0",
                "defaultscreenshot": "http://img-us1.com/default-series.gif",
                "screenshot": f"https://d226aj4ao1t61q.cloudfront.net/{k:x}_automation.png",
                "entitlements_violation": "0", "source": "0", "description": None if k & 1 else "",
                "exit_on_unsubscribe": "1" if k & 2 else "0", "exit_on_conversion": "1" if k & 4 else "0",
                "multientry": "1" if k & 8 else "0", "links": links[i], "id": b.sids[i],
            })
        return out

    def meta(self, world, table, selected, query) -> dict:
        starts = [{"id": str(2 * int(i)), "series": str(int(i)), "type": "subscribe"}
                  for i in table.ids[selected[:3]].tolist()]
        return {"total": str(len(selected)), "starts": starts, "filtered": False, "smsLogs": []}


class ContactAutomations(Profile):
    """Contacts in automations: `completed` and `completeValue` JSON numbers, the rest strings;
    remdate null while the contact is still in. An update moves the contact one step on."""

    name = "contactAutomations"
    noun = "ContactAutomation"
    default_size = 600
    scale = ("contacts", 1.2, 25_000)
    links = ("automation", "contact", "contactGoals")

    def size_bounds(self, sizes: Mapping[str, int]) -> tuple[int, int | None]:
        return 0, sizes["contacts"] * sizes["automations"]

    def aux(self, world, ids: np.ndarray) -> dict[str, np.ndarray]:
        r = world.rand(self.name)
        contact, auto = pairs(r, ids, world.sizes[self.name], world.sizes["contacts"], world.sizes["automations"], "ca")
        return {"contact": contact, "automation": auto}

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids, v = b.world, b.id_arr, b.version.astype(np.int64)
        r = w.rand(self.name)
        total = r.ints(ids, "steps", 9, 1)
        done = np.minimum(total, r.ints(ids, "done", 10) + v)
        contact, auto = strs(b.aux("contact")), strs(b.aux("automation"))
        failed = r.chance(ids, "failed", 0.02).tolist()
        adddate, lastdate = b.iso(b.ctime), b.iso(b.utime)
        total_l, done_l = total.tolist(), done.tolist()
        links = self.link_objects(w, b.sids)
        out = []
        for i in range(len(b.ids)):
            finished = done_l[i] >= total_l[i]
            out.append({
                "contact": contact[i], "seriesid": auto[i], "startid": "0",
                "status": "0" if failed[i] else ("2" if finished else "1"), "batchid": None,
                "adddate": adddate[i], "remdate": lastdate[i] if finished or failed[i] else None,
                "timespan": str(int(b.utime[i] - b.ctime[i]) // 86_400), "lastblock": str(done_l[i] + 1),
                "lastlogid": str(b.ids[i] * 3 + done_l[i]), "lastdate": lastdate[i],
                "completedElements": str(done_l[i]), "totalElements": str(total_l[i]),
                "completed": 1 if finished else 0, "completeValue": done_l[i] * 100 // total_l[i],
                "links": links[i], "id": b.sids[i], "automation": auto[i],
            })
        return out

    def meta(self, world, table, selected, query) -> dict:
        return {"total": str(len(selected)), "showcase_stats": []}


BLOCK_TYPES = [{"type": "start"}, {"type": "send", "campaignid": None}, {"type": "wait", "days": 2},
               {"type": "if", "logic": "and"}, {"type": "tag", "tagid": None}, {"type": "goal"}, []]


class AutomationBlocks(Profile):
    """The steps of each automation in order; `params` an object (or [] for an empty one); ~4% deleted
    ("1"), soft deletes as contacts have."""

    name = "automationBlocks"
    noun = "AutomationBlock"
    default_size = 70
    deleted_share = 0.04
    links = ("automation", "parent")

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        auto = refs(r, ids, "automation", w.sizes["automations"]).tolist()
        kind = r.ints(ids, "kind", len(BLOCK_TYPES)).tolist()
        cdate, mdate = b.iso(b.ctime), b.iso(b.utime)
        links = self.link_objects(w, b.sids)
        out = []
        for i, rid in enumerate(b.ids):
            params: Any = BLOCK_TYPES[kind[i]]
            if isinstance(params, dict) and None in params.values():
                params = {k: (str(rid % 9 + 1) if val is None else val) for k, val in params.items()}
            out.append({
                "automation": str(auto[i]), "parent": str(rid - 1) if kind[i] else "0", "ordernum": str(rid % 12),
                "params": params, "deleted": "1" if b.deleted[i] else "0", "cdate": cdate[i], "mdate": mdate[i],
                "links": links[i], "id": b.sids[i],
            })
        return out


class Goals(Profile):
    """Automation goals, each on a block of its automation."""

    name = "goals"
    noun = "Goal"
    default_size = 8
    links = ("automation", "automationBlock")

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        auto = strs(refs(r, ids, "automation", w.sizes["automations"]))
        block = strs(refs(r, ids, "block", w.sizes["automationBlocks"]))
        topic = r.pick(ids, "topic", ["Purchased", "Booked a demo", "Opened 3 e-mails", "Replied", "Upgraded"])
        cdate = b.iso(b.ctime)
        links = self.link_objects(w, b.sids)
        return [{
            "blockid": block[i], "seriesid": auto[i], "name": topic[i], "cdate": cdate[i], "dirty_stats": "0",
            "links": links[i], "id": b.sids[i], "automation": auto[i], "automationBlock": block[i],
        } for i in range(len(b.ids))]


SCORE_NAMES = ["Link Engagement Score", "Easy Targets", "Lead Score", "Deal Health", "Webinar Interest",
               "Product Fit"]


class Scores(Profile):
    """Scoring rules of contacts and deals; `links` an empty array, as the reference shows."""

    name = "scores"
    noun = "Score"
    default_size = 6
    links = None

    def build(self, b: Batch) -> list[dict[str, Any]]:
        r = b.world.rand(self.name)
        active = r.chance(b.id_arr, "active", 0.85).tolist()
        cdate, mdate = b.iso(b.ctime), b.iso(b.utime)
        out = []
        for i, rid in enumerate(b.ids):
            name = SCORE_NAMES[(rid - 1) % len(SCORE_NAMES)]
            out.append({
                "reltype": "deal" if name == "Deal Health" else "contact",
                "name": name if rid <= len(SCORE_NAMES) else f"{name} {rid}",
                "descript": f"+{(rid * 10) % 50 + 10} points when the contact engages",
                "status": "1" if active[i] else "0", "cdate": cdate[i], "mdate": mdate[i], "links": [],
                "id": b.sids[i],
            })
        return out


class ScoreValues(Profile):
    """Points of each contact under each score, at most one row per pair; deal scores name a deal."""

    name = "scoreValues"
    noun = "ScoreValue"
    default_size = 500
    scale = ("contacts", 1.0, 20_000)
    links = ("score", "contact", "deal")

    def size_bounds(self, sizes: Mapping[str, int]) -> tuple[int, int | None]:
        return 0, sizes["contacts"] * sizes["scores"]

    def aux(self, world, ids: np.ndarray) -> dict[str, np.ndarray]:
        r = world.rand(self.name)
        contact, score = pairs(r, ids, world.sizes[self.name], world.sizes["contacts"], world.sizes["scores"], "sv")
        return {"contact": contact, "score": score}

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        contact, score = strs(b.aux("contact")), b.aux("score").tolist()
        deal = sid(refs(r, ids, "deal", w.sizes["deals"]))
        points = strs(r.ints(ids, "points", 200, version=b.version) // 10 * 10)
        cdate, mdate = b.iso(b.ctime), b.iso(b.utime)
        links = self.link_objects(w, b.sids)
        return [{
            "score": str(score[i]), "contact": contact[i],
            "deal": deal[i] if SCORE_NAMES[(score[i] - 1) % len(SCORE_NAMES)] == "Deal Health" else None,
            "cdate": cdate[i], "mdate": mdate[i], "scoreValue": points[i], "links": links[i], "id": b.sids[i],
        } for i in range(len(b.ids))]


CITIES = [("US", "United States", "IL", "Chicago", "60601", "America/Chicago", "-6.00", "41.878100", "-87.629800"),
          ("US", "United States", "NY", "New York", "10001", "America/New_York", "-5.00", "40.712800", "-74.006000"),
          ("DE", "Germany", "BE", "Berlin", "10115", "Europe/Berlin", "1.00", "52.520000", "13.405000"),
          ("GB", "United Kingdom", "ENG", "London", "EC1A", "Europe/London", "0.00", "51.507400", "-0.127800")]


class ContactData(Profile):
    """One row per contact (ids in step with contacts'); most never geolocated: "" and "0"
    values, a zero date in created_timestamp, as the reference's example shows."""

    name = "contactData"
    noun = "ContactDatum"
    default_size = 500
    scale = ("contacts", 1.0, 1_000_000)
    links = None

    def size_bounds(self, sizes: Mapping[str, int]) -> tuple[int, int | None]:
        return 0, sizes["contacts"]

    def aux(self, world, ids: np.ndarray) -> dict[str, np.ndarray]:
        seeded = ids <= world.sizes[self.name]
        other = world.rand(self.name).ints(ids, "contact", max(world.sizes["contacts"], 1), 1)
        return {"contact": np.where(seeded, ids, other).astype(np.int64)}

    def build(self, b: Batch) -> list[dict[str, Any]]:
        r = b.world.rand(self.name)
        ids = b.id_arr
        geo = r.chance(ids, "geo", 0.35).tolist()
        city = r.ints(ids, "city", len(CITIES)).tolist()
        ga = r.chance(ids, "ga", 0.2).tolist()
        visits = strs(r.ints(ids, "visits", 40, 1, version=b.version))
        tstamp, un = b.iso(b.utime), b.naive(b.utime)
        contact = strs(b.aux("contact"))
        out = []
        for i in range(len(b.ids)):
            c = CITIES[city[i]] if geo[i] else ("", "", "", "", "", "", "0.00", "0.000000", "0.000000")
            out.append({
                "contact": contact[i], "tstamp": tstamp[i], "geoTstamp": tstamp[i] if geo[i] else None,
                "geoIp4": str(3_000_000_000 + b.ids[i]) if geo[i] else "0", "geoCountry2": c[0], "geo_country": c[1],
                "geoState": c[2], "geoCity": c[3], "geoZip": c[4], "geoArea": "0", "geoLat": c[7], "geoLon": c[8],
                "geoTz": c[5], "geoTzOffset": c[6],
                "ga_campaign_source": "google" if ga[i] else "", "ga_campaign_name": "spring-sale" if ga[i] else "",
                "ga_campaign_medium": "cpc" if ga[i] else "", "ga_campaign_term": "", "ga_campaign_content": "",
                "ga_campaign_customsegment": "", "ga_first_visit": tstamp[i] if ga[i] else None,
                "ga_times_visited": visits[i] if ga[i] else "0", "fb_id": "0", "fb_name": "", "tw_id": "0",
                "created_timestamp": ZERO_DATETIME if not geo[i] else un[i],
                "updated_timestamp": ZERO_DATETIME if not geo[i] else un[i],
                "created_by": "0", "updated_by": "0", "links": [], "id": b.sids[i],
            })
        return out


JOB_TITLES = ["Product Manager", "CEO", "Head of Marketing", "Sales Director", "Engineer", "Office Manager",
              "", "Founder", "Buyer", "Consultant"]


class AccountContacts(Profile):
    """One row per contact that has an account (the contacts' orgid, so both agree); meta carries
    the `queryLog` SQL timings the reference's example shows."""

    name = "accountContacts"
    noun = "AccountContact"
    default_size = 150
    scale = ("contacts", 0.3, 300_000)  # about the contacts that have an account
    links = ("account", "contact")

    def size_bounds(self, sizes: Mapping[str, int]) -> tuple[int, int | None]:
        return 0, sizes["contacts"]

    def aux(self, world, ids: np.ndarray) -> dict[str, np.ndarray]:
        n = world.sizes["contacts"]
        every = np.arange(1, n + 1, dtype=np.int64)
        org = contact_orgs(world, every)
        members = every[org > 0]
        r = world.rand(self.name)
        k = np.asarray(ids, dtype=np.int64) - 1
        seeded = k < len(members)
        contact = np.where(seeded, members[np.clip(k, 0, max(len(members) - 1, 0))] if len(members) else 0,
                           r.ints(ids, "contact", max(n, 1), 1))
        account = np.where(seeded, org[np.clip(contact - 1, 0, max(n - 1, 0))] if n else 0,
                           r.ints(ids, "account", max(world.sizes["accounts"], 1), 1))
        return {"contact": contact.astype(np.int64), "account": account.astype(np.int64)}

    def build(self, b: Batch) -> list[dict[str, Any]]:
        r = b.world.rand(self.name)
        title = r.pick(b.id_arr, "title", JOB_TITLES, version=b.version)
        account, contact = strs(b.aux("account")), strs(b.aux("contact"))
        cdate, udate = b.iso(b.ctime), b.iso(b.utime)
        links = self.link_objects(b.world, b.sids)
        return [{
            "account": account[i], "contact": contact[i], "jobTitle": title[i], "createdTimestamp": cdate[i],
            "updatedTimestamp": udate[i], "links": links[i], "id": b.sids[i],
        } for i in range(len(b.ids))]

    def meta(self, world, table, selected, query) -> dict:
        count = "SELECT  COUNT(DISTINCT t.id) AS `__count` FROM em_customer_account_subscriber t   WHERE 1"
        rows = f"SELECT  t.* FROM em_customer_account_subscriber t   WHERE 1 LIMIT {query.get('offset', '0')}, " \
               f"{query.get('limit', '20')}"
        queries = [{"stmt": count, "time": 0.3669261932373}, {"stmt": rows, "time": 0.17809867858887}]
        return {"total": str(len(selected)), "queryLog": {"queries": queries, "by_time": queries,
                                                          "total": 0.54502487182617, "mode": "read/write"}}
