"""Profiles of the marketing entities: campaigns, segments and forms."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from acflow.sandbox.clock import ZERO_DATETIME
from acflow.sandbox.gen import TOPICS
from acflow.sandbox.profile import Batch, Profile

# Fields that hardly vary between campaigns, in the API's key order (from the docs' example).
_CAMPAIGN_BASE: dict[str, Any] = {
    "type": "single", "userid": "1", "segmentid": "0", "bounceid": "-1", "realcid": "0", "sendid": "0",
    "threadid": "0", "seriesid": "0", "formid": "0", "basetemplateid": "0", "basemessageid": "0",
    "addressid": "0", "source": "web", "name": "", "cdate": None, "mdate": None, "sdate": None,
    "ldate": None, "send_amt": "0", "total_amt": "0", "opens": "0", "uniqueopens": "0",
    "linkclicks": "0", "uniquelinkclicks": "0", "subscriberclicks": "0", "forwards": "0",
    "uniqueforwards": "0", "hardbounces": "0", "softbounces": "0", "unsubscribes": "0",
    "unsubreasons": "0", "updates": "0", "socialshares": "0", "replies": "0", "uniquereplies": "0",
    "status": "0", "public": "1", "mail_transfer": "0", "mail_send": "0", "mail_cleanup": "0",
    "mailer_log_file": "0", "tracklinks": "all", "tracklinksanalytics": "0", "trackreads": "1",
    "trackreadsanalytics": "1", "analytics_campaign_name": "", "tweet": "0", "facebook": "0",
    "survey": "", "embed_images": "0", "htmlunsub": "0", "textunsub": "0", "htmlunsubdata": None,
    "textunsubdata": None, "recurring": "day1", "willrecur": "0", "split_type": "even",
    "split_content": "0", "split_offset": "2", "split_offset_type": "day", "split_winner_messageid": "0",
    "split_winner_awaiting": "0", "responder_offset": "0", "responder_type": "subscribe",
    "responder_existing": "0", "reminder_field": "sdate", "reminder_format": None,
    "reminder_type": "month_day", "reminder_offset": "0", "reminder_offset_type": "day",
    "reminder_offset_sign": "+", "reminder_last_cron_run": None, "activerss_interval": "day1",
    "activerss_url": None, "activerss_items": "10", "ip4": "0", "laststep": "designer",
    "managetext": "0", "schedule": "0", "scheduleddate": None, "waitpreview": "0", "deletestamp": None,
    "replysys": "0", "created_timestamp": None, "updated_timestamp": None, "created_by": None,
    "updated_by": None, "ip": "0", "series_send_lock_time": None, "can_skip_approval": "0",
    "use_quartz_scheduler": "0", "verified_opens": "0", "verified_unique_opens": "0",
    "additional_data": None, "predictive_send": "0", "repair_timestamp": None,
    "has_outdated_translations": None, "moderation_status": "0", "segmentname": "",
    "has_predictive_content": "0", "message_id": "0", "screenshot": "", "campaign_message_id": "0",
    "ed_version": "2", "format": "mime", "links": None, "id": None, "user": "1", "automation": None,
    # fields of 2021-2026 responses (reference 8): groupLimitViolation is a JSON bool
    "typeText": "Standard", "statusString": "Draft", "statusToolTip": "", "groupLimitViolation": False,
    "campaignIsText": "0", "hasTranslations": "0", "repair_by_pydex": "0", "isDoubleOptInCampaign": "0",
    "numberOfMessages": "1",
}
_TYPE_TEXT = {"single": "Standard", "split": "Split Test", "responder": "Auto Responder",
              "reminder": "Date Based", "activerss": "RSS Triggered", "text": "Text Only", "recurring": "Recurring"}
_STATUS_STRING = ["Draft", "Scheduled", "Sending", "Paused", "Stopped", "Completed"]
_TYPES = ["single"] * 14 + ["split", "responder", "reminder", "activerss", "text", "recurring"]
# draft, scheduled, sending, paused, stopped, completed
_STATUS_CUT = np.array([0.15, 0.27, 0.30, 0.32, 0.34, 1.0])  # status 1: scheduled, or (2 in 3) automation


class Campaigns(Profile):
    """Metrics are consistent: unique <= total, hard and soft bounces separate, all <= send_amt,
    zero for drafts and scheduled ones. An update (more engagement) grows opens and clicks."""

    name = "campaigns"
    noun = "Campaign"
    default_size = 40
    links = ("user", "automation", "campaignMessage", "campaignMessages", "links", "aggregateRevenues",
             "segment", "campaignLists")
    updated_share = 0.5

    def build(self, b: Batch) -> list[dict[str, Any]]:
        w, ids, v = b.world, b.id_arr, b.version.astype(np.int64)
        r = w.rand(self.name)
        status = np.searchsorted(_STATUS_CUT, r.unit(ids, "status"), side="right")
        sent = status >= 2
        send = np.where(sent, r.ints(ids, "send", 50_000, 50), 0)
        send = np.where(status == 2, send // 2, send)  # still sending
        grow = 1 + np.minimum(v, 10) * 0.02
        uo = np.minimum(send, (send * (0.1 + 0.4 * r.unit(ids, "uo")) * grow).astype(np.int64))
        opens = uo + (uo * 1.5 * r.unit(ids, "opens")).astype(np.int64)
        ulc = (uo * 0.3 * r.unit(ids, "ulc") * grow).astype(np.int64).clip(0, uo)
        lc = ulc + (ulc * r.unit(ids, "lc")).astype(np.int64)
        hard = (send * 0.01 * r.unit(ids, "hard")).astype(np.int64)
        soft = (send * 0.03 * r.unit(ids, "soft")).astype(np.int64)
        unsub = (send * 0.01 * r.unit(ids, "unsub")).astype(np.int64)
        reasons = (unsub * r.unit(ids, "reasons")).astype(np.int64)
        replies = (uo * 0.01 * r.unit(ids, "replies")).astype(np.int64)
        ureplies = (replies * r.unit(ids, "ureplies")).astype(np.int64)
        fwd = (uo * 0.005 * r.unit(ids, "fwd")).astype(np.int64)
        ufwd = (fwd * r.unit(ids, "ufwd")).astype(np.int64)
        vopens = (opens * (0.8 + 0.2 * r.unit(ids, "vo"))).astype(np.int64)
        vuo = np.minimum(vopens, (uo * (0.8 + 0.2 * r.unit(ids, "vuo"))).astype(np.int64))
        kind = r.pick(ids, "type", _TYPES)
        topic = r.pick(ids, "topic", TOPICS)
        user = r.ints(ids, "user", w.sizes["users"], 1).tolist()
        seg = np.where(r.chance(ids, "seg", 0.3), r.ints(ids, "segid", max(w.sizes["segments"], 1), 1), 0)
        flags = r.ints(ids, "flags", 1 << 16).tolist()
        sdate_t = b.ctime + r.ints(ids, "sdate", 5 * 86_400, 600)
        ldate_t = sdate_t + r.ints(ids, "ldate", 4 * 3600, 60)
        cdate, mdate = b.iso(b.ctime), b.iso(b.utime)
        sdate, ldate = b.iso(sdate_t), b.iso(ldate_t)
        cn, un, rn = b.naive(b.ctime), b.naive(b.utime), b.naive(b.ctime - 86_400)
        hexes = r.hexes(ids, "template", 32)
        links = self.link_objects(w, b.sids)
        cols = {k: [str(x) for x in a.tolist()] for k, a in {
            "send_amt": send, "opens": opens, "uniqueopens": uo, "linkclicks": lc, "uniquelinkclicks": ulc,
            "subscriberclicks": ulc, "forwards": fwd, "uniqueforwards": ufwd, "hardbounces": hard,
            "softbounces": soft, "unsubscribes": unsub, "unsubreasons": reasons, "replies": replies,
            "uniquereplies": ureplies, "verified_opens": vopens, "verified_unique_opens": vuo,
            "status": status}.items()}
        status_l, sent_l, seg_l = status.tolist(), sent.tolist(), seg.tolist()
        out = []
        for i, rid in enumerate(b.ids):
            f = flags[i]
            rec = dict(_CAMPAIGN_BASE)
            for k, values in cols.items():
                rec[k] = values[i]
            rec["total_amt"] = rec["send_amt"]
            started = sent_l[i]
            # automation campaigns: status "1" like a scheduled one, told apart by statusString (8.12)
            automation = status_l[i] == 1 and f % 3 != 0
            rec.update({
                "typeText": _TYPE_TEXT[kind[i]],
                "statusString": "Automation" if automation else _STATUS_STRING[status_l[i]],
                "automation": str(rid % 7 + 1) if automation else None,
                "campaignIsText": "1" if kind[i] == "text" else "0",
                "type": kind[i], "userid": str(user[i]), "segmentid": str(seg_l[i]),
                "sendid": str(rid * 131) if started else "0",
                "basetemplateid": hexes[i] + hexes[i][:8] if f & 1 else "0",
                "basemessageid": str(rid) if f & 2 else "0", "source": "copy" if f & 4 else "web",
                "name": f"{topic[i]} #{rid}", "cdate": cdate[i], "mdate": mdate[i],
                "sdate": sdate[i] if started or status_l[i] == 1 else None,
                "ldate": ldate[i] if started else None,
                "mail_transfer": "1" if started else "0", "mail_send": "1" if started else "0",
                "mail_cleanup": "1" if status_l[i] == 5 else "0",
                "tracklinksanalytics": "1" if f & 8 else "0", "schedule": "1" if status_l[i] == 1 else "0",
                "scheduleddate": sdate[i] if status_l[i] == 1 else None,
                "htmlunsubdata": "" if f & 16 else None, "textunsubdata": "" if f & 16 else None,
                "reminder_format": "yyyy-mm-dd" if f & 32 else None,
                "activerss_url": "" if f & 64 else None, "ip4": str(643_992_596 + rid),
                "replysys": "1" if f & 128 else "0", "created_timestamp": cn[i], "updated_timestamp": un[i],
                "created_by": "0" if f & 256 else None, "updated_by": "0" if f & 256 else None,
                "series_send_lock_time": ZERO_DATETIME if f & 512 else None,
                "use_quartz_scheduler": "1" if f & 1024 else "0",
                "additional_data": orjson.dumps({"copiedFrom": rid - 1, "summaryEventSent": True}).decode()
                if f & 4 and rid > 1 else ("" if f & 4096 else None),  # "" is real (8.13)
                "repair_timestamp": rn[i] if f & 2048 else None,
                "message_id": str(rid * 2), "campaign_message_id": str(rid * 2),
                "screenshot": f"//sandbox.img-us1.com/_screenshot_/{hexes[i]}.jpeg" if started else "",
                "links": links[i], "id": b.sids[i], "user": str(user[i]),
            })
            out.append(rec)
        return out


class Segments(Profile):
    """Legacy v3 segments; `links` is an empty array here, not an object."""

    name = "segments"
    noun = "Segment"
    default_size = 12
    links = None

    def build(self, b: Batch) -> list[dict[str, Any]]:
        r = b.world.rand(self.name)
        ids = b.id_arr
        topic = r.pick(ids, "topic", ["Engaged last 30d", "Openers", "Clickers", "VIP customers",
                                       "Trial users", "Inactive 90d", "Newsletter readers", "Leads"])
        logic = r.chance(ids, "or", 0.3).tolist()
        hidden = r.chance(ids, "hidden", 0.1).tolist()
        by = r.ints(ids, "by", b.world.sizes["users"] + 1).tolist()
        cn, un = b.naive(b.ctime), b.naive(b.utime)
        return [{
            "name": f"{topic[i]} {rid}",
            "logic": "or" if logic[i] else "and",
            "hidden": "1" if hidden[i] else "0",
            "seriesid": "0",
            "created_timestamp": cn[i],
            "updated_timestamp": un[i],
            "created_by": str(by[i]) if by[i] else None,
            "updated_by": str(by[i]) if by[i] else None,
            "links": [],
            "id": b.sids[i],
        } for i, rid in enumerate(b.ids)]


_CFIELDS = [
    {"type": "header", "header": "Subscribe for Email Updates", "class": "_x41699710"},
    {"type": "html", "html": "<p>Add a descriptive message telling what your visitor is signing up for.</p>",
     "class": "_x50329289"},
    {"header": "Full Name", "type": "fullname", "default_text": "Type your name", "class": "_x67999677"},
    {"header": "Email", "type": "email", "default_text": "Type your email", "required": True,
     "class": "_x68140262"},
]


class Forms(Profile):
    """Nested settings with their type drift: `cfields` an object ({}) on some forms, a list on
    others; `style.button.padding` an int or a string; `recent` items strings or objects; `aid`
    "0" or null; `contacts`/`deals` ints while `entries` is a string."""

    name = "forms"
    noun = "Form"
    missing_status = 403  # "No Result found for Form with id 7" comes as a 403
    default_size = 6
    links = ("address",)

    def build(self, b: Batch) -> list[dict[str, Any]]:
        r = b.world.rand(self.name)
        ids, v = b.id_arr, b.version
        flags = r.ints(ids, "flags", 1 << 16).tolist()
        lists = r.ints(ids, "list", max(b.world.sizes["lists"], 1), 1).tolist()
        contacts = r.ints(ids, "contacts", 3000, version=v).tolist()
        deals = r.ints(ids, "deals", 40, version=v).tolist()
        cdate, udate = b.iso(b.ctime), b.iso(b.utime)
        links = self.link_objects(b.world, b.sids)
        out = []
        for i, rid in enumerate(b.ids):
            f = flags[i]
            padding: int | str = 10 if f & 1 else "10"
            recent: list[Any] = []
            if f & 2:
                recent = [str(rid * 10 + 1), {"id": str(rid * 10 + 2), "email": "x@example.com"}]
            out.append({
                "name": f"{['Newsletter signup', 'Contact us', 'Webinar registration', 'Demo request'][f % 4]}"
                        f" {rid}",
                "action": "",
                "actiondata": {"actions": [{"type": "subscribe-to-list", "email": "owner@example.com",
                                            "list": str(lists[i])}]},
                "submit": "show-thank-you", "submitdata": {"url": ""}, "url": "",
                "layout": "inline-form", "title": "", "body": "", "button": "Submit",
                "thanks": "Thanks for signing up!",
                "style": {"background": "FFFFFF", "dark": bool(f & 4), "fontcolor": "000000",
                          "layout": "normal",
                          "border": {"width": 0, "style": "solid", "color": "B0B0B0", "radius": 0},
                          "width": 500, "ac_branding": True,
                          "button": {"padding": padding, "background": "333333", "fontcolor": "FFFFFF",
                                     "border": {"radius": 4, "color": "333333", "style": "solid", "width": 0}}},
                "options": {"blanks_overwrite": True, "confaction": "show-message", "sendoptin": bool(f & 8),
                            "optin_id": 1, "optin_created": True, "confform": "2"},
                "cfields": {} if rid % 3 == 0 else list(_CFIELDS[: 2 + f % 3]),
                "parentformid": "0", "userid": "1", "addressid": "0",
                "cdate": cdate[i], "udate": udate[i], "entries": str(contacts[i] // 3),
                "aid": None if f & 16 else "0",
                "defaultscreenshot": "http://img-us1.com/default-form.gif",
                "recent": recent, "contacts": contacts[i], "deals": deals[i],
                "links": links[i], "id": b.sids[i], "address": None, "source": "form" if f & 32 else None,
            })
        return out
