"""Lists and contacts (members per list, list growth, active/deleted/bounced contacts) and forms.

List membership comes from contactLists (one row per contact and list, with its status and
the dates it was subscribed and changed); where only `lists` was synced, ActiveCampaign's own
`active_subscribers` count stands in, and growth over time cannot be shown.
"""

from __future__ import annotations

from collections.abc import Iterator

from .figures import Column, Figure, Source, figure

# contactLists.status (catalog.LIST_STATUS): 0 unconfirmed, 1 subscribed, 2 unsubscribed, 3 bounced
LEFT = "(2, 3)"


def figures(src: Source) -> Iterator[Figure]:
    yield _lists(src)
    yield _list_growth(src)
    yield from _contacts(src)
    yield _forms(src)


def _lists(src: Source) -> Figure:
    columns = [Column("id", "Id", "text"), Column("name", "List", "text"), Column("subscribed", "Subscribed"),
               Column("unconfirmed", "Unconfirmed"), Column("unsubscribed", "Unsubscribed"),
               Column("bounced", "Bounced")]
    if src.has("lists") and src.has("contactLists"):
        how = ("Each list's memberships (contactLists) now, counted by status: 1 subscribed, 0 unconfirmed, "
               "2 unsubscribed, 3 bounced. A contact on several lists counts on each.")
        sql = (f"SELECT l.id, l.name, count(m.id) FILTER (WHERE m.status = 1) AS subscribed, "
               f"count(m.id) FILTER (WHERE m.status = 0) AS unconfirmed, "
               f"count(m.id) FILTER (WHERE m.status = 2) AS unsubscribed, "
               f"count(m.id) FILTER (WHERE m.status = 3) AS bounced "
               f"FROM {src.rel('lists')} AS l LEFT JOIN {src.rel('contactLists')} AS m ON m.list = l.id "
               f"GROUP BY l.id, l.name ORDER BY subscribed DESC, l.id")
    else:
        how = ("ActiveCampaign's own active_subscribers count of each list (contactLists, the memberships, "
               "were not synced: sync them for the other statuses and for growth over time).")
        sql = (None if not src.has("lists") else
               f"SELECT id, name, active_subscribers AS subscribed, CAST(NULL AS BIGINT) AS unconfirmed, "
               f"CAST(NULL AS BIGINT) AS unsubscribed, CAST(NULL AS BIGINT) AS bounced FROM {src.rel('lists')} "
               f"ORDER BY subscribed DESC NULLS LAST, id")
    return figure(src, "lists", "audience", "Contacts per list", how, columns, sql, needs=("lists",),
                  empty="The account has no lists.")


def _list_growth(src: Source) -> Figure:
    w = src.window
    columns = [Column("period", "Period", "date"), Column("list", "Id", "text"), Column("name", "List", "text"),
               Column("joined", "Subscribed"), Column("left", "Left"), Column("members", "Members at end")]
    sql = None
    if src.has("lists") and src.has("contactLists"):
        m = (f"(SELECT list, status, sdate, udate FROM {src.rel('contactLists')} "
             f"WHERE status IN (1, 2, 3) AND sdate IS NOT NULL)")
        start = "" if w.start is None else (
            f"WHERE g.period >= CAST(date_trunc('{w.grain}', timezone('{w.zone}', "
            f"TIMESTAMPTZ '{w.start.isoformat()}')) AS DATE)")
        full = type(w)(None, w.end, w.zone, w.grain, w.since)  # members at the window's start count history
        sql = (
            f"WITH m AS {m}, "
            f"ev AS (SELECT list, {w.period('sdate')} AS period, 1 AS joined, 0 AS gone FROM m "
            f"WHERE NOT (status IN {LEFT} AND udate IS NULL) "
            f"UNION ALL SELECT list, {w.period('udate')}, 0, 1 FROM m WHERE status IN {LEFT} AND udate IS NOT NULL), "
            f"per AS (SELECT list, period, CAST(sum(joined) AS BIGINT) AS joined, CAST(sum(gone) AS BIGINT) AS gone "
            f"FROM ev GROUP BY ALL), "
            f"p AS ({full.periods('(SELECT min(sdate) FROM m)')}), "
            f"g AS (SELECT p.period, l.id AS list, l.name FROM p CROSS JOIN {src.rel('lists')} AS l), "
            f"x AS (SELECT g.period, g.list, g.name, coalesce(per.joined, 0) AS joined, coalesce(per.gone, 0) AS gone, "
            f"CAST(sum(coalesce(per.joined, 0) - coalesce(per.gone, 0)) OVER (PARTITION BY g.list ORDER BY g.period) "
            f"AS BIGINT) AS members FROM g LEFT JOIN per ON per.list = g.list AND per.period = g.period) "
            f"SELECT period, list, name, joined, gone AS \"left\", members FROM x AS g {start} "
            f"ORDER BY period, list")
    how = (f"Per {w.grain} (account time zone) and list, from contactLists: Subscribed = memberships whose "
           f"subscribe date (sdate) falls in the {w.grain} (status subscribed, unsubscribed or bounced; unconfirmed "
           f"ones never joined); Left = unsubscribed or bounced memberships whose last change (udate) falls in it; "
           f"Members at end = all subscribed so far minus all left so far, counted from the first membership, "
           f"not only inside the period shown.")
    return figure(src, "list_growth", "audience", f"List growth by {w.grain}", how, columns, sql,
                  needs=("lists", "contactLists"), empty="No list has any subscribed member yet.")


def _contacts(src: Source) -> Iterator[Figure]:
    w = src.window
    columns = [Column("contacts", "Contacts"), Column("active", "Active"), Column("deleted", "Deleted"),
               Column("hard_bounced", "Hard-bounced (active)"), Column("soft_bounced", "Soft-bounced (active)")]
    rel = src.rel("contacts") if src.has("contacts") else ""
    sql = None if not rel else (
        f"SELECT count(*) AS contacts, count(*) FILTER (WHERE coalesce(deleted, 0) = 0) AS active, "
        f"count(*) FILTER (WHERE deleted = 1) AS deleted, "
        f"count(*) FILTER (WHERE coalesce(deleted, 0) = 0 AND bounced_hard = 1) AS hard_bounced, "
        f"count(*) FILTER (WHERE coalesce(deleted, 0) = 0 AND bounced_soft = 1) AS soft_bounced FROM {rel} "
        f"HAVING count(*) > 0")
    yield figure(src, "contacts", "audience", "Contacts now",
                 "All contacts the account holds now: active = deleted 0, deleted = deleted 1 (ActiveCampaign "
                 "keeps deleted contacts; Coupler.io's advice is to filter on deleted = 0). Hard- and soft-bounced: "
                 "active contacts with bounced_hard = 1 and bounced_soft = 1, counted apart (a contact can be both).",
                 columns, sql, needs=("contacts",), empty="The account has no contacts.")

    columns = [Column("period", "Period", "date"), Column("new_contacts", "New contacts"),
               Column("still_active", "Still active"), Column("deleted_since", "Deleted since")]
    sql = None if not rel else (
        f"WITH c AS (SELECT cdate, coalesce(deleted, 0) AS deleted FROM {rel} WHERE cdate IS NOT NULL "
        f"AND {w.where('cdate')}), p AS ({w.periods('(SELECT min(cdate) FROM c)')}), "
        f"a AS (SELECT {w.period('cdate')} AS period, count(*) AS n, count(*) FILTER (WHERE deleted = 0) AS active, "
        f"count(*) FILTER (WHERE deleted = 1) AS gone FROM c GROUP BY 1) "
        f"SELECT p.period, coalesce(a.n, 0) AS new_contacts, coalesce(a.active, 0) AS still_active, "
        f"coalesce(a.gone, 0) AS deleted_since FROM p LEFT JOIN a USING (period) WHERE EXISTS (SELECT 1 FROM c) "
        f"ORDER BY p.period")

    def none_new() -> str:
        last = src.value(f"SELECT max(cdate) FROM {rel}")
        if last is None:
            return "The account has no contacts."
        return (f"No contact was created {w.words()}; the newest was created on {last.date().isoformat()}: "  # type: ignore[attr-defined]
                "widen --since (e.g. --since all).")

    yield figure(src, "contacts_over_time", "audience", f"New contacts by {w.grain}",
                 f"Contacts counted by the {w.grain} of their creation date (cdate, account time zone), and how "
                 "many of them are active or deleted now.", columns, sql, needs=("contacts",), empty=none_new)


def _forms(src: Source) -> Figure:
    columns = [Column("id", "Id", "text"), Column("name", "Form", "text"), Column("entries", "Entries"),
               Column("contacts", "Contacts"), Column("deals", "Deals")]
    sql = None if not src.has("forms") else (
        f"SELECT id, name, coalesce(entries, 0) AS entries, contacts, deals FROM {src.rel('forms')} "
        f"ORDER BY entries DESC, id")
    return figure(src, "forms", "forms", "Entries per form (lead sources)",
                  "Each form's entries, contacts and deals as ActiveCampaign counts them on the form: totals since "
                  "the form was made, not limited to the report's period (the API gives no dated entries).",
                  columns, sql, needs=("forms",), empty="The account has no forms.")
