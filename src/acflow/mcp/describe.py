"""What an assistant should know about the columns: their meaning, and the seeds' advice.

catalog.py holds the types and the derived columns' SQL but no per-column descriptions; the
descriptions and the advice live here, in one place, until the catalog grows a field for them
(then this module reads it). The meanings are Coupler.io's field reference (seeds/); the
advice is the seeds' "dashboard accuracy" list: unique opens and clicks for rates, `amount` and
never `value` for money, restricted deals counted apart, deleted contacts filtered out.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# Per entity: what to do (and not do) when analysing it. Shown by describe and in the prompts.
ADVICE: Mapping[str, str] = MappingProxyType({
    "campaigns": (
        "For open and click rates use the unique counts: uniqueopens and uniquelinkclicks, never opens or "
        "linkclicks (they count one contact's repeated opens and clicks and inflate the rates). open_rate, "
        "click_rate and click_to_open_rate are already computed that way (rounded to 4 places). Keep "
        "hardbounces and softbounces apart (hard ones are permanent failures; watch them for list hygiene). "
        "Only campaigns with send_amt > 0 were sent; status_label says draft, scheduled, sending, paused, "
        "stopped, completed (or automation)."),
    "deals": (
        "Money: use amount (major units: 1500.00 dollars), never value (the smallest unit: 150000 cents). "
        "Never add amounts of different currencies: group by currency. status is 0 open, 1 won, 2 lost; "
        "status_label says it in words. Deals of pipelines the API key's user may not manage come back as "
        "stubs with isDisabled = 1 and almost no data: count them apart (WHERE isDisabled = 1) and leave them "
        "out of totals; if there are many, the account should be synced with an admin key. stage_name, "
        "pipeline_name and owner_name are looked up from dealStages, dealGroups and users when those were "
        "synced."),
    "contacts": (
        "Contacts include deleted ones: filter deleted = 0 unless deleted contacts are the question. "
        "bounced_hard and bounced_soft are 0/1 flags; sentcnt counts the e-mails sent to the contact."),
    "lists": (
        "One row per mailing list. For list health, active_subscribers and non_deleted_subscribers give the "
        "size where the API sent them; contactLists (if synced) has one row per contact and list with "
        "status_label subscribed, unsubscribed, bounced, unconfirmed and the subscribe/unsubscribe dates."),
    "contactLists": (
        "One row per contact and list. status_label: subscribed, unsubscribed, bounced, unconfirmed; sdate is "
        "when the contact subscribed, udate the last change (an unsubscribe or bounce)."),
    "segments": "Segment definitions (name, logic, hidden); no member counts come with them.",
    "forms": "Forms with their settings; entries counts submissions.",
})

# The seeds' field reference, and the derived columns' meaning (their SQL is in catalog.py).
COLUMNS: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "campaigns": MappingProxyType({
        "id": "campaign id", "name": "campaign name", "type": "single, recurring, split...",
        "status": "0 draft, 1 scheduled, 2 sending, 3 paused, 4 stopped, 5 completed",
        "cdate": "created", "mdate": "last modified", "sdate": "scheduled or sent", "ldate": "last sent",
        "send_amt": "e-mails sent", "total_amt": "total recipients", "opens": "all opens (repeats counted)",
        "uniqueopens": "contacts who opened (use for rates)", "linkclicks": "all link clicks (repeats counted)",
        "uniquelinkclicks": "contacts who clicked (use for rates)", "hardbounces": "hard bounces",
        "softbounces": "soft bounces", "unsubscribes": "unsubscribes", "forwards": "forwards",
        "replies": "replies", "userid": "owner user id",
        "status_label": "status in words", "open_rate": "uniqueopens / send_amt",
        "click_rate": "uniquelinkclicks / send_amt", "click_to_open_rate": "uniquelinkclicks / uniqueopens",
        "hard_bounce_rate": "hardbounces / send_amt", "soft_bounce_rate": "softbounces / send_amt",
        "unsubscribe_rate": "unsubscribes / send_amt", "owner_name": "owner's name (from users)",
    }),
    "contacts": MappingProxyType({
        "id": "contact id", "email": "e-mail address", "firstName": "first name", "lastName": "last name",
        "phone": "phone", "orgid": "organization id", "cdate": "created", "udate": "last updated",
        "adate": "last active", "edate": "e-mail last changed", "bounced_hard": "hard bounce flag 0/1",
        "bounced_soft": "soft bounce flag 0/1", "bounced_date": "date of last bounce",
        "sentcnt": "e-mails sent to this contact", "deleted": "deleted flag 0/1 (filter deleted = 0)",
    }),
    "lists": MappingProxyType({
        "id": "list id", "name": "list name", "stringid": "URL-safe slug", "cdate": "created",
        "udate": "last updated", "userid": "owner user id", "private": "private list 0/1",
        "optinoptout": "double opt-in 1 = yes", "sender_name": "sender display name",
        "p_use_tracking": "open tracking 0/1", "active_subscribers": "active subscribers",
        "non_deleted_subscribers": "subscribers not deleted", "owner_name": "owner's name (from users)",
    }),
    "deals": MappingProxyType({
        "id": "deal id", "title": "deal name", "description": "deal description",
        "value": "value in the currency's smallest unit (cents): use amount", "currency": "currency code (usd)",
        "status": "0 open, 1 won, 2 lost", "owner": "owner user id", "contact": "linked contact id",
        "organization": "linked organization id", "group": "pipeline id (dealGroups.id)",
        "stage": "stage id (dealStages.id)", "percent": "close probability %",
        "winProbability": "predicted win probability", "cdate": "created", "mdate": "last modified",
        "edate": "expected close date", "nextdate": "next task due", "activitycount": "deal activities",
        "isDisabled": "1 = restricted stub (a pipeline the key may not see): count apart",
        "amount": "value in major units by currency (usd 150000 -> 1500.00; jpy and kwd handled)",
        "status_label": "open, won or lost", "stage_name": "stage title (from dealStages)",
        "pipeline_name": "pipeline title (from dealGroups)", "owner_name": "owner's name (from users)",
    }),
    "segments": MappingProxyType({
        "id": "segment id", "name": "segment name", "logic": "and/or", "hidden": "hidden flag",
        "created_timestamp": "created", "updated_timestamp": "last updated",
    }),
    "forms": MappingProxyType({
        "id": "form id", "name": "form name", "action": "submission action", "actiondata": "action settings",
        "cdate": "created", "mdate": "last modified", "userid": "owner user id", "entries": "submissions",
    }),
    "contactLists": MappingProxyType({"status_label": "subscribed, unsubscribed, bounced or unconfirmed"}),
})

LABEL = "the status code in words"  # any other entity's status_label


def meaning(entity: str | None, column: str) -> str:
    """One line for a column: the seeds' description, else what a generic name says, else ''."""
    if entity is not None:
        found = COLUMNS.get(entity, {}).get(column)
        if found:
            return found
    if column == "status_label":
        return LABEL
    if column.endswith("_name"):
        return f"looked up: the {column.removesuffix('_name')}'s name"
    return ""


def advice(entity: str | None) -> str:
    return ADVICE.get(entity or "", "")
