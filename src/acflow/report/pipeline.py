"""Pipeline figures: open deals by pipeline and stage, won and lost over time, win rate, owners,
forecast, and the restricted deals a non-admin key could not see.

Amounts are the catalog's `amount` (value in the currency's smallest unit, divided by 10^its
digits: usd 2, jpy 0, kwd 3) and are summed per currency only. A deal's forecast is
amount x its probability / 100, the probability being, first found: `winProbability`
(ActiveCampaign's prediction), `percent` (the deal's own close probability), or the stage's
probability the user gave (the API has none per stage). ActiveCampaign has no close date: a won
or lost deal is dated by its last change (mdate).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..catalog import CATALOG
from .figures import Column, Figure, Source, figure, lookup, rate

DEALS = CATALOG["deals"]
STUB = DEALS.stub_flag or "isDisabled"
CLOSED = ("ActiveCampaign keeps no close date, so a won or lost deal counts in the period of its last "
          "change (mdate), in the account's time zone.")
ADMIN_ADVICE = ("{n} deals came back restricted (isDisabled = 1: pipelines this API key's user may not manage) "
                "and are left out of every amount, count and rate in this section. Sync with an admin user's "
                "API key for complete pipeline figures.")


def _deals(src: Source) -> str:
    """SQL: the deals the key may see in full, with amount, currency and the forecast probability."""
    given = src.stage_probabilities
    if given:
        values = ", ".join(f"({int(k)}, {float(v)})" for k, v in given.items())
        stage_p = f"(SELECT p FROM (VALUES {values}) AS sp(stage_id, p) WHERE sp.stage_id = d.stage LIMIT 1)"
    else:
        stage_p = "CAST(NULL AS DOUBLE)"
    return (f"(SELECT id, \"group\" AS pipeline_id, stage AS stage_id, owner AS owner_key, status, mdate, "
            f"coalesce(lower(currency), '') AS currency, {DEALS.derived['amount']} AS amount, "
            f"CAST(coalesce(\"winProbability\", \"percent\", {stage_p}) AS DOUBLE) AS p, "
            f"CASE WHEN \"winProbability\" IS NOT NULL THEN 'winProbability' WHEN \"percent\" IS NOT NULL "
            f"THEN 'percent' WHEN {stage_p} IS NOT NULL THEN 'stage' END AS p_source "
            f"FROM {src.rel('deals')} AS d WHERE coalesce({STUB}, 0) = 0)")


def _names(src: Source) -> tuple[str, str, str]:
    """SQL for the pipeline's, the stage's and the owner's names (ids where the lookups are not synced)."""
    pipeline = lookup(src, "dealGroups", "pipeline_id", "title",
                      "CASE WHEN pipeline_id IS NULL THEN '(no pipeline)' ELSE 'pipeline ' || pipeline_id END")
    stage = lookup(src, "dealStages", "stage_id", "title",
                   "CASE WHEN stage_id IS NULL THEN '(no stage)' ELSE 'stage ' || stage_id END")
    owner = lookup(src, "users", "owner_key", DEALS.lookups["owner"].value,
                   "CASE WHEN owner_key IS NULL THEN '(no owner)' ELSE 'user ' || owner_key END")
    return pipeline, stage, owner


def figures(src: Source) -> Iterator[Figure]:
    w = src.window
    needs = ("deals",)
    have = src.has("deals")
    d = _deals(src) if have else ""
    pipeline, stage, owner = _names(src)
    restricted = int(src.value(f"SELECT count(*) FROM {src.rel('deals')} WHERE {STUB} = 1") or 0) if have else 0
    advice = ADMIN_ADVICE.format(n=restricted) if restricted else None
    forecast_how = ("Forecast = amount x probability / 100 per deal, summed; the probability is the deal's "
                    "winProbability, else its percent, else the probability given for its stage; deals with none "
                    "add nothing (counted under 'No probability').")
    order = lookup(src, "dealStages", "stage_id", '"order"', "NULL")

    columns = [Column("pipeline", "Pipeline", "text"), Column("stage", "Stage", "text"),
               Column("currency", "Currency", "text"), Column("deals", "Open deals"),
               Column("amount", "Amount", "money"), Column("forecast", "Forecast", "money"),
               Column("with_win_probability", "winProbability"), Column("with_percent", "percent"),
               Column("with_stage_probability", "Stage probability"), Column("without_probability", "No probability"),
               Column("pipeline_id", "Pipeline id", "text"), Column("stage_id", "Stage id", "text")]
    sql = None if not have else (
        f"SELECT {pipeline} AS pipeline, {stage} AS stage, currency, count(*) AS deals, sum(amount) AS amount, "
        f"sum(amount * CAST(p AS DECIMAL(9, 4)) * 0.01) AS forecast, "
        f"count(*) FILTER (WHERE p_source = 'winProbability') AS with_win_probability, "
        f"count(*) FILTER (WHERE p_source = 'percent') AS with_percent, "
        f"count(*) FILTER (WHERE p_source = 'stage') AS with_stage_probability, "
        f"count(*) FILTER (WHERE p IS NULL) AS without_probability, pipeline_id, stage_id, "
        f"{order} AS stage_order "
        f"FROM {d} AS x WHERE status = 0 GROUP BY pipeline_id, stage_id, currency "
        f"ORDER BY pipeline, pipeline_id, stage_order NULLS LAST, stage_id, currency")
    yield figure(src, "pipeline_open", "pipeline", "Open deals by pipeline and stage",
                 "Open deals (status 0) now, per pipeline, stage and currency: count, amount (value / 10^the "
                 f"currency's minor-unit digits) and forecast; never summed across currencies. {forecast_how}",
                 columns, sql, needs=needs, empty="No open deal." + (f" {advice}" if advice else ""), note=advice)

    columns = [Column("currency", "Currency", "text"), Column("open_deals", "Open deals"),
               Column("open_amount", "Open amount", "money"), Column("forecast", "Forecast", "money"),
               Column("won", "Won"), Column("won_amount", "Won amount", "money"), Column("lost", "Lost"),
               Column("lost_amount", "Lost amount", "money")]
    closed = w.where("mdate")
    sql = None if not have else (
        f"SELECT currency, count(*) FILTER (WHERE status = 0) AS open_deals, "
        f"coalesce(sum(amount) FILTER (WHERE status = 0), 0) AS open_amount, "
        f"sum(amount * CAST(p AS DECIMAL(9, 4)) * 0.01) FILTER (WHERE status = 0) AS forecast, "
        f"count(*) FILTER (WHERE status = 1 AND {closed}) AS won, "
        f"coalesce(sum(amount) FILTER (WHERE status = 1 AND {closed}), 0) AS won_amount, "
        f"count(*) FILTER (WHERE status = 2 AND {closed}) AS lost, "
        f"coalesce(sum(amount) FILTER (WHERE status = 2 AND {closed}), 0) AS lost_amount "
        f"FROM {d} AS x GROUP BY currency ORDER BY count(*) DESC, currency")
    yield figure(src, "pipeline_totals", "pipeline", "Totals per currency",
                 f"One row per currency, never converted or added together. Open: status 0, now. Won (status 1) and "
                 f"lost (status 2): closed {w.words()}. {CLOSED} {forecast_how}",
                 columns, sql, needs=needs, empty="No deal." + (f" {advice}" if advice else ""), note=advice)

    columns = [Column("period", "Period", "date"), Column("won", "Won"), Column("lost", "Lost"),
               Column("win_rate", "Win rate", "rate")]
    sql = None if not have else (
        f"WITH c AS (SELECT status, mdate FROM {d} AS x WHERE status IN (1, 2) AND mdate IS NOT NULL AND {closed}), "
        f"p AS ({w.periods('(SELECT min(mdate) FROM c)')}), "
        f"a AS (SELECT {w.period('mdate')} AS period, count(*) FILTER (WHERE status = 1) AS won, "
        f"count(*) FILTER (WHERE status = 2) AS lost FROM c GROUP BY 1) "
        f"SELECT p.period, coalesce(won, 0) AS won, coalesce(lost, 0) AS lost, {rate('won', 'won + lost')} AS win_rate "
        f"FROM p LEFT JOIN a USING (period) WHERE EXISTS (SELECT 1 FROM c) ORDER BY p.period")

    def none_closed() -> str:
        last = src.value(f"SELECT max(mdate) FROM {d} AS x WHERE status IN (1, 2)")
        if last is None:
            return "No deal has been won or lost yet." + (f" {advice}" if advice else "")
        return (f"No deal was won or lost {w.words()}; the last closed on {last.date().isoformat()}: "  # type: ignore[attr-defined]
                "widen --since (e.g. --since all).")

    yield figure(src, "deals_closed_over_time", "pipeline", f"Won and lost deals by {w.grain}",
                 f"Deals won (status 1) and lost (status 2) per {w.grain}, counted (counts add up across "
                 f"currencies, amounts would not). Win rate = won / (won + lost). {CLOSED}",
                 columns, sql, needs=needs, empty=none_closed)

    columns = [Column("pipeline", "Pipeline", "text"), Column("won", "Won"), Column("lost", "Lost"),
               Column("win_rate", "Win rate", "rate"), Column("pipeline_id", "Pipeline id", "text")]
    sql = None if not have else (
        f"WITH c AS (SELECT pipeline_id, status FROM {d} AS x WHERE status IN (1, 2) AND {closed}), "
        f"a AS (SELECT {pipeline} AS pipeline, count(*) FILTER (WHERE status = 1) AS won, "
        f"count(*) FILTER (WHERE status = 2) AS lost, CAST(c.pipeline_id AS VARCHAR) AS pid, 0 AS k "
        f"FROM c GROUP BY c.pipeline_id UNION ALL SELECT 'All pipelines', count(*) FILTER (WHERE status = 1), "
        f"count(*) FILTER (WHERE status = 2), NULL, 1 FROM c HAVING count(*) > 0) "
        f"SELECT pipeline, won, lost, {rate('won', 'won + lost')} AS win_rate, pid AS pipeline_id FROM a "
        f"ORDER BY k, pipeline, pid")
    yield figure(src, "win_rate", "pipeline", "Win rate by pipeline",
                 f"Won / (won + lost) among deals closed {w.words()}, by count, per pipeline and for all. {CLOSED}",
                 columns, sql, needs=needs, empty=none_closed)

    columns = [Column("owner", "Owner", "text"), Column("open_deals", "Open deals"), Column("won", "Won"),
               Column("lost", "Lost"), Column("win_rate", "Win rate", "rate"), Column("owner_id", "Owner id", "text")]
    sql = None if not have else (
        f"SELECT {owner} AS owner, count(*) FILTER (WHERE status = 0) AS open_deals, "
        f"count(*) FILTER (WHERE status = 1 AND {closed}) AS won, "
        f"count(*) FILTER (WHERE status = 2 AND {closed}) AS lost, "
        f"{rate('count(*) FILTER (WHERE status = 1 AND ' + closed + ')', 'count(*) FILTER (WHERE status IN (1, 2) AND ' + closed + ')')} AS win_rate, "  # noqa: E501
        f"CAST(owner_key AS VARCHAR) AS owner_id FROM {d} AS x GROUP BY owner_key "
        f"HAVING count(*) FILTER (WHERE status = 0 OR {closed}) > 0 ORDER BY open_deals DESC, owner, owner_id")
    yield figure(src, "owners", "pipeline", "By owner",
                 f"Per deal owner: open deals now, and deals won and lost {w.words()} with the win rate "
                 f"won / (won + lost). {CLOSED}", columns, sql, needs=needs,
                 empty="No owner has an open deal or a deal closed in the period.")

    columns = [Column("owner", "Owner", "text"), Column("currency", "Currency", "text"),
               Column("open_amount", "Open amount", "money"), Column("forecast", "Forecast", "money"),
               Column("won_amount", "Won amount", "money"), Column("owner_id", "Owner id", "text")]
    sql = None if not have else (
        f"SELECT {owner} AS owner, currency, coalesce(sum(amount) FILTER (WHERE status = 0), 0) AS open_amount, "
        f"sum(amount * CAST(p AS DECIMAL(9, 4)) * 0.01) FILTER (WHERE status = 0) AS forecast, "
        f"coalesce(sum(amount) FILTER (WHERE status = 1 AND {closed}), 0) AS won_amount, "
        f"CAST(owner_key AS VARCHAR) AS owner_id FROM {d} AS x GROUP BY owner_key, currency "
        f"HAVING count(*) FILTER (WHERE status = 0 OR (status = 1 AND {closed})) > 0 "
        f"ORDER BY owner, owner_id, currency")
    yield figure(src, "owner_amounts", "pipeline", "Amounts by owner and currency",
                 f"Per owner and currency: open amount and forecast now, amount won {w.words()}. {forecast_how}",
                 columns, sql, needs=needs, empty="No owner has an open or won deal in the period.")

    columns = [Column("restricted_deals", "Restricted deals"), Column("deals", "All deals"),
               Column("share", "Share", "rate")]
    sql = None if not have else (
        f"SELECT count(*) FILTER (WHERE {STUB} = 1) AS restricted_deals, count(*) AS deals, "
        f"{rate(f'count(*) FILTER (WHERE {STUB} = 1)', 'count(*)')} AS share FROM {src.rel('deals')}")
    yield figure(src, "restricted", "pipeline", "Restricted deals",
                 "Deals the API sent as stubs (isDisabled = 1: id and title only) because the key's user may not "
                 "manage their pipeline, against all deals the mirror holds. A stub never replaces a deal an admin "
                 "key saw in full.", columns, sql, needs=needs,
                 note=advice or "None: this key sees every pipeline's deals in full.")
