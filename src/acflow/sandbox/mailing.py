"""Profiles of e-mail content and e-mail activity: messages, templates, campaign links, lists and
messages of campaigns, sends, bounces, the contacts' activity stream, one-to-one e-mails, SMS and
site messages.

Campaign links come in runs under their campaign, the first of each the read tracker ("open"),
with unique clicks never above the total. Activities are immutable events whose time
(`tstamp`) is their creation: the account-wide list takes `after=` and `orders[tstamp]`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from acflow.sandbox.gen import FIRST_NAMES, TOPICS, slug
from acflow.sandbox.people import contact_emails
from acflow.sandbox.profile import Batch, Profile, strs
from acflow.sandbox.relate import aux_of, pairs, refs, runs

SENDERS = [("John Doe", "noreply@example.com"), ("Sales Team", "sales@example.com"),
           ("Anna from Acme", "anna@acme.io"), ("Support", "support@example.org")]


def _html(subject: str, body: str) -> str:
    return ('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
            '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n<html lang="en"><head>'
            '<meta http-equiv="Content-Type" content="text/html; charset=utf-8"><title>Preview</title></head>'
            f'<body style="font-family: Arial;"><h1>{subject}</h1><p>{body}</p>'
            '<p><a href="%UNSUBSCRIBELINK%">Unsubscribe</a></p></body></html>')


class Messages(Profile):
    """E-mail messages; `text` and `html` carry personalisation tags (%FIRSTNAME%) as stored."""

    name = "messages"
    noun = "Message"
    default_size = 60
    links = ("user",)

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        topic, sender = r.pick(ids, "topic", TOPICS), r.ints(ids, "sender", len(SENDERS)).tolist()
        user = strs(refs(r, ids, "user", w.sizes["users"]))
        v2, named = r.chance(ids, "v2", 0.7).tolist(), r.chance(ids, "named", 0.4).tolist()
        cdate, mdate = b.iso(b.ctime), b.iso(b.utime)
        links = self.link_objects(w, b.sids)
        out = []
        for i in range(len(b.ids)):
            subject = f"{topic[i]}: what's new, %FIRSTNAME%"
            body = f"Hello %FIRSTNAME%, here is our {topic[i].lower()}."
            name, address = SENDERS[sender[i]]
            out.append({
                "userid": user[i], "ed_instanceid": b.sids[i] if v2[i] else "0", "ed_version": "2" if v2[i] else "1",
                "cdate": cdate[i], "mdate": mdate[i], "name": topic[i] if named[i] else "", "fromname": name,
                "fromemail": address, "reply2": "" if sender[i] else "hello@example.com", "priority": "3",
                "charset": "utf-8", "encoding": "quoted-printable" if v2[i] else "8bit", "format": "mime",
                "subject": subject, "preheader_text": "", "text": f" \n\n{body}\n\nUnsubscribe <%UNSUBSCRIBELINK%>",
                "html": _html(subject, body), "links": links[i], "id": b.sids[i],
            })
        return out


class Templates(Profile):
    """E-mail templates; `mdate` naive local time (unlike most dates), `links` an empty array."""

    name = "templates"
    noun = "Template"
    default_size = 10
    links = None

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        topic, user = r.pick(ids, "topic", TOPICS), strs(refs(r, ids, "user", w.sizes["users"]))
        flags = r.ints(ids, "flags", 64).tolist()
        mdate = b.naive(b.utime)
        out = []
        for i in range(len(b.ids)):
            f = flags[i]
            out.append({
                "userid": user[i], "ed_instanceid": "0", "ed_version": "2" if f & 1 else "0",
                "name": f"{topic[i]} template", "subject": None if f & 2 else topic[i],
                "content": _html(topic[i], "Your content here."), "categoryid": str(f % 4 + 1),
                "used": str(f % 9), "waitpreview": "1" if f & 4 else "0", "importnum": "0", "mdate": mdate[i],
                "preview_content": None, "modified": "1" if f & 8 else "0", "hidden": "1" if f & 16 else "0",
                "screenshot": f"https://sandbox.img-us1.com/templates/{b.sids[i]}.png", "links": [], "id": b.sids[i],
            })
        return out


class Links(Profile):
    """Each campaign's tracked links in a run, the first its read tracker ("open", "Read Tracker");
    counts grow with each update (more clicks)."""

    name = "links"
    noun = "Link"
    default_size = 200
    scale = ("campaigns", 5.0, 50_000)
    links = ("campaign", "message")

    def aux(self, world, ids: np.ndarray) -> dict[str, np.ndarray]:
        campaign, pos = runs(ids, world.sizes[self.name], world.sizes["campaigns"], world.rand(self.name), "lk")
        return {"campaign": campaign, "pos": pos}

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids, v = b.world, b.id_arr, b.version.astype(np.int64)
        r = w.rand(self.name)
        campaign, pos = b.aux("campaign").tolist(), b.aux("pos").tolist()
        unique = r.ints(ids, "unique", 400) + v * 3
        total = unique + (unique * r.unit(ids, "repeat")).astype(np.int64)
        page = r.pick(ids, "page", ["pricing", "blog/spring-update", "webinar", "shop", "contact", "docs"])
        cn, un = b.naive(b.ctime), b.naive(b.utime)
        links = self.link_objects(w, b.sids)
        out = []
        for i in range(len(b.ids)):
            tracker, message = pos[i] == 0, str(campaign[i] * 2)
            out.append({
                "campaignid": str(campaign[i]), "messageid": message if not tracker or b.ids[i] % 2 else "0",
                "link": "open" if tracker else f"https://www.example.com/{page[i]}?utm_campaign={campaign[i]}",
                "name": "Read Tracker" if tracker else page[i].split("/")[0].title(), "ref": "",
                "tracked": "1", "uniquelinkclicks": str(unique[i]), "linkclicks": str(total[i]),
                "links": links[i], "id": b.sids[i], "campaign": str(campaign[i]),
                "message": message if not tracker or b.ids[i] % 2 else None,
                "created_timestamp": cn[i], "updated_timestamp": un[i], "created_by": None, "updated_by": None,
            })
        return out


class LinkData(Profile):
    """Who opened (the "open" tracker link) and clicked each link: at most one row per link and
    contact, under its link (GET /links/{id}/linkData); `times` grows with each update."""

    name = "linkData"
    noun = "LinkData"
    default_size = 1600
    scale = ("links", 8.0, 100_000)
    parent_column = "link"
    links = ("link", "contact")
    depends = ("links",)

    def size_bounds(self, sizes) -> tuple[int, int | None]:
        return 0, sizes["links"] * sizes["contacts"]

    def aux(self, world, ids: np.ndarray) -> dict[str, np.ndarray]:
        r = world.rand(self.name)
        link, contact = pairs(r, ids, world.sizes[self.name], world.sizes["links"], world.sizes["contacts"], "ld")
        return {"link": link, "contact": contact}

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        link = b.aux("link")
        campaign = aux_of(w, "links", link, "campaign").tolist()
        times = strs(w.rand(self.name).ints(ids, "times", 4, 1) + b.version)
        contact, link_l, tstamp = strs(b.aux("contact")), link.tolist(), b.iso(b.utime)
        links = self.link_objects(w, b.sids)
        return [{
            "link": str(link_l[i]), "campaignid": str(campaign[i]), "messageid": str(campaign[i] * 2),
            "contact": contact[i], "times": times[i], "tstamp": tstamp[i], "links": links[i], "id": b.sids[i],
        } for i in range(len(b.ids))]


class CampaignLists(Profile):
    """Which lists each campaign went to (each pair once), with the list's name and send count."""

    name = "campaignLists"
    noun = "CampaignList"
    default_size = 60
    scale = ("campaigns", 1.5, 30_000)
    links = ("campaign", "list", "user")

    def size_bounds(self, sizes) -> tuple[int, int | None]:
        return 0, sizes["campaigns"] * sizes["lists"]

    def aux(self, world, ids: np.ndarray) -> dict[str, np.ndarray]:
        r = world.rand(self.name)
        campaign, lst = pairs(r, ids, world.sizes[self.name], world.sizes["campaigns"], world.sizes["lists"], "cl")
        return {"campaign": campaign, "list": lst}

    def build(self, b: Batch) -> list[dict[str, Any]]:
        from acflow.sandbox.people import LIST_NAMES

        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        campaign, lst = strs(b.aux("campaign")), b.aux("list").tolist()
        user = strs(refs(r, ids, "user", w.sizes["users"]))
        amount = strs(r.ints(ids, "amount", 20_000))
        cdate, udate = b.iso(b.ctime), b.iso(b.utime)
        links = self.link_objects(w, b.sids)
        return [{
            "campaignid": campaign[i], "listid": str(lst[i]), "userid": user[i], "list_amt": amount[i],
            "cdate": cdate[i], "udate": udate[i],
            "name": LIST_NAMES[(lst[i] - 1) % len(LIST_NAMES)] + ("" if lst[i] <= len(LIST_NAMES) else f" {lst[i]}"),
            "links": links[i], "id": b.sids[i], "user": user[i], "list": str(lst[i]), "campaign": campaign[i],
        } for i in range(len(b.ids))]


class CampaignMessages(Profile):
    """Per-message results (split tests have two messages, 50.00% each), counts consistent."""

    name = "campaignMessages"
    noun = "CampaignMessage"
    default_size = 48
    scale = ("campaigns", 1.2, 30_000)
    links = ("campaign", "message")

    def aux(self, world, ids: np.ndarray) -> dict[str, np.ndarray]:
        campaign, pos = runs(ids, world.sizes[self.name], world.sizes["campaigns"], world.rand(self.name), "cm")
        return {"campaign": campaign, "pos": pos}

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids, v = b.world, b.id_arr, b.version.astype(np.int64)
        r = w.rand(self.name)
        campaign, pos = b.aux("campaign").tolist(), b.aux("pos").tolist()
        send = r.ints(ids, "send", 20_000)
        uo = (send * (0.1 + 0.4 * r.unit(ids, "uo"))).astype(np.int64) + v
        uo = np.minimum(uo, send)
        counts = {
            "send_amt": send, "total_amt": send, "opens": uo + (uo * r.unit(ids, "o")).astype(np.int64),
            "uniqueopens": uo, "linkclicks": (uo * 0.4).astype(np.int64),
            "uniquelinkclicks": (uo * 0.3).astype(np.int64),
            "subscriberclicks": (uo * 0.3).astype(np.int64), "forwards": uo // 200, "uniqueforwards": uo // 300,
            "hardbounces": send // 300, "softbounces": send // 120, "unsubscribes": send // 400,
            "unsubreasons": send // 1200, "updates": np.zeros_like(send), "socialshares": np.zeros_like(send),
            "replies": uo // 100, "uniquereplies": uo // 150,
        }
        text = {k: strs(a) for k, a in counts.items()}
        topic = r.pick(ids, "topic", TOPICS)
        score = strs(r.ints(ids, "spam", 4))
        out = []
        for i in range(len(b.ids)):
            split = pos[i] > 0 or b.ids[i] % 5 == 0
            rec = {"messageid": str(campaign[i] * 2 + pos[i]), "campaignid": str(campaign[i]),
                   "percentage": "50.00" if split else "100.00", "sourcesize": text["send_amt"][i]}
            rec.update({k: text[k][i] for k in counts})
            rec.update({
                "spamcheck_score": score[i], "spamcheck_max": "5",
                "initial_split_percentage": "50" if split else None,
                "screenshot": f"//sandbox.img-us1.com/_screenshot_/{b.sids[i]}.jpeg",
                "subject": f"{topic[i]} #{campaign[i]}",
                "links": self.link_objects(w, [b.sids[i]])[0], "id": b.sids[i], "campaign": str(campaign[i]),
                "message": str(campaign[i] * 2 + pos[i]),
            })
            out.append(rec)
        return out


BOUNCE_CODES = [("48", "550 5.1.1 The email account that you tried to reach does not exist", "1"),
                ("12", "552 5.2.2 The email account that you tried to reach is over quota", "2"),
                ("31", "421 4.7.0 Try again later, closing connection", "2"),
                ("7", "", "1")]


class BounceLogs(Profile):
    """Bounces of campaign sends: the contact's address, the bounce code and raw source."""

    name = "bounceLogs"
    noun = "BounceLog"
    default_size = 40
    scale = ("contacts", 0.08, 20_000)
    links = ("bounce", "contact", "campaign", "message", "code")
    updated_share = 0.0

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        contact = refs(r, ids, "contact", w.sizes["contacts"])
        emails = contact_emails(w, contact)
        campaign = refs(r, ids, "campaign", w.sizes["campaigns"]).tolist()
        code = r.ints(ids, "code", len(BOUNCE_CODES)).tolist()
        tstamp, cn = b.iso(b.ctime), b.naive(b.ctime)
        contact_l = contact.tolist()
        links = self.link_objects(w, b.sids)
        out = []
        for i in range(len(b.ids)):
            codeid, error, bounce = BOUNCE_CODES[code[i]]
            c, m = str(contact_l[i]), str(campaign[i] * 2)
            out.append({
                "tstamp": tstamp[i], "bounceid": bounce, "subscriberid": c, "campaignid": str(campaign[i]),
                "messageid": m, "codeid": codeid, "email": emails[i] or f"unknown{c}@example.com", "error": error,
                "source": f"Return-Path: <>\nReceived: from mx{b.ids[i] % 9}.example.net ...\n{error}",
                "created_timestamp": cn[i], "updated_timestamp": cn[i], "created_by": None, "updated_by": None,
                "links": links[i], "id": b.sids[i], "bounce": bounce, "contact": c, "campaign": str(campaign[i]),
                "message": m, "code": codeid,
            })
        return out


class ContactEmails(Profile):
    """Each e-mail sent to a contact by a campaign (seriesid "0") or an automation."""

    name = "contactEmails"
    noun = "ContactEmail"
    default_size = 2000
    scale = ("contacts", 4.0, 60_000)
    updated_share = 0.0
    links = ("user", "deal", "contact", "message")

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        contact = strs(refs(r, ids, "contact", w.sizes["contacts"]))
        message = strs(refs(r, ids, "message", w.sizes["messages"]))
        series = strs(refs(r, ids, "automation", w.sizes["automations"], none=0.6))
        user = strs(refs(r, ids, "user", w.sizes["users"]))
        sdate = b.iso(b.ctime)
        links = self.link_objects(w, b.sids)
        return [{
            "messageid": message[i], "seriesid": series[i],
            "messageheader": f"Message-ID: <{b.sids[i]}.{message[i]}@sandbox>",
            "userid": user[i], "d_id": "0", "subscriberid": contact[i], "account": "0", "ip": "0",
            "sdate": sdate[i], "source": "automation" if series[i] != "0" else "campaign", "links": links[i],
            "id": b.sids[i], "user": user[i], "deal": None, "contact": contact[i], "message": message[i],
        } for i in range(len(b.ids))]


# (reference_type, referenceModelName, reference_action): the kinds of a contact's activity
ACTIVITY_KINDS = [("SubscriberEmail", "contact-email", ""), ("LinkData", "link-data", "open"),
                  ("LinkData", "link-data", "click"), ("SubscriberList", "contact-list", "subscribe"),
                  ("Note", "note", ""), ("Deal", "deal", "add"), ("TrackingLog", "tracking-log", ""),
                  ("SubscriberList", "contact-list", "unsubscribe")]


class Activities(Profile):
    """The contacts' activity stream: e-mails, opens and clicks (LinkData), list changes, notes...
    Immutable: `tstamp` is the creation time and never changes. `jsonData` JSON inside a string."""

    name = "activities"
    noun = "Activity"
    default_size = 3000
    scale = ("contacts", 6.0, 150_000)
    updated_share = 0.0
    created_orders: ClassVar[tuple[str, ...]] = ("cdate", "tstamp")
    links = ("notes", "recipients", "reference", "user")

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        contact = strs(refs(r, ids, "contact", w.sizes["contacts"]))
        kind = r.ints(ids, "kind", len(ACTIVITY_KINDS)).tolist()
        ref = strs(r.ints(ids, "ref", 20_000, 1))
        user = r.ints(ids, "user", w.sizes["users"] + 1).tolist()
        link = refs(r, ids, "link", w.sizes["links"]).tolist()
        tstamp = b.iso(b.ctime)
        links = self.link_objects(w, b.sids)
        out = []
        for i in range(len(b.ids)):
            rtype, model, action = ACTIVITY_KINDS[kind[i]]
            data = f'{{"link":"{link[i]}","campaign":"{link[i] % 40 + 1}"}}' if rtype == "LinkData" else None
            out.append({
                "tstamp": tstamp[i], "subscriberid": contact[i], "reference_type": rtype, "reference_id": ref[i],
                "reference_action": action, "jsonData": data, "userid": str(user[i]) if rtype == "Note" else "0",
                "permission": "", "referenceModelName": model, "notes": [str(b.ids[i])] if rtype == "Note" else [],
                "recipients": [str(b.ids[i] * 2)] if rtype == "SubscriberEmail" else [],
                "reference": {"type": model, "id": ref[i]},
                "user": str(user[i]) if rtype == "Note" else None, "links": links[i], "id": b.sids[i],
            })
        return out


class EmailActivities(Profile):
    """One-to-one e-mails of the sales team to contacts, logged on the contact or a deal."""

    name = "emailActivities"
    noun = "EmailActivity"
    default_size = 150
    scale = ("deals", 0.4, 20_000)
    updated_share = 0.0
    links = ("contact", "deal", "user", "reference")

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        contact = refs(r, ids, "contact", w.sizes["contacts"])
        to = contact_emails(w, contact)
        deal = refs(r, ids, "deal", w.sizes["deals"], none=0.5).tolist()
        user = strs(refs(r, ids, "user", w.sizes["users"]))
        who = r.pick(ids, "who", FIRST_NAMES)
        topic = r.pick(ids, "topic", TOPICS)
        cc = r.chance(ids, "cc", 0.2).tolist()
        tstamp = b.iso(b.ctime)
        contact_l = contact.tolist()
        links = self.link_objects(w, b.sids)
        out = []
        for i in range(len(b.ids)):
            c, d = str(contact_l[i]), str(deal[i]) if deal[i] else None
            text = f"Hi, following up on the {topic[i].lower()}. Best, {who[i]}"
            out.append({
                "subscriberid": c, "userid": user[i], "d_id": d or "0", "account": "0",
                "reltype": "Deal" if d else "Subscriber", "relid": d or c, "fromName": who[i],
                "fromAddress": f"{slug(who[i])}@example.com", "toAddress": to[i] or f"contact{c}@example.com",
                "ccAddress": "manager@example.com" if cc[i] else "", "subject": f"Re: {topic[i]}", "message": text,
                "messageHtml": f"<p>{text}</p>", "tstamp": tstamp[i], "links": links[i], "id": b.sids[i],
                "contact": c, "deal": d, "user": user[i],
                "reference": {"type": "deal" if d else "contact", "id": d or c},
            })
        return out


class Sms(Profile):
    """SMS sends of automations; sent/failed/replies counts consistent."""

    name = "sms"
    noun = "Sms"
    default_size = 5
    links = ("user", "automation")

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        auto = strs(refs(r, ids, "automation", w.sizes["automations"]))
        user = strs(refs(r, ids, "user", w.sizes["users"]))
        sent = r.ints(ids, "sent", 3000)
        counts = {k: strs(a) for k, a in {"sent": sent, "failed": sent // 50, "unsubscribes": sent // 200,
                                           "replies": sent // 20, "uniquereplies": sent // 25}.items()}
        topic = r.pick(ids, "topic", TOPICS)
        tstamp, sdate, ldate = b.iso(b.ctime), b.iso(b.ctime + 600), b.iso(b.utime)
        out = []
        for i in range(len(b.ids)):
            rec = {"userid": user[i], "seriesid": auto[i], "msg": f"{topic[i]}: reply STOP to opt out",
                   "tstamp": tstamp[i], "tf_day": "mon,tue,wed,thu,fri", "tf_hr_from": "9", "tf_hr_to": "18"}
            rec.update({k: v[i] for k, v in counts.items()})
            rec.update({"sdate": sdate[i], "ldate": ldate[i], "links": self.link_objects(w, [b.sids[i]])[0],
                        "id": b.sids[i], "user": user[i], "automation": auto[i]})
            out.append(rec)
        return out


class SiteMessages(Profile):
    """Site messages of automations; `template` an object."""

    name = "siteMessages"
    noun = "SiteMessage"
    default_size = 4
    links = ("automation",)

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids = b.world, b.id_arr
        r = w.rand(self.name)
        auto = strs(refs(r, ids, "automation", w.sizes["automations"]))
        topic = r.pick(ids, "topic", TOPICS)
        shown = r.chance(ids, "shown", 0.7).tolist()
        ldate = b.iso(b.utime)
        links = self.link_objects(w, b.sids)
        return [{
            "name": f"{topic[i]} banner", "automation": auto[i],
            "template": {"type": "modal", "html": f"<div class=\"ac-site-message\">{topic[i]}</div>"},
            "ldate": ldate[i] if shown[i] else None, "links": links[i], "id": b.sids[i],
        } for i in range(len(b.ids))]
