"""Profiles of the account's settings: user groups, brandings, webhooks, sender addresses,
configs, and conversions with their triggers and the contacts' conversions.

Groups, brandings and webhooks answer the restricted key 403 (catalog Access.ADMIN). Quirks
kept from the reference's examples: a branding's `links` is a 0/1 setting ("1"), not
sub-resource URLs; webhooks' dates carry the offset -00:00 and their `links` is [].
"""

from __future__ import annotations

from typing import Any

from acflow.catalog import CATALOG
from acflow.sandbox.gen import COMPANY_WORDS, TOPICS, company_names
from acflow.sandbox.profile import Batch, Profile, strs
from acflow.sandbox.relate import refs, sid

GROUPS = [("Admin", "This is a group for admin users (people that can manage content)"),
          ("Sales", "Sales reps: deals and contacts"), ("Marketing", None), ("Support", "Read-only support staff")]
# every permission flag of a group, from the catalog
PERMISSIONS = [c for c in CATALOG["groups"].columns if c.startswith("pg")]


class Groups(Profile):
    """User groups: Admin has every permission, the others a seeded share of them."""

    name = "groups"
    noun = "Group"
    default_size = 4
    links = ("userGroups", "groupLimit", "dealGroupGroups", "listGroups", "addressGroups", "automationGroups")

    def build(self, b: Batch) -> list[dict[str, Any]]:
        allowed_all = b.world.rand(self.name).ints(b.id_arr, "perm", 1 << 30).tolist()
        sdate = b.iso(b.ctime)
        links = self.link_objects(b.world, b.sids)
        out = []
        for i, rid in enumerate(b.ids):
            title, descript = GROUPS[(rid - 1) % len(GROUPS)]
            allowed = allowed_all[i]
            rec: dict[str, Any] = {"title": title if rid <= len(GROUPS) else f"{title} {rid}", "descript": descript,
                                   "unsubscribelink": "0", "optinconfirm": "0", "p_admin": "1" if rid == 1 else "0"}
            for j, perm in enumerate(PERMISSIONS):
                rec[perm] = "1" if rid == 1 or allowed >> (j % 30) & 1 else "0"
            rec.update({"sdate": sdate[i], "reqApproval": "0", "reqApproval1st": "2", "reqApprovalNotify": "",
                        "socialdata": "0", "links": links[i], "id": b.sids[i]})
            out.append(rec)
        return out


class Brandings(Profile):
    """One branding per user group; `links` is a 0/1 setting here ("1"), as the reference shows."""

    name = "brandings"
    noun = "Branding"
    default_size = 2

    def build(self, b: Batch) -> list[dict[str, Any]]:
        out = []
        for i, rid in enumerate(b.ids):
            site = f"{COMPANY_WORDS[rid % len(COMPANY_WORDS)]} Email Marketing"
            out.append({
                "groupid": str(rid), "siteName": site, "siteLogo": f"http://example.com/logo{rid}.jpg",
                "siteLogoSmall": f"http://example.com/logo{rid}_small.jpg", "headerTextValue": "",
                "headerHtmlValue": "", "footerTextValue": f"{site} - unsubscribe at any time",
                "footerHtmlValue": f"<p>{site}</p>", "copyright": "1", "version": "1", "license": "1", "links": "1",
                "help": "1", "adminTemplateHtm": "", "adminTemplateCss": "", "publicTemplateHtm": "",
                "publicTemplateCss": "", "favicon": None, "id": b.sids[i],
            })
        return out


WEBHOOK_EVENTS = ["subscribe", "unsubscribe", "sent", "open", "click", "bounce", "deal_add", "deal_update",
                  "contact_tag_added", "update"]
SOURCES = ["public", "admin", "api", "system"]


class Webhooks(Profile):
    """Webhooks with their events and sources; dates at offset -00:00, `links` an empty array."""

    name = "webhooks"
    noun = "Webhook"
    default_size = 3
    links = None

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        events, sources = r.ints(ids, "events", 1 << 10).tolist(), r.ints(ids, "sources", 15, 1).tolist()
        lst = strs(refs(r, ids, "list", w.sizes["lists"], none=0.6))
        naive = b.naive(b.ctime)
        return [{
            "cdate": naive[i].replace(" ", "T") + "-00:00", "listid": lst[i], "name": f"Hook {rid}",
            "url": f"https://hooks.example.com/ac/{rid}",
            "events": [e for j, e in enumerate(WEBHOOK_EVENTS) if events[i] >> j & 1] or ["subscribe"],
            "sources": [s for j, s in enumerate(SOURCES) if sources[i] >> j & 1], "links": [], "id": b.sids[i],
        } for i, rid in enumerate(b.ids)]


class Addresses(Profile):
    """Sender addresses for e-mail footers; the first is the default."""

    name = "addresses"
    noun = "Address"
    default_size = 3
    links = ("addressGroup", "addressList", "forms")

    def build(self, b: Batch) -> list[dict[str, Any]]:
        r = b.world.rand(self.name)
        names = company_names(r, b.id_arr)
        city = r.pick(b.id_arr, "city", [("Chicago", "IL", "60601", "US"), ("Berlin", "", "10115", "DE"),
                                         ("London", "", "EC1A 1BB", "GB")])
        links = self.link_objects(b.world, b.sids)
        return [{
            "companyName": names[i], "address1": f"{100 + rid} Main Street", "address2": "", "city": city[i][0],
            "state": city[i][1], "district": "", "zip": city[i][2], "country": city[i][3],
            "allgroup": "1" if rid == 1 else "0", "isDefault": "1" if rid == 1 else "0", "links": links[i],
            "id": b.sids[i],
        } for i, rid in enumerate(b.ids)]


CONFIG_KEYS = [("deals.pipeline.view", "deals", "view", "kanban"), ("contacts.list.columns", "contacts", "columns",
               '["email","firstName","lastName"]'), ("ui.theme", "ui", "theme", "light"),
               ("notifications.digest", "notifications", "digest", "daily")]


class Configs(Profile):
    """Settings as key/value rows per user."""

    name = "configs"
    noun = "Config"
    default_size = 12
    links = ("owner",)

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        user = strs(refs(r, ids, "user", w.sizes["users"]))
        cdate, udate, cn, un = b.iso(b.ctime), b.iso(b.utime), b.naive(b.ctime), b.naive(b.utime)
        links = self.link_objects(w, b.sids)
        out = []
        for i, rid in enumerate(b.ids):
            key, section, item, val = CONFIG_KEYS[(rid - 1) % len(CONFIG_KEYS)]
            out.append({
                "keyname": key, "section": section, "item": item, "userid": user[i], "val": val, "cdate": cdate[i],
                "udate": udate[i], "created_timestamp": cn[i], "updated_timestamp": un[i], "created_by": user[i],
                "updated_by": user[i], "links": links[i], "id": b.sids[i], "owner": user[i],
            })
        return out


class Conversions(Profile):
    """Conversions with a value in cents."""

    name = "conversions"
    noun = "Conversion"
    default_size = 4
    links = ("contactConversions",)

    def build(self, b: Batch) -> list[dict[str, Any]]:
        r = b.world.rand(self.name)
        topic = r.pick(b.id_arr, "topic", ["Purchase", "Demo booked", "Trial started", "Upgrade", *TOPICS])
        value, limit = strs(r.ints(b.id_arr, "value", 50) * 500), r.ints(b.id_arr, "limit", 3).tolist()
        cdate, udate = b.iso(b.ctime), b.iso(b.utime)
        links = self.link_objects(b.world, b.sids)
        return [{
            "name": topic[i], "value": value[i], "currency": "usd", "limit": str(limit[i]),
            "enforcelimit": "1" if limit[i] else "0", "cdate": cdate[i], "udate": udate[i], "links": links[i],
            "id": b.sids[i],
        } for i in range(len(b.ids))]


class ConversionTriggers(Profile):
    """What counts as each conversion: a page visit, an event, a purchase."""

    name = "conversionTriggers"
    noun = "ConversionTrigger"
    default_size = 6
    links = ("conversion", "automationBlock")

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        conv = strs(refs(r, ids, "conversion", w.sizes["conversions"]))
        kind = r.pick(ids, "kind", [("site_visit", "https://example.com/thanks"), ("event", "purchase"),
                                    ("deal_won", "")])
        cdate, udate = b.iso(b.ctime), b.iso(b.utime)
        block = sid(refs(r, ids, "block", w.sizes["automationBlocks"], none=0.5))
        links = self.link_objects(w, b.sids)
        return [{
            "conversion": conv[i], "triggerType": kind[i][0], "modifier": "equals" if kind[i][1] else "",
            "value": kind[i][1], "dynamic": "0", "retroactive": "1" if b.ids[i] % 3 == 0 else "0", "cdate": cdate[i],
            "udate": udate[i], "automationBlock": block[i], "links": links[i], "id": b.sids[i],
        } for i in range(len(b.ids))]


class ContactConversions(Profile):
    """Contacts' conversions with the value they brought."""

    name = "contactConversions"
    noun = "ContactConversion"
    default_size = 40
    updated_share = 0.0
    links = ("contact", "conversion", "conversionTrigger", "convertedBy")

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        contact = strs(refs(r, ids, "contact", w.sizes["contacts"]))
        conv = strs(refs(r, ids, "conversion", w.sizes["conversions"]))
        trig = strs(refs(r, ids, "trigger", w.sizes["conversionTriggers"]))
        block = strs(refs(r, ids, "block", w.sizes["automationBlocks"]))
        value = strs(r.ints(ids, "value", 50) * 500)
        cdate = b.iso(b.ctime)
        links = self.link_objects(w, b.sids)
        return [{
            "contact": contact[i], "conversion": conv[i], "conversionTrigger": trig[i], "convertedByType": "block",
            "convertedById": block[i], "triggerType": "event", "modifier": "equals", "value": value[i],
            "currency": "usd", "dynamic": "0", "cdate": cdate[i], "links": links[i], "id": b.sids[i],
            "convertedBy": block[i],
        } for i in range(len(b.ids))]
