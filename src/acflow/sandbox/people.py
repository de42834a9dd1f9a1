"""Profiles of people-side entities: users, accounts, contacts, lists, tags, custom fields and values.

Shapes, key order, nulls and zero dates follow the recordings in
shared/reference/recorded-payloads (see each class's docstring for the quirks kept).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from functools import cache
from typing import Any, ClassVar

import numpy as np

from acflow.sandbox.clock import ZERO_DATE, ZERO_DATETIME
from acflow.sandbox.gen import DOMAINS, FIRST_NAMES, LAST_NAMES, TOPICS, Rand, company_names, phones, slug
from acflow.sandbox.profile import Batch, Profile, strs

BOT_NAMES = ['=HYPERLINK("http://spam.example/win","Claim")', "+1 (555) WIN-CASH", "@SUM(1+1)*cmd|' /C calc'!A0",
             "-2+3+cmd|' /C notepad'!A1"]


@cache
def _ascii(text: str) -> str:
    return slug(unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode())


def account_names(r: Rand, ids: np.ndarray) -> list[str]:
    """Organisation names by account id; contacts' orgname uses the same function."""
    return company_names(r, ids, "account")


def contact_orgs(world, ids: np.ndarray) -> np.ndarray:
    """Each contact's account (organisation) id, 0 for none: ~30% of contacts have one."""
    r, n_acc = world.rand("contacts"), world.sizes["accounts"]
    return np.where(r.chance(ids, "has-org", 0.3) & (n_acc > 0), r.ints(ids, "org", max(n_acc, 1), 1), 0)


def contact_emails(world, ids: np.ndarray) -> list[str]:
    """Contacts' e-mail addresses by id ("" for the ~1% without one), as the contacts list sends them."""
    r = world.rand("contacts")
    first, last = r.pick(ids, "first", FIRST_NAMES), r.pick(ids, "last", LAST_NAMES)
    domain, none = r.pick(ids, "domain", DOMAINS), r.chance(ids, "no-email", 0.01).tolist()
    return ["" if none[i] else f"{_ascii(first[i])}.{_ascii(last[i])}{rid}@{domain[i]}"
            for i, rid in enumerate(np.asarray(ids).tolist())]


class Users(Profile):
    """User 1 is the admin (null cdate, zero-date password time); user 2 owns the restricted key."""

    name = "users"
    noun = "User"
    default_size = 6
    links = ("lists", "userGroup", "dealGroupTotals", "dealGroupUsers", "configs", "dealConnection",
             "userConversationsPermission", "seatUser")
    updated_share = 0.5

    def size_bounds(self, sizes: Mapping[str, int]) -> tuple[int, int | None]:
        return 2, None  # the admin key's user and the restricted key's user

    def build(self, b: Batch) -> list[dict[str, Any]]:
        r = b.world.rand(self.name)
        ids = b.id_arr
        first = r.pick(ids, "first", FIRST_NAMES)
        last = r.pick(ids, "last", LAST_NAMES)
        cdate, udate = b.iso(b.ctime), b.updated_iso()
        pw = r.ints(ids, "pw", 3).tolist()
        pw_time = b.naive(b.utime)  # "*_utc_timestamp" fields hold local time, as recorded
        sig = r.ints(ids, "sig", 2).tolist()
        mfa = r.chance(ids, "mfa", 0.3).tolist()
        links = self.link_objects(b.world, b.sids)
        out = []
        for i, rid in enumerate(b.ids):
            admin = rid == 1
            user = "admin" if admin else ("sales.rep" if rid == 2 else f"{_ascii(first[i])}{rid}")
            out.append({
                "username": user,
                "firstName": first[i],
                "lastName": last[i],
                "email": f"{_ascii(first[i])}.{_ascii(last[i])}@example.com",
                "phone": "",
                "signature": None if sig[i] else "",
                "localZoneid": b.world.user_zone if admin else b.world.clock.zone_name,
                "password_updated_utc_timestamp": ZERO_DATETIME if admin or pw[i] == 0
                else (None if pw[i] == 1 else pw_time[i]),
                "cdate": None if admin else cdate[i],
                "udate": udate[i],
                "mfaEnabled": "1" if mfa[i] else "0",
                "links": links[i],
                "id": b.sids[i],
            })
        return out


class Accounts(Profile):
    """Organisations; contactCount/dealCount as strings, timestamps ISO with offset."""

    name = "accounts"
    noun = "Account"
    default_size = 20
    links = ("accountCustomFieldData", "accountContacts", "notes", "owner")

    def build(self, b: Batch) -> list[dict[str, Any]]:
        r = b.world.rand(self.name)
        ids = b.id_arr
        names = account_names(r, ids)
        url = r.ints(ids, "url", 4).tolist()
        contacts = strs(r.ints(ids, "contacts", 400, version=b.version))
        deals = strs(r.ints(ids, "deals", 40, version=b.version))
        owner = strs(r.ints(ids, "owner", b.world.sizes["users"], 1))
        cdate, udate = b.iso(b.ctime), b.iso(b.utime)
        links = self.link_objects(b.world, b.sids)
        return [{
            "name": names[i],
            "accountUrl": None if url[i] == 0 else f"https://www.{slug(names[i])}.com",
            "createdTimestamp": cdate[i],
            "updatedTimestamp": udate[i],
            "contactCount": contacts[i],
            "dealCount": deals[i],
            "links": links[i],
            "id": b.sids[i],
            "owner": owner[i],
        } for i in range(len(b.ids))]


class Contacts(Profile):
    """~5% soft-deleted; null udate on some never-edited ones; `emailDomain` (unknown to the
    catalog, as one recording has it) on ~10%; zero dates in bounced_date, rating_tstamp,
    socialdata_lastcheck and deleted_at; `email_empty` a JSON bool. An update bumps udate and
    changes sentcnt, last_open_date and phone."""

    name = "contacts"
    noun = "Subscriber"
    default_size = 500
    links = ("bounceLogs", "contactAutomations", "contactData", "contactGoals", "contactLists",
             "contactLogs", "contactTags", "contactDeals", "deals", "fieldValues", "geoIps", "notes",
             "organization", "plusAppend", "trackingLogs", "scoreValues", "accountContacts",
             "automationEntryCounts")
    link_query: ClassVar[Mapping[str, str]] = {"contactAutomations": "limit=1000&orders%5Blastdate%5D=DESC"}
    updated_share = 0.55
    null_update_share = 0.15
    deleted_share = 0.05

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids, v = b.world, b.id_arr, b.version
        r = w.rand(self.name)
        n = len(ids)
        first = r.pick(ids, "first", FIRST_NAMES)
        last = r.pick(ids, "last", LAST_NAMES)
        # bots sign up through public forms with names a spreadsheet would run as formulas
        bot = r.chance(ids, "bot-signup", 0.005).tolist()
        bot_name = r.pick(ids, "bot-name", BOT_NAMES)
        domain = r.pick(ids, "domain", DOMAINS)
        no_email = r.chance(ids, "no-email", 0.01).tolist()
        phone = phones(r, ids * 7 + v)
        acc = contact_orgs(w, ids)
        acc_l = acc.tolist()
        orgname = account_names(w.rand("accounts"), acc)
        kind = r.ints(ids, "kinds", 1 << 30).tolist()  # one draw, many small choices
        bounced = r.chance(ids, "bounced", 0.02).tolist()
        sent = (r.ints(ids, "sent", 60) + v.astype(np.int64) * 2).tolist()
        hashes = r.hexes(ids, "hash")
        cdate = b.iso(b.ctime)
        udate = b.updated_iso()
        c_naive, u_naive = b.naive(b.ctime), b.naive(b.utime)
        later = b.ctime + (r.unit(ids, "later") * (w.clock.reference - b.ctime)).astype(np.int64)
        later_iso, later_day = b.iso(later), w.clock.dates(later)
        opened = b.iso(np.maximum(later, b.utime) + v.astype(np.int64))
        deleted_at = b.naive(b.dtime)
        hour = r.ints(ids, "hour", 24).tolist()
        creator = r.ints(ids, "creator", w.sizes["users"] + 1).tolist()
        links = self.link_objects(w, b.sids)
        out = []
        for i in range(n):
            k = kind[i]
            em = "" if no_email[i] else f"{_ascii(first[i])}.{_ascii(last[i])}{b.ids[i]}@{domain[i]}"
            org = acc_l[i]
            by = None if creator[i] == 0 or k & 1 else str(creator[i] - 1)
            rec = {
                "cdate": cdate[i],
                "email": em,
                "phone": phone[i],
                "firstName": bot_name[i] if bot[i] else first[i],
                "lastName": last[i],
                "orgid": str(org),
                "orgname": orgname[i] if org else "",
                "segmentio_id": "",
                "bounced_hard": "1" if bounced[i] and k & 2 else "0",
                "bounced_soft": "1" if bounced[i] and not k & 2 else "0",
                "bounced_date": later_day[i] if bounced[i] else (ZERO_DATE if k % 7 == 0 else None),
                "ip": "0",
                "ua": "" if k & 4 else None,
                "hash": hashes[i],
                "socialdata_lastcheck": ZERO_DATETIME if k % 5 == 0 else None,
                "email_local": "",
                "email_domain": domain[i] if k % 3 == 0 and em else "",
                "sentcnt": str(sent[i]),
                "rating_tstamp": ZERO_DATE if k % 11 == 0 else (later_day[i] if k % 11 == 1 else None),
                "gravatar": "3" if k % 17 == 0 else ("1" if k & 8 else "0"),  # "3" is real (8.13)
                "deleted": "1" if b.deleted[i] else "0",
                "anonymized": "0",
                "adate": later_iso[i] if k & 16 else None,
                "udate": udate[i],
                "edate": later_iso[i] if k % 13 == 0 else None,
                "deleted_at": deleted_at[i] if b.deleted[i] else (ZERO_DATETIME if k % 6 == 0 else None),
                "created_utc_timestamp": c_naive[i],  # local despite the name, as every recording shows
                "updated_utc_timestamp": u_naive[i],
                "created_timestamp": c_naive[i],
                "updated_timestamp": u_naive[i],
                "created_by": by,
                "updated_by": by,
                "email_empty": not em,
                "mpp_tracking": "1" if k & 32 else "0",
                "last_click_date": later_iso[i] if k & 64 else None,
                "last_open_date": opened[i] if k & 128 or v[i] else None,
                "last_mpp_open_date": "" if k & 256 else None,
                "best_send_hour": str(hour[i]) if k & 512 else "",
                "scoreValues": [],
                "accountContacts": [str(org)] if org else [],
                "links": links[i],
                "id": b.sids[i],
                "organization": str(org) if org else None,
                # fields of 2021-2026 responses (reference 8)
                "sms_consent": None if k & 1024 else ("1" if k & 2048 else "0"),
                "sms_consent_updated_at": later_iso[i] if k & 2048 and not k & 1024 else None,
                "whatsapp_id": None, "whatsapp_username": None, "sentiment": None,
                "emailDomain": domain[i] if em else "",
                "account": str(org) if org else None, "customerAccount": None,
            }
            if k % 10 == 9:  # a key the catalog does not know, as real accounts send newer ones
                rec["sandbox_newer_field"] = str(k % 100)
            out.append(rec)
        return out

    def meta(self, world, table, selected, query) -> dict:
        limit, offset = query.get("limit", "20"), query.get("offset", "0")
        cacheid = world.rand("contacts-meta").hexes(np.array([len(selected)]), "cache:" + str(sorted(query.items())))[0]
        return {
            "total": str(len(selected)),
            "sortable": True,
            "page_input": {
                "segmentid": 0, "formid": 0, "listid": 0, "tagid": 0,
                "limit": int(limit) if limit.isdigit() else 20,
                "offset": int(offset) if offset.isdigit() else 0,
                "search": None, "sort": None, "seriesid": 0, "waitid": 0, "status": -1,
                "forceQuery": 0, "cacheid": cacheid,
            },
        }

    def single_sideloads(self) -> dict[str, Any]:
        return {name: [] for name in ("contactAutomations", "contactLists", "deals", "fieldValues",
                                      "geoIps", "accountContacts")}


FIELD_TYPES = ["text", "textarea", "dropdown", "radio", "checkbox", "date", "datetime", "hidden", "listbox"]
FIELD_TITLES = ["Company Size", "Industry", "Lead Source", "Birthday", "T-Shirt Size", "Newsletter Topics",
                "Customer Since", "Account Tier", "Region", "Notes", "Job Title", "Referral Code"]


def field_kinds(world, ids: np.ndarray) -> list[str]:
    """A field's type by id; field values are drawn to match it."""
    return world.rand("fields").pick(ids, "type", FIELD_TYPES)


class Fields(Profile):
    """Contact custom fields; `options`/`relations` id arrays, meta carries `selected: null`."""

    name = "fields"
    noun = "Field"
    default_size = 8
    links = ("options", "relations")

    def build(self, b: Batch) -> list[dict[str, Any]]:
        r = b.world.rand(self.name)
        ids = b.id_arr
        kinds = field_kinds(b.world, ids)
        title = [FIELD_TITLES[(i - 1) % len(FIELD_TITLES)] + ("" if i <= len(FIELD_TITLES) else f" {i}")
                 for i in b.ids]
        flags = r.ints(ids, "flags", 64).tolist()
        cdate, udate = b.iso(b.ctime), b.iso(b.utime)
        cn, un = b.naive(b.ctime), b.naive(b.utime)
        links = self.link_objects(b.world, b.sids)
        return [{
            "title": title[i],
            "descript": None if flags[i] & 1 else f"{title[i]} of the contact",
            "type": kinds[i],
            "isrequired": "1" if flags[i] & 2 else "0",
            "perstag": slug(title[i]).upper().replace("-", "_"),
            "defval": None if flags[i] & 4 else "",
            "show_in_list": "1" if flags[i] & 8 else "0",
            "rows": "2" if kinds[i] == "textarea" else "0",
            "cols": "2" if kinds[i] == "textarea" else "0",
            "visible": "0" if kinds[i] == "hidden" else "1",
            "service": "",
            "ordernum": b.sids[i],
            "cdate": cdate[i],
            "udate": udate[i],
            "created_timestamp": cn[i],
            "updated_timestamp": un[i],
            "created_by": None if flags[i] & 16 else "1",
            "updated_by": None if flags[i] & 16 else "1",
            "options": [],
            "relations": [],
            "links": links[i],
            "id": b.sids[i],
        } for i in range(len(b.ids))]

    def meta(self, world, table, selected, query) -> dict:
        return {"total": str(len(selected)), "selected": None}


class FieldValues(Profile):
    """One row per (contact, field), spread evenly over the contacts; `owner` repeats the contact."""

    name = "fieldValues"
    noun = "FieldValue"
    default_size = 800

    links = ("owner", "field")

    def size_bounds(self, sizes: Mapping[str, int]) -> tuple[int, int | None]:
        return 0, sizes["contacts"] * sizes["fields"]  # one value per (contact, field) at most

    def aux(self, world, ids: np.ndarray) -> dict[str, np.ndarray]:
        n_fields = max(world.sizes["fields"], 1)
        n_contacts = max(world.sizes["contacts"], 1)
        slots = -(-world.sizes["fieldValues"] // n_fields)
        k = ids - 1
        seeded = ids <= world.sizes["fieldValues"]
        r = world.rand(self.name)
        contact = np.where(seeded, (k // n_fields) * n_contacts // max(slots, 1) + 1,
                           r.ints(ids, "contact", n_contacts, 1))
        field = np.where(seeded, k % n_fields + 1, r.ints(ids, "field", n_fields, 1))
        return {"contact": contact.astype(np.int64), "field": field.astype(np.int64)}

    def build(self, b: Batch) -> list[dict[str, Any]]:
        r = b.world.rand(self.name)
        ids, v = b.id_arr, b.version
        contact = strs(b.aux("contact"))
        field = b.aux("field")
        kinds = field_kinds(b.world, field)
        word = r.pick(ids, "word", TOPICS, version=v)
        num = r.ints(ids, "num", 500, 1, version=v).tolist()
        day = b.world.clock.dates(b.ctime - r.ints(ids, "day", 3000, version=v) * 86_400)
        cdate, udate = b.iso(b.ctime), b.iso(b.utime)
        fields = strs(field)
        links = self.link_objects(b.world, b.sids)
        out = []
        for i in range(len(b.ids)):
            kind = kinds[i]
            if kind in ("date", "datetime"):
                value = day[i] if kind == "date" else day[i] + " 09:00:00"
            elif kind in ("dropdown", "radio", "listbox"):
                value = f"Option {num[i] % 5 + 1}"
            elif kind == "checkbox":
                value = f"||Option {num[i] % 3 + 1}||Option {num[i] % 3 + 2}||"
            else:
                value = f"{word[i]} {num[i]}"
            out.append({
                "contact": contact[i],
                "field": fields[i],
                "value": value,
                "cdate": cdate[i],
                "udate": udate[i],
                "created_by": None,
                "updated_by": None,
                "links": links[i],
                "id": b.sids[i],
                "owner": contact[i],
            })
        return out


TAG_WORDS = ["customer", "lead", "vip", "newsletter", "webinar", "trial", "churned", "partner",
             "event-2025", "black-friday", "onboarding", "high-intent", "cold", "imported", "beta"]


class Tags(Profile):
    """Contact and template tags; no udate column (updated_timestamp carries changes)."""

    name = "tags"
    noun = "Tag"
    default_size = 30
    links = ("contactGoalTags",)

    def build(self, b: Batch) -> list[dict[str, Any]]:
        r = b.world.rand(self.name)
        ids = b.id_arr
        template = r.chance(ids, "template", 0.15).tolist()
        count = strs(r.ints(ids, "count", 5000, version=b.version))
        desc = r.chance(ids, "desc", 0.3).tolist()
        cdate, cn, un = b.iso(b.ctime), b.naive(b.ctime), b.naive(b.utime)
        links = self.link_objects(b.world, b.sids)
        out = []
        for i, rid in enumerate(b.ids):
            word = TAG_WORDS[(rid - 1) % len(TAG_WORDS)]
            tag = word if rid <= len(TAG_WORDS) else f"{word}-{rid}"
            out.append({
                "tagType": "template" if template[i] else "contact",
                "tag": tag,
                "description": f"Contacts tagged {tag}" if desc[i] else "",
                "subscriber_count": "0" if template[i] else count[i],
                "cdate": cdate[i],
                "created_timestamp": cn[i],
                "updated_timestamp": un[i],
                "created_by": None,
                "updated_by": None,
                "deleted": "0",
                "links": links[i],
                "id": b.sids[i],
            })
        return out


LIST_NAMES = ["Email Subscription", "Newsletter", "Customers", "Product Updates", "Webinar Attendees",
              "Partners", "Beta Testers", "Events", "Blog Digest", "Trial Users"]


class Lists(Profile):
    """Mailing lists: many "0"/"1" flags, null sender fields, `user` sometimes null."""

    name = "lists"
    noun = "List"
    default_size = 8
    links = ("contactGoalLists", "user", "addressLists")
    null_update_share = 0.3

    def build(self, b: Batch) -> list[dict[str, Any]]:
        r = b.world.rand(self.name)
        ids = b.id_arr
        flags = r.ints(ids, "flags", 1 << 16).tolist()
        owner = r.ints(ids, "owner", b.world.sizes["users"] + 1).tolist()
        cdate, udate = b.iso(b.ctime), b.updated_iso()
        cn, un = b.naive(b.ctime), b.naive(b.utime)
        links = self.link_objects(b.world, b.sids)
        out = []
        for i, rid in enumerate(b.ids):
            f = flags[i]
            name = LIST_NAMES[(rid - 1) % len(LIST_NAMES)] + ("" if rid <= len(LIST_NAMES) else f" {rid}")
            user = str(owner[i]) if owner[i] else None
            out.append({
                "stringid": slug(name), "userid": user or "0", "name": name, "cdate": cdate[i],
                "p_use_tracking": "1", "p_use_analytics_read": _bit(f, 0), "p_use_analytics_link": _bit(f, 1),
                "p_use_twitter": "0", "p_use_facebook": "0", "p_embed_image": _bit(f, 2),
                "p_use_captcha": _bit(f, 3), "send_last_broadcast": _bit(f, 4), "private": _bit(f, 5),
                "analytics_domains": None, "analytics_source": "", "analytics_ua": "", "twitter_token": "",
                "twitter_token_secret": "", "facebook_session": None, "carboncopy": None,
                "subscription_notify": None, "unsubscription_notify": None, "require_name": _bit(f, 6),
                "get_unsubscribe_reason": _bit(f, 7), "to_name": "Subscriber", "optinoptout": "1",
                "sender_name": "", "sender_addr1": "", "sender_addr2": "", "sender_city": "",
                "sender_state": "", "sender_zip": "", "sender_country": "", "sender_phone": "",
                "sender_url": "https://example.com", "sender_reminder": "You signed up on our website.",
                "fulladdress": None if f & 256 else "", "optinmessageid": "0", "optoutconf": "0",
                "deletestamp": None, "udate": udate[i], "created_timestamp": cn[i],
                "updated_timestamp": un[i], "created_by": user, "updated_by": user,
                "links": links[i], "id": b.sids[i], "user": user,
                "active_subscribers": str(rid * 37 % 500), "non_deleted_subscribers": str(rid * 37 % 500 + rid),
                "channel": "email", "description": None if f & 512 else "",
            })
        return out


def _bit(flags: int, i: int) -> str:
    return "1" if flags >> i & 1 else "0"
