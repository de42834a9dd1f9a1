"""Everything acflow knows about ActiveCampaign's entities, one row each.

The client, the sandbox's routes, the mirror's tables and the CLI's entity
choices all read ``CATALOG``; a new entity or field is a line here, not a hunt.
Field names are exactly as the API sends them; the types say what each string
really holds (see ``columns.py`` for how they are converted).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple


class ColType(StrEnum):
    ID = "id"  # an id or a reference to one; sent as a string ("46")
    INT = "int"  # a counter or number; sent as a string ("1200")
    FLAG = "flag"  # 0/1, sent as "0"/"1" or as a JSON bool; kept 0/1 so `deleted = 0` works
    TEXT = "text"
    # ISO with the account's offset, or naive in the account's zone. Even the `*_utc_timestamp`
    # fields are local time: every recorded payload shows them equal to the local cdate/udate.
    TIMESTAMP = "timestamp"
    DATE = "date"  # a calendar day ("2025-08-02": bounced_date, rating_tstamp), never an instant
    JSON = "json"  # nested objects and id arrays, kept as JSON text ("" is null)


# The ISO date and the naive local clock of one instant, on one record (cdate is
# "2020-05-24T05:16:44-05:00" where created_timestamp is "2020-05-24 05:16:44"): what shows that
# the naive fields are in the account's zone, the zone of the ISO offsets (zones.py).
TWINS: tuple[tuple[str, str], ...] = (("cdate", "created_timestamp"), ("udate", "updated_timestamp"),
                                      ("cdate", "created_utc_timestamp"), ("udate", "updated_utc_timestamp"))


class Paging(StrEnum):
    OFFSET = "offset"
    ID_KEYSET = "id_keyset"  # orders[id]=ASC + id_greater: only /contacts supports it


def _cols(spec: str) -> Mapping[str, ColType]:
    """`"id:id name:text ..."` -> {"id": ColType.ID, ...}; keeps each row on a few lines."""
    out: dict[str, ColType] = {}
    for item in spec.split():
        name, _, kind = item.partition(":")
        out[name] = ColType(kind)
    return MappingProxyType(out)


class Lookup(NamedTuple):
    """An id column that names a record of another entity, and what to show instead of the id."""

    column: str  # the id column here (deals.stage)
    entity: str  # the entity it points at (dealStages)
    value: str  # SQL over that entity's columns (title)
    name: str  # the column a flow's lookup adds (stage_name)


_PERSON = "coalesce(nullif(trim(concat_ws(' ', \"firstName\", \"lastName\")), ''), username)"
OWNER = Lookup("userid", "users", _PERSON, "owner_name")


@dataclass(frozen=True)
class Entity:
    name: str  # what users type and what tables are called
    path: str  # under /api/3
    key: str  # the list response's array key
    single: str  # the by-id response's key
    columns: Mapping[str, ColType]
    seed: bool = False  # one of the six entities Coupler.io offers
    paging: Paging = Paging.OFFSET
    order: Mapping[str, str] = field(default_factory=dict)  # sent on every list request
    cursor: str | None = None  # update-time column that drives incremental sync
    cursor_fallback: str | None = None  # used where the cursor is null (never updated)
    since: str | None = None  # the server-side filter for the cursor
    created_since: str | None = None  # the filter for new records (whose update time may still be null)
    sideloads: tuple[str, ...] = ()  # other arrays the list response carries
    stub_flag: str | None = None  # records the key may not see come back reduced, flagged by this
    deleted_flag: str | None = None  # soft-delete column users filter on
    derived: Mapping[str, str] = field(default_factory=dict)  # column -> SQL over raw columns
    lookups: Mapping[str, Lookup] = field(default_factory=dict)  # a flow's `lookups: [stage]`
    aliases: tuple[str, ...] = ()
    description: str = ""


# Digits after the decimal point per ISO 4217 currency, where not 2.
# Deal values are sent in the smallest unit: usd 150000 is 1,500.00; jpy 1500 is 1,500.
MINOR_UNITS: Mapping[str, int] = MappingProxyType({
    "bif": 0, "clp": 0, "djf": 0, "gnf": 0, "isk": 0, "jpy": 0, "kmf": 0, "krw": 0, "pyg": 0,
    "rwf": 0, "ugx": 0, "uyi": 0, "vnd": 0, "vuv": 0, "xaf": 0, "xof": 0, "xpf": 0,
    "bhd": 3, "iqd": 3, "jod": 3, "kwd": 3, "lyd": 3, "omr": 3, "tnd": 3,
})


def _amount_sql() -> str:
    by_digits: dict[int, list[str]] = {}
    for code, digits in MINOR_UNITS.items():
        by_digits.setdefault(digits, []).append(f"'{code}'")
    whens = " ".join(
        f"WHEN lower(currency) IN ({', '.join(codes)}) THEN {1 / 10 ** digits:.{digits}f}"
        for digits, codes in sorted(by_digits.items())
    )
    # decimal times decimal stays exact (a division would give a double)
    return f"CAST(CAST(value AS DECIMAL(38, 0)) * CASE {whens} ELSE 0.01 END AS DECIMAL(38, 3))"


def _label_sql(column: str, labels: Mapping[int, str]) -> str:
    whens = " ".join(f"WHEN {code} THEN '{label}'" for code, label in labels.items())
    return f"CASE {column} {whens} END"


def _rate_sql(numerator: str, denominator: str) -> str:
    return f"round(CAST({numerator} AS DOUBLE) / nullif({denominator}, 0), 4)"


DEAL_STATUS = MappingProxyType({0: "open", 1: "won", 2: "lost"})
CAMPAIGN_STATUS = MappingProxyType(
    {0: "draft", 1: "scheduled", 2: "sending", 3: "paused", 4: "stopped", 5: "completed"}
)

_ENTITIES = [
    Entity(
        "campaigns", "campaigns", "campaigns", "campaign", seed=True,
        description="Email campaigns with sends, opens, clicks, bounces and unsubscribes.",
        lookups={"owner": OWNER},
        columns=_cols(
            "id:id type:text userid:id segmentid:id bounceid:id realcid:id sendid:id threadid:id"
            " seriesid:id formid:id basetemplateid:text basemessageid:id addressid:id source:text"
            " name:text cdate:timestamp mdate:timestamp sdate:timestamp ldate:timestamp"
            " send_amt:int total_amt:int opens:int uniqueopens:int linkclicks:int uniquelinkclicks:int"
            " subscriberclicks:int forwards:int uniqueforwards:int hardbounces:int softbounces:int"
            " unsubscribes:int unsubreasons:int updates:int socialshares:int replies:int uniquereplies:int"
            " status:int public:flag mail_transfer:int mail_send:flag mail_cleanup:flag"
            " mailer_log_file:int tracklinks:text tracklinksanalytics:flag trackreads:flag"
            " trackreadsanalytics:flag analytics_campaign_name:text tweet:flag facebook:flag"
            " survey:text embed_images:flag htmlunsub:flag textunsub:flag htmlunsubdata:text"
            " textunsubdata:text recurring:text willrecur:flag split_type:text split_content:flag"
            " split_offset:int split_offset_type:text split_winner_messageid:id"
            " split_winner_awaiting:flag responder_offset:int responder_type:text"
            " responder_existing:flag reminder_field:text reminder_format:text reminder_type:text"
            " reminder_offset:int reminder_offset_type:text reminder_offset_sign:text"
            " reminder_last_cron_run:timestamp activerss_interval:text activerss_url:text"
            " activerss_items:int ip4:int laststep:text managetext:flag schedule:flag"
            " scheduleddate:timestamp waitpreview:flag deletestamp:timestamp replysys:flag"
            " created_timestamp:timestamp updated_timestamp:timestamp created_by:id updated_by:id"
            " ip:text series_send_lock_time:timestamp can_skip_approval:flag"
            " use_quartz_scheduler:flag verified_opens:int verified_unique_opens:int"
            " segmentname:text has_predictive_content:flag message_id:id screenshot:text"
            " campaign_message_id:id ed_version:int additional_data:json predictive_send:flag"
            " repair_timestamp:timestamp has_outdated_translations:flag moderation_status:int"
            " format:text user:id automation:id typeText:text statusString:text statusToolTip:text"
            " groupLimitViolation:flag campaignIsText:flag hasTranslations:flag repair_by_pydex:flag"
            " isDoubleOptInCampaign:flag numberOfMessages:int"
        ),
        derived={
            # status 1 is "scheduled", except where statusString says "Automation" (reference 8.12)
            "status_label": f"CASE WHEN status = 1 AND lower(\"statusString\") = 'automation' THEN 'automation' "
                            f"ELSE {_label_sql('status', CAMPAIGN_STATUS)} END",
            "open_rate": _rate_sql("uniqueopens", "send_amt"),
            "click_rate": _rate_sql("uniquelinkclicks", "send_amt"),
            "click_to_open_rate": _rate_sql("uniquelinkclicks", "uniqueopens"),
            "hard_bounce_rate": _rate_sql("hardbounces", "send_amt"),
            "soft_bounce_rate": _rate_sql("softbounces", "send_amt"),
            "unsubscribe_rate": _rate_sql("unsubscribes", "send_amt"),
        },
    ),
    Entity(
        "contacts", "contacts", "contacts", "contact", seed=True,
        description="Contacts, active and deleted (filter on deleted = 0).",
        paging=Paging.ID_KEYSET, order={"orders[id]": "ASC"},
        cursor="udate", cursor_fallback="cdate", since="filters[updated_after]",
        created_since="filters[created_after]", sideloads=("scoreValues",), deleted_flag="deleted",
        lookups={"organization": Lookup("orgid", "accounts", "name", "organization_name")},
        columns=_cols(
            "id:id email:text phone:text firstName:text lastName:text orgid:id orgname:text"
            " segmentio_id:text bounced_hard:flag bounced_soft:flag bounced_date:date ip:text"
            " ua:text hash:text socialdata_lastcheck:timestamp email_local:text email_domain:text"
            " sentcnt:int rating_tstamp:date gravatar:int deleted:flag anonymized:flag"
            " cdate:timestamp udate:timestamp adate:timestamp edate:timestamp deleted_at:timestamp"
            " created_utc_timestamp:timestamp updated_utc_timestamp:timestamp"
            " created_timestamp:timestamp updated_timestamp:timestamp created_by:id updated_by:id"
            " email_empty:flag mpp_tracking:flag last_click_date:timestamp last_open_date:timestamp"
            " last_mpp_open_date:timestamp best_send_hour:int scoreValues:json accountContacts:json"
            " organization:id sms_consent:flag sms_consent_updated_at:timestamp whatsapp_id:text"
            " whatsapp_username:text sentiment:text emailDomain:text account:id customerAccount:id"
            " contactTags:json geoIps:json contactAutomations:json contactLists:json fieldValues:json"
            " deals:json"
        ),
    ),
    Entity(
        "lists", "lists", "lists", "list", seed=True,
        description="Mailing lists with opt-in, tracking and sender settings.",
        lookups={"owner": OWNER},
        columns=_cols(
            "id:id stringid:text userid:id name:text cdate:timestamp udate:timestamp"
            " p_use_tracking:flag p_use_analytics_read:flag p_use_analytics_link:flag"
            " p_use_twitter:flag p_use_facebook:flag p_embed_image:flag p_use_captcha:flag"
            " send_last_broadcast:flag private:flag analytics_domains:text analytics_source:text"
            " analytics_ua:text twitter_token:text twitter_token_secret:text facebook_session:text"
            " carboncopy:text subscription_notify:text unsubscription_notify:text require_name:flag"
            " get_unsubscribe_reason:flag to_name:text optinoptout:flag sender_name:text"
            " sender_addr1:text sender_addr2:text sender_city:text sender_state:text sender_zip:text"
            " sender_country:text sender_phone:text sender_url:text sender_reminder:text"
            " fulladdress:text optinmessageid:id optoutconf:flag deletestamp:timestamp"
            " created_timestamp:timestamp updated_timestamp:timestamp created_by:id updated_by:id user:id"
            " active_subscribers:int non_deleted_subscribers:int channel:text description:text"
        ),
    ),
    Entity(
        "deals", "deals", "deals", "deal", seed=True,
        description="CRM deals; value is in the currency's smallest unit, amount in major units.",
        order={"orders[cdate]": "ASC"},
        cursor="mdate", cursor_fallback="cdate", since="filters[updated_after]",
        created_since="filters[created_after]", stub_flag="isDisabled",
        lookups={"stage": Lookup("stage", "dealStages", "title", "stage_name"),
                 "pipeline": Lookup("group", "dealGroups", "title", "pipeline_name"),
                 "owner": Lookup("owner", "users", _PERSON, "owner_name")},
        columns=_cols(
            "id:id title:text description:text owner:id contact:id organization:id group:id stage:id"
            " percent:int cdate:timestamp mdate:timestamp nextdate:timestamp nexttaskid:id"
            " nextTask:json value:int currency:text winProbability:int"
            " winProbabilityMdate:timestamp status:int activitycount:int nextdealid:id"
            " edate:timestamp hash:text isDisabled:flag account:id customerAccount:id"
        ),
        derived={"amount": _amount_sql(), "status_label": _label_sql("status", DEAL_STATUS)},
    ),
    Entity(
        "segments", "segments", "segments", "segment", seed=True,
        description="Audience segments (v3).",
        columns=_cols(
            "id:id name:text logic:text hidden:flag seriesid:id created_timestamp:timestamp"
            " updated_timestamp:timestamp created_by:id updated_by:id"
        ),
    ),
    Entity(
        "forms", "forms", "forms", "form", seed=True,
        description="Lead-capture forms; nested settings kept as JSON.",
        lookups={"owner": OWNER},
        columns=_cols(
            "id:id name:text action:text actiondata:json submit:text submitdata:json url:text"
            " layout:text title:text body:text button:text thanks:text style:json options:json"
            " cfields:json parentformid:id userid:id addressid:id cdate:timestamp udate:timestamp"
            " entries:int aid:id defaultscreenshot:text recent:json contacts:int deals:int address:id"
            " source:text"
        ),
    ),
    Entity(
        "users", "users", "users", "user",
        description="Users: owners of deals, campaigns and lists.",
        columns=_cols(
            "id:id username:text firstName:text lastName:text email:text phone:text signature:text"
            " localZoneid:text password_updated_utc_timestamp:timestamp cdate:timestamp"
            " udate:timestamp mfaEnabled:flag"
        ),
    ),
    Entity(
        "dealGroups", "dealGroups", "dealGroups", "dealGroup", aliases=("pipelines",),
        description="Deal pipelines.", sideloads=("dealStages",),
        columns=_cols(
            "id:id title:text currency:text allgroups:flag allusers:flag autoassign:flag"
            " stages:json cdate:timestamp udate:timestamp win_probability_initialize_date:timestamp"
            " count:int source:text"
        ),
    ),
    Entity(
        "dealStages", "dealStages", "dealStages", "dealStage", aliases=("stages",),
        description="Stages of deal pipelines.",
        lookups={"pipeline": Lookup("group", "dealGroups", "title", "pipeline_name")},
        columns=_cols(
            "id:id title:text group:id order:int color:text dealOrder:text width:int"
            " cardRegion1:text cardRegion2:text cardRegion3:text cardRegion4:text cardRegion5:text"
            " cdate:timestamp udate:timestamp"
        ),
    ),
    Entity(
        "tags", "tags", "tags", "tag",
        description="Contact and template tags.",
        columns=_cols(
            "id:id tag:text tagType:text description:text subscriber_count:int cdate:timestamp"
            " created_timestamp:timestamp updated_timestamp:timestamp created_by:id updated_by:id"
            " deleted:flag"
        ),
    ),
    Entity(
        "fields", "fields", "fields", "field", aliases=("custom_fields",),
        description="Contact custom fields.", sideloads=("fieldOptions", "fieldRels"),
        columns=_cols(
            "id:id title:text descript:text type:text isrequired:flag perstag:text defval:text"
            " show_in_list:flag rows:int cols:int visible:flag service:text ordernum:int"
            " cdate:timestamp udate:timestamp options:json relations:json"
            " created_timestamp:timestamp updated_timestamp:timestamp created_by:id updated_by:id"
        ),
    ),
    Entity(
        "fieldValues", "fieldValues", "fieldValues", "fieldValue", aliases=("custom_field_values",),
        description="Contacts' custom field values, one row per contact and field.",
        lookups={"field": Lookup("field", "fields", "title", "field_name"),
                 "contact": Lookup("contact", "contacts", "email", "contact_email")},
        columns=_cols(
            "id:id contact:id field:id value:text cdate:timestamp udate:timestamp created_by:id"
            " updated_by:id owner:id"
        ),
    ),
    Entity(
        "accounts", "accounts", "accounts", "account", aliases=("organizations",),
        description="Accounts (organisations) that contacts and deals belong to.",
        columns=_cols(
            "id:id name:text accountUrl:text createdTimestamp:timestamp updatedTimestamp:timestamp"
            " contactCount:int dealCount:int owner:id"
        ),
    ),
]

CATALOG: Mapping[str, Entity] = MappingProxyType({e.name: e for e in _ENTITIES})
SEED_ENTITIES: tuple[str, ...] = tuple(e.name for e in _ENTITIES if e.seed)
_BY_ALIAS = {alias.lower(): e for e in _ENTITIES for alias in (e.name, *e.aliases)}


def find(name: str) -> Entity | None:
    """An entity by name or alias, case-insensitive (`pipelines` is `dealGroups`)."""
    return _BY_ALIAS.get(name.lower())


def names() -> list[str]:
    return [e.name for e in _ENTITIES]


def suggest(name: str) -> str:
    """What to say after "unknown entity": the closest name or alias, else every entity's name."""
    from .errors import did_you_mean

    spelled = [alias for e in _ENTITIES for alias in (e.name, *e.aliases)]
    return did_you_mean(name, spelled) or f" Choose from: {', '.join(names())}."
