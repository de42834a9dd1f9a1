"""`acflow init`: a starter acflow.yaml with the flows Coupler.io's ActiveCampaign pages recommend."""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError

STARTER = """\
# acflow.yaml: ActiveCampaign data flows as code. Check it with `acflow validate`, run it with
# `acflow run` (or `acflow run deals_pipeline`), look first with `acflow preview deals_pipeline`.
# Paths are relative to this file. The key is read from the environment, never written anywhere.
# `acflow serve` runs each flow on its schedule: below, the cadences Coupler.io's ActiveCampaign pages
# recommend (times in the timezone: given, UTC if none; change them to your working hours).
version: 1

accounts:
  main:
    url_env: ACTIVECAMPAIGN_API_URL   # or url: https://youraccount.api-us1.com
    key_env: ACTIVECAMPAIGN_API_KEY

flows:
  # Email performance: rates from unique opens and clicks; hard and soft bounces kept apart.
  campaign_performance:
    source: campaigns
    lookups: [owner]
    filter: send_amt > 0
    select: [id, name, status_label, sdate, owner_name, send_amt, uniqueopens, uniquelinkclicks,
             open_rate, click_rate, click_to_open_rate, hardbounces, hard_bounce_rate,
             softbounces, soft_bounce_rate, unsubscribes, unsubscribe_rate]
    sort: sdate desc
    to: out/campaign_performance.csv
    schedule: {at: "06:00"}   # daily: campaigns change as they are sent

  # Contacts without the deleted ones (deleted = 0, as the seeds advise).
  active_contacts:
    source: contacts
    filter: deleted = 0
    select: [id, email, firstName, lastName, phone, orgname, cdate, udate, bounced_hard, bounced_soft]
    sort: id
    to: out/active_contacts.parquet
    schedule: {at: "03:00"}   # nightly: the big read (50,000+ contacts) off working hours

  # The pipeline: amounts in major units per currency, the status label, stage, pipeline and owner names.
  deals_pipeline:
    source: deals
    lookups: [stage, pipeline, owner]
    select: [id, title, amount, currency, status_label, pipeline_name, stage_name, owner_name,
             winProbability, cdate, mdate]
    sort: id
    to: out/acflow.xlsx
    sheet: Deals pipeline
    schedule: {at: ["07:00", "13:00"]}   # twice daily for deals in active sales cycles

  # Deals enriched with their contact: deals.contact = contacts.id.
  deals_with_contacts:
    source: deals
    join:
      entity: contacts
      on: {contact: id}
      how: left
      columns: [email, firstName, lastName]
      prefix: contact_
    select: [id, title, amount, currency, status_label, contact, contact_email, contact_firstName,
             contact_lastName]
    sort: id
    to: duckdb:///out/acflow.duckdb?table=deals_with_contacts
    schedule: {at: ["07:00", "13:00"]}

  # Open pipeline per stage and currency (amounts of different currencies are never added up).
  deals_by_stage:
    source: deals
    lookups: [stage, pipeline]
    filter: status_label = 'open'
    group_by: [pipeline_name, stage_name, currency]
    aggregate:
      deals: count(*)
      total_amount: sum(amount)
      average_amount: avg(amount)
    sort: [pipeline_name, stage_name, currency]
    to: sqlite:///out/acflow.db?table=deals_by_stage
    schedule: {at: ["07:00", "13:00"]}

  lists:
    source: lists
    lookups: [owner]
    select: [id, name, stringid, owner_name, cdate, udate, private, optinoptout, sender_name]
    sort: id
    to: out/acflow.xlsx
    sheet: Lists
    schedule: {every: 1w, days: [mon], at: "06:30"}   # weekly: lists and segments change slowly

  segments:
    source: segments
    select: [id, name, hidden, created_timestamp, updated_timestamp]
    sort: id
    to: out/acflow.xlsx
    sheet: Segments
    schedule: {every: 1w, days: [mon], at: "06:30"}

  forms:
    source: forms
    select: [id, name, title, action, url, entries, cdate, udate, cfields]
    sort: id
    to: out/forms.jsonl
    schedule: {every: 1w, days: [mon], at: "06:30"}
"""


def init(path: str | Path = "acflow.yaml", *, force: bool = False) -> Path:
    """Write the starter acflow.yaml; never over an existing file unless `force`."""
    target = Path(path)
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists: edit it, or pass --force to overwrite it")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(STARTER, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {target}: {exc.strerror}") from None
    return target
