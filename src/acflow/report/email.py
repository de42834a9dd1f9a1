"""E-mail figures: per campaign, over time, by campaign type, the best and the worst.

Rates are unique-based (Coupler.io's advice: `opens` and `linkclicks` count one person's
repeated opens and clicks), and a weighted figure divides sums (all unique opens / all sends),
never averages per-campaign rates, so a 20-recipient test send weighs what it sent.
"""

from __future__ import annotations

from collections.abc import Iterator

from .figures import Column, Figure, Source, figure, rate

MIN_SENDS = 100  # best and worst campaigns: fewer sends make a rate of chance
RANK = 5  # best and worst campaigns shown
INFLATED = 1.05  # total vs unique: worth a note from here

# name, label, numerator, denominator (summed columns of the campaigns below)
RATES = [
    ("open_rate", "Unique open rate", "unique_opens", "sends"),
    ("click_rate", "Unique click rate", "unique_clicks", "sends"),
    ("click_to_open_rate", "Click-to-open rate", "unique_clicks", "unique_opens"),
    ("hard_bounce_rate", "Hard bounce rate", "hard_bounces", "sends"),
    ("soft_bounce_rate", "Soft bounce rate", "soft_bounces", "sends"),
    ("unsubscribe_rate", "Unsubscribe rate", "unsubscribes", "sends"),
]
COUNTS = [("sends", "Sends", "send_amt"), ("unique_opens", "Unique opens", "uniqueopens"),
          ("unique_clicks", "Unique clicks", "uniquelinkclicks"), ("hard_bounces", "Hard bounces", "hardbounces"),
          ("soft_bounces", "Soft bounces", "softbounces"), ("unsubscribes", "Unsubscribes", "unsubscribes")]
RATE_COLUMNS = [Column(n, label, "rate") for n, label, _, _ in RATES]
COUNT_COLUMNS = [Column(n, label) for n, label, _ in COUNTS]
HOW_RATES = ("Unique open rate = unique opens / sends; unique click rate = unique clicks / sends; click-to-open = "
             "unique clicks / unique opens; hard and soft bounce rates = hardbounces and softbounces / sends, "
             "apart; unsubscribe rate = unsubscribes / sends.")
SENT = ("Sent campaigns are those with send_amt > 0, dated by their send date (sdate, or ldate where sdate "
        "is empty) in the account's time zone.")


def _sent(src: Source) -> str:
    """SQL: the campaigns sent in the window, with their counters (nulls as 0) and send time."""
    counts = ", ".join(f"coalesce({api}, 0) AS {name}" for name, _, api in COUNTS)
    return (f"(SELECT id, name, coalesce(nullif(type, ''), '(none)') AS type, coalesce(sdate, ldate) AS sent_at, "
            f"{counts}, coalesce(opens, 0) AS opens, coalesce(linkclicks, 0) AS clicks "
            f"FROM {src.rel('campaigns')} WHERE coalesce(send_amt, 0) > 0 AND coalesce(sdate, ldate) IS NOT NULL "
            f"AND {src.window.where('coalesce(sdate, ldate)')})")


def _sums() -> str:
    return ", ".join(f"CAST(sum({n}) AS BIGINT) AS {n}" for n, _, _ in COUNTS)


def _rates() -> str:
    return ", ".join(f"{rate(num, den)} AS {n}" for n, _, num, den in RATES)


def _nothing_sent(src: Source) -> str:
    rel = src.rel("campaigns")
    total, last = src.rows(f"SELECT count(*), max(coalesce(sdate, ldate)) FROM {rel} "
                               "WHERE coalesce(send_amt, 0) > 0")[0]
    if not total:
        drafts = src.value(f"SELECT count(*) FROM {rel}")
        return (f"No campaign has been sent yet ({drafts} campaigns in the mirror, all drafts, scheduled or "
                "without sends).")
    return (f"No campaign was sent {src.window.words()}; {total} were sent in all, the last on "
            f"{last.date().isoformat() if last else 'an unknown day'}: widen --since (e.g. --since all).")


def figures(src: Source) -> Iterator[Figure]:
    needs = ("campaigns",)
    sent = _sent(src) if src.has("campaigns") else None
    w = src.window

    def empty() -> str:
        return _nothing_sent(src)

    columns = [Column("id", "Id", "text"), Column("name", "Campaign", "text"), Column("type", "Type", "text"),
               Column("sent", "Sent", "date"), *COUNT_COLUMNS, *RATE_COLUMNS]
    sql = None if sent is None else (
        f"SELECT id, name, type, CAST({w.local('sent_at')} AS DATE) AS sent, "
        f"{', '.join(n for n, _, _ in COUNTS)}, {_rates()} FROM {sent} ORDER BY sent_at, id")
    per_campaign = figure(src, "email_campaigns", "email", "Campaigns sent",
                          f"One row per campaign. {SENT} {HOW_RATES}", columns, sql, needs=needs, empty=empty)

    columns = [Column("period", "Period", "date"), Column("campaigns", "Campaigns"), *COUNT_COLUMNS, *RATE_COLUMNS]
    sql = None if sent is None else (
        f"WITH c AS {sent}, p AS ({w.periods('(SELECT min(sent_at) FROM c)')}), "
        f"a AS (SELECT {w.period('sent_at')} AS period, count(*) AS campaigns, {_sums()} FROM c GROUP BY 1) "
        f"SELECT p.period, coalesce(a.campaigns, 0) AS campaigns, "
        f"{', '.join(f'coalesce(a.{n}, 0) AS {n}' for n, _, _ in COUNTS)}, {_rates()} "
        f"FROM p LEFT JOIN a USING (period) WHERE EXISTS (SELECT 1 FROM c) ORDER BY p.period")
    yield figure(src, "email_over_time", "email", f"E-mail performance by {w.grain}",
                 f"Sent campaigns summed per {w.grain} of their send date ({w.grain}s start on "
                 f"{'Monday' if w.grain == 'week' else 'the 1st'}), then each rate is the sum of its numerator over "
                 f"the sum of its denominator (weighted by sends, not an average of rates). {HOW_RATES} "
                 f"A {w.grain} without campaigns shows 0 campaigns and no rates.",
                 columns, sql, needs=needs, empty=empty)

    columns = [Column("type", "Campaign type", "text"), Column("campaigns", "Campaigns"), *COUNT_COLUMNS,
               *RATE_COLUMNS]
    sql = None if sent is None else (
        f"SELECT type, campaigns, {', '.join(n for n, _, _ in COUNTS)}, {_rates()} FROM "
        f"(SELECT type, count(*) AS campaigns, {_sums()} FROM {sent} GROUP BY type) ORDER BY sends DESC, type")
    yield figure(src, "email_by_type", "email", "By campaign type",
                 f"Sent campaigns grouped by their type (single, recurring, split, responder...), sums then rates "
                 f"as over time. {HOW_RATES}", columns, sql, needs=needs, empty=empty)

    columns = [Column("rank_group", "", "text"), Column("rank", "Rank"), Column("id", "Id", "text"),
               Column("name", "Campaign", "text"), Column("sends", "Sends"),
               *[c for c in RATE_COLUMNS if c.name in ("open_rate", "click_rate", "click_to_open_rate")]]
    sql = None if sent is None else (
        f"WITH c AS (SELECT id, name, sends, {_rates()} FROM {sent} WHERE sends >= {MIN_SENDS}), "
        f"r AS (SELECT *, row_number() OVER (ORDER BY open_rate DESC, click_rate DESC, id) AS best, "
        f"row_number() OVER (ORDER BY open_rate ASC, click_rate ASC, id DESC) AS worst, count(*) OVER () AS n FROM c) "
        f"SELECT 'best' AS rank_group, best AS rank, id, name, sends, open_rate, click_rate, click_to_open_rate "
        f"FROM r WHERE best <= least({RANK}, (n + 1) // 2) UNION ALL "
        f"SELECT 'worst', worst, id, name, sends, open_rate, click_rate, click_to_open_rate FROM r "
        f"WHERE worst <= least({RANK}, n // 2) ORDER BY rank_group, rank")

    def few() -> str:
        return (f"No campaign sent {w.words()} reached {MIN_SENDS} sends: rates of smaller sends are left out "
                "of the ranking." if src.value(f"SELECT count(*) FROM {sent}") else _nothing_sent(src))

    yield figure(src, "email_best_worst", "email", "Best and worst campaigns by unique open rate",
                 f"Campaigns sent {w.words()} with at least {MIN_SENDS} sends, ranked by unique open rate (then "
                 f"unique click rate): the top {RANK} and the bottom {RANK} (with fewer than {2 * RANK} campaigns, "
                 "the better half and the worse half).", columns, sql, needs=needs, empty=few)

    columns = [Column("metric", "Metric", "text"), Column("unique_rate", "From unique counts", "rate"),
               Column("total_rate", "From total counts", "rate"), Column("factor", "Inflation", "factor")]
    sql = None if sent is None else (
        f"WITH s AS (SELECT sum(sends) AS sends, sum(unique_opens) AS uo, sum(opens) AS o, sum(unique_clicks) AS uc, "
        f"sum(clicks) AS c FROM {sent}) "
        f"SELECT 'open rate' AS metric, {rate('uo', 'sends')} AS unique_rate, {rate('o', 'sends')} AS total_rate, "
        f"{rate('o', 'uo')} AS factor FROM s WHERE sends > 0 UNION ALL "
        f"SELECT 'click rate', {rate('uc', 'sends')}, {rate('c', 'sends')}, {rate('c', 'uc')} FROM s WHERE sends > 0")
    fig = figure(src, "email_inflation", "email", "What non-unique counts would have shown",
                 f"Over the campaigns sent {w.words()}: the open rate from uniqueopens / send_amt against opens / "
                 "send_amt (every open, counted again each time one person reopens), and the same for "
                 "uniquelinkclicks against linkclicks. Inflation = total / unique. This report uses the unique "
                 "counts everywhere.", columns, sql, needs=needs, empty=empty)
    inflated = [r for r in fig.rows() if r["factor"] is not None and float(r["factor"]) >= INFLATED]  # type: ignore[arg-type]
    if inflated:
        fig.note = " ".join(
            f"Counting every {'open' if r['metric'] == 'open rate' else 'click'} instead of unique ones would have "
            f"shown {r['metric']} {float(r['total_rate']):.1%} instead of {float(r['unique_rate']):.1%} "  # type: ignore[arg-type]
            f"(x{float(r['factor']):.2f})." for r in inflated)  # type: ignore[arg-type]
    yield fig
    yield per_campaign  # last: the trend first, the detail after
