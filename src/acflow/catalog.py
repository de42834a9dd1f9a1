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
    PER_PARENT = "per_parent"  # a list under each record of another entity (links/{id}/linkData), offset paged


class Access(StrEnum):
    """What a key of a user who is not an admin (a restricted key) sees of an entity."""

    ALL = "all"  # every working key reads every record
    PIPELINES = "pipelines"  # records of pipelines the user may not manage are left out or stubbed
    ADMIN = "admin"  # admin users only: other keys are answered 403


PAGE = 100  # records per list request: the API's maximum (client.PAGE_SIZE asks for it)


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


class Via(NamedTuple):
    """An entity whose changed records come side-loaded with another's incremental read: the
    records of each parent read, all of them (`include=` on the parent's list)."""

    parent: str  # contacts
    include: str  # the parent list's `include=` value that side-loads them: fieldValues
    owner: str  # the column naming the parent record: contact


_PERSON = "coalesce(nullif(trim(concat_ws(' ', \"firstName\", \"lastName\")), ''), username)"
OWNER = Lookup("userid", "users", _PERSON, "owner_name")


@dataclass(frozen=True)
class Entity:
    name: str  # what users type and what tables are called
    path: str  # under /api/3; "{id}" stands for the parent's id where the records live under another's
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
    access: Access = Access.ALL
    counted: bool = True  # list answers carry meta.total (custom field data's have no meta at all)
    parent: str | None = None  # PER_PARENT: the entity whose every record has a list of these
    parent_key: str | None = None  # PER_PARENT: the column naming the parent (added where the API leaves it out)
    documented: bool = True  # in ActiveCampaign's API reference; else read by singer's tap on live accounts
    note: str = ""  # what else a user should know: the documented form, costs, inferred fields
    via: Via | None = None  # no update filter of its own, but side-loaded by the parent's incremental read


# Digits after the decimal point per ISO 4217 currency, where not 2.
# Deal values are sent in the smallest unit: usd 150000 is 1,500.00; jpy 1500 is 1,500.
MINOR_UNITS: Mapping[str, int] = MappingProxyType({
    "bif": 0, "clp": 0, "djf": 0, "gnf": 0, "isk": 0, "jpy": 0, "kmf": 0, "krw": 0, "pyg": 0,
    "rwf": 0, "ugx": 0, "uyi": 0, "vnd": 0, "vuv": 0, "xaf": 0, "xof": 0, "xpf": 0,
    "bhd": 3, "iqd": 3, "jod": 3, "kwd": 3, "lyd": 3, "omr": 3, "tnd": 3,
})


def _amount_sql(column: str = "value") -> str:
    """`column` (in the currency's smallest unit) in major units, by the row's `currency`."""
    by_digits: dict[int, list[str]] = {}
    for code, digits in MINOR_UNITS.items():
        by_digits.setdefault(digits, []).append(f"'{code}'")
    whens = " ".join(
        f"WHEN lower(currency) IN ({', '.join(codes)}) THEN {1 / 10 ** digits:.{digits}f}"
        for digits, codes in sorted(by_digits.items())
    )
    # decimal times decimal stays exact (a division would give a double)
    return f"CAST(CAST({column} AS DECIMAL(38, 0)) * CASE {whens} ELSE 0.01 END AS DECIMAL(38, 3))"


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
        created_since="filters[created_after]", stub_flag="isDisabled", access=Access.PIPELINES,
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
        description="Deal pipelines.", sideloads=("dealStages",), access=Access.PIPELINES,
        columns=_cols(
            "id:id title:text currency:text allgroups:flag allusers:flag autoassign:flag"
            " stages:json cdate:timestamp udate:timestamp win_probability_initialize_date:timestamp"
            " count:int source:text"
        ),
    ),
    Entity(
        "dealStages", "dealStages", "dealStages", "dealStage", aliases=("stages",),
        description="Stages of deal pipelines.", access=Access.PIPELINES,
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
        via=Via("contacts", "fieldValues", "contact"),
        note="No update filter: a full read is every value (contacts x fields / 100 requests). Synced with "
             "contacts, a sync after the first asks for include=fieldValues on the contacts' incremental read "
             "instead: the changed contacts' values come with them, at no request of their own, and replace "
             "those contacts' values held. Whether ActiveCampaign moves a contact's udate when only a field "
             "value changes is not documented: a value change that does not is seen at the next full read "
             "(--full, or every full_every, 7 days by default).",
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

# ---- beyond the seeds: every stream of singer's tap-activecampaign 1.3.1 that API v3 serves ----------
# Field names and JSON types follow the API reference's examples where it has them (documented=True),
# else the tap's schemas (its names are snake_cased from the API's; camelCase restored where the API's
# neighbours use it) and the API's habits; a field the API sends that is not here is still kept, as text.

CONTACT = Lookup("contact", "contacts", "email", "contact_email")
LIST_STATUS = MappingProxyType({0: "unconfirmed", 1: "subscribed", 2: "unsubscribed", 3: "bounced"})
AUTOMATION_STATUS = MappingProxyType({1: "active", 2: "inactive"})
CONTACT_AUTOMATION_STATUS = MappingProxyType({0: "failed", 1: "active", 2: "completed"})
TASK_STATUS = MappingProxyType({0: "incomplete", 1: "complete"})
ORDER_STATE = MappingProxyType({0: "pending", 1: "completed", 2: "abandoned", 3: "recovered", 4: "waiting"})
_CUSTOM_META = (
    "id:id fieldLabel:text fieldType:text fieldOptions:json fieldDefault:text fieldDefaultCurrency:text"
    " isFormVisible:flag isRequired:flag displayOrder:int personalization:text knownFieldId:id"
    " hideFieldFlag:flag createdTimestamp:timestamp updatedTimestamp:timestamp"
)
_GROUP_PERMISSIONS = (
    "p_admin:flag pgListAdd:flag pgListEdit:flag pgListDelete:flag"
    " pgListHeaders:flag pgListEmailaccount:flag pgListBounce:flag pgMessageAdd:flag pgMessageEdit:flag"
    " pgMessageDelete:flag pgMessageSend:flag pgContactAdd:flag pgContactEdit:flag pgContactDelete:flag"
    " pgContactMerge:flag pgContactImport:flag pgContactApprove:flag pgContactExport:flag"
    " pgContactSync:flag pgContactFilters:flag pgContactActions:flag pgContactFields:flag pg_user_add:flag"
    " pg_user_edit:flag pg_user_delete:flag pgGroupAdd:flag pgGroupEdit:flag pgGroupDelete:flag"
    " pgTemplateAdd:flag pgTemplateEdit:flag pgTemplateDelete:flag pgPersonalizationAdd:flag"
    " pgPersonalizationEdit:flag pgPersonalizationDelete:flag pgAutomationManage:flag pgFormEdit:flag"
    " pgReportsCampaign:flag pgReportsList:flag pgReportsUser:flag pgReportsTrend:flag"
    " pgStartupReports:flag pgStartupGettingstarted:flag pgDeal:flag pgDealDelete:flag pgDealReassign:flag"
    " pgDealGroupAdd:flag pgDealGroupEdit:flag pgDealGroupDelete:flag pgSavedResponsesManage:flag"
)
_CAMPAIGN_COUNTS = (
    " send_amt:int total_amt:int opens:int uniqueopens:int linkclicks:int uniquelinkclicks:int"
    " subscriberclicks:int forwards:int uniqueforwards:int hardbounces:int softbounces:int unsubscribes:int"
    " unsubreasons:int updates:int socialshares:int replies:int uniquereplies:int"
)

_ENTITIES += [
    # -- contacts' memberships and what happened to them --------------------------------------------
    Entity(
        "contactLists", "contactLists", "contactLists", "contactList", aliases=("list_memberships",),
        description="List memberships: one row per contact and list, with status and subscribe/unsubscribe dates.",
        documented=False, note="The reference documents only /contacts/{id}/contactLists (1 request per contact).",
        lookups={"list": Lookup("list", "lists", "name", "list_name"), "contact": CONTACT},
        columns=_cols(
            "id:id contact:id list:id form:id seriesid:id sdate:timestamp udate:timestamp status:int"
            " responder:flag sync:flag unsubreason:text campaign:id message:id first_name:text last_name:text"
            " ip4Sub:text sourceid:int autosyncLog:id ip4_last:text ip4Unsub:text"
            " created_timestamp:timestamp updated_timestamp:timestamp created_by:id updated_by:id"
            " unsubscribeAutomation:id automation:id"
        ),
        derived={"status_label": _label_sql("status", LIST_STATUS)},
    ),
    Entity(
        "contactTags", "contactTags", "contactTags", "contactTag", aliases=("contact_tags",),
        description="Tags on contacts: one row per contact and tag.",
        documented=False, note="The reference documents only /contacts/{id}/contactTags (1 request per contact).",
        lookups={"tag": Lookup("tag", "tags", "tag", "tag_name"), "contact": CONTACT},
        columns=_cols(
            "id:id contact:id tag:id cdate:timestamp created_timestamp:timestamp updated_timestamp:timestamp"
            " created_by:id updated_by:id"
        ),
    ),
    Entity(
        "automations", "automations", "automations", "automation",
        description="Automations with how many contacts entered and exited them.",
        lookups={"owner": OWNER},
        columns=_cols(
            "id:id name:text cdate:timestamp mdate:timestamp userid:id status:int entered:int exited:int"
            " hidden:flag defaultscreenshot:text screenshot:text entitlements_violation:flag source:int"
            " description:text exit_on_unsubscribe:flag exit_on_conversion:flag multientry:flag"
        ),
        derived={"status_label": _label_sql("status", AUTOMATION_STATUS)},
    ),
    Entity(
        "contactAutomations", "contactAutomations", "contactAutomations", "contactAutomation",
        aliases=("automation_runs",),
        description="Contacts in automations: when they entered, their progress, when they left.",
        lookups={"automation": Lookup("automation", "automations", "name", "automation_name"), "contact": CONTACT},
        columns=_cols(
            "id:id contact:id seriesid:id startid:id status:int batchid:text adddate:timestamp remdate:timestamp"
            " timespan:int lastblock:id lastlogid:id lastdate:timestamp completedElements:int totalElements:int"
            " completed:flag completeValue:int automation:id"
        ),
        derived={"status_label": _label_sql("status", CONTACT_AUTOMATION_STATUS)},
    ),
    Entity(
        "automationBlocks", "automationBlocks", "automationBlocks", "automationBlock",
        description="The steps of automations; params kept as JSON.", documented=False, deleted_flag="deleted",
        lookups={"automation": Lookup("automation", "automations", "name", "automation_name")},
        columns=_cols(
            "id:id automation:id parent:id ordernum:int params:json deleted:flag cdate:timestamp mdate:timestamp"
        ),
    ),
    Entity(
        "goals", "goals", "goals", "goal",
        description="Automation goals.", documented=False,
        lookups={"automation": Lookup("automation", "automations", "name", "automation_name")},
        columns=_cols(
            "id:id blockid:id seriesid:id name:text cdate:timestamp dirty_stats:flag automation:id"
            " automationBlock:id"
        ),
    ),
    Entity(
        "scores", "scores", "scores", "score",
        description="Lead and deal scoring rules.",
        columns=_cols("id:id reltype:text name:text descript:text status:flag cdate:timestamp mdate:timestamp"),
    ),
    Entity(
        "scoreValues", "scoreValues", "scoreValues", "scoreValue", aliases=("score_values",),
        description="Each contact's (or deal's) points under each score.", documented=False,
        note="Not in singer's tap; the reference documents /contacts/{id}/scoreValues (1 request per contact), "
             "and these records link to /api/3/scoreValues/{id}: the account-wide list is inferred.",
        lookups={"score": Lookup("score", "scores", "name", "score_name"), "contact": CONTACT},
        columns=_cols("id:id score:id contact:id deal:id cdate:timestamp mdate:timestamp scoreValue:int"),
    ),
    Entity(
        "contactData", "contactData", "contactData", "contactDatum", aliases=("contact_data",),
        description="Contacts' geography and first-visit analytics, one row per contact.", documented=False,
        note="The reference documents only /contacts/{id}/contactData (1 request per contact).",
        lookups={"contact": CONTACT},
        columns=_cols(
            "id:id contact:id tstamp:timestamp geoTstamp:timestamp geoIp4:text geoCountry2:text geo_country:text"
            " geoState:text geoCity:text geoZip:text geoArea:text geoLat:text geoLon:text geoTz:text"
            " geoTzOffset:text ga_campaign_source:text ga_campaign_name:text ga_campaign_medium:text"
            " ga_campaign_term:text ga_campaign_content:text ga_campaign_customsegment:text"
            " ga_first_visit:timestamp ga_times_visited:int fb_id:text fb_name:text tw_id:text"
            " created_timestamp:timestamp updated_timestamp:timestamp created_by:id updated_by:id"
        ),
    ),
    # -- e-mail activity: what was sent, opened, clicked, bounced ------------------------------------
    Entity(
        "activities", "activities", "activities", "activity", aliases=("contact_activities",),
        description="Contacts' activity stream (e-mails sent, opened and clicked, notes, deal changes...).",
        documented=False, cursor="tstamp", since="after", order={"orders[tstamp]": "ASC"},
        note="The reference documents /activities?contact=ID (1 request per contact); singer's tap reads the "
             "account-wide list with after=, as here: only activities after the newest one held are read.",
        lookups={"contact": Lookup("subscriberid", "contacts", "email", "contact_email"), "owner": OWNER},
        columns=_cols(
            "id:id tstamp:timestamp subscriberid:id reference_type:text reference_id:id reference_action:text"
            " jsonData:text userid:id permission:text referenceModelName:text notes:json recipients:json"
            " reference:json user:id"
        ),
    ),
    Entity(
        "contactEmails", "contactEmails", "contactEmails", "contactEmail", aliases=("emails_sent",),
        description="Each campaign or automation e-mail sent to each contact.", documented=False,
        lookups={"contact": CONTACT, "message": Lookup("message", "messages", "subject", "message_subject")},
        columns=_cols(
            "id:id messageid:id seriesid:id messageheader:text userid:id d_id:id subscriberid:id account:id"
            " ip:text sdate:timestamp source:text user:id deal:id contact:id message:id"
        ),
    ),
    Entity(
        "links", "links", "links", "link", aliases=("campaign_links",),
        description="Tracked links of campaign messages ('open' is the read tracker), with click counts.",
        documented=False, note="The reference documents /campaigns/{id}/links (1 request per campaign).",
        lookups={"campaign": Lookup("campaign", "campaigns", "name", "campaign_name"),
                 "message": Lookup("message", "messages", "subject", "message_subject")},
        columns=_cols(
            "id:id campaignid:id messageid:id link:text name:text ref:text tracked:flag uniquelinkclicks:int"
            " linkclicks:int campaign:id message:id created_timestamp:timestamp updated_timestamp:timestamp"
            " created_by:id updated_by:id"
        ),
    ),
    Entity(
        "linkData", "links/{id}/linkData", "linkData", "linkDatum", aliases=("clicks", "opens_and_clicks"),
        paging=Paging.PER_PARENT, parent="links", parent_key="link", documented=False,
        description="Who opened and clicked: one row per contact and tracked link (the 'open' link is opens).",
        note="Read link by link: the cost grows with the campaigns' links, not the records. Not documented; "
             "seen in public code that reads contact and tstamp, the other fields are inferred.",
        lookups={"contact": CONTACT, "campaign": Lookup("campaignid", "campaigns", "name", "campaign_name"),
                 "link": Lookup("link", "links", "link", "url")},
        columns=_cols("id:id link:id campaignid:id messageid:id contact:id times:int tstamp:timestamp"),
    ),
    Entity(
        "bounceLogs", "bounceLogs", "bounceLogs", "bounceLog", aliases=("bounces",),
        description="Each bounce: contact, campaign, message and the bounce code.", documented=False,
        note="The reference documents /contacts/{id}/bounceLogs (1 request per contact).",
        lookups={"contact": CONTACT, "campaign": Lookup("campaign", "campaigns", "name", "campaign_name")},
        columns=_cols(
            "id:id tstamp:timestamp bounceid:id subscriberid:id campaignid:id messageid:id codeid:id email:text"
            " error:text source:text created_timestamp:timestamp updated_timestamp:timestamp created_by:id"
            " updated_by:id bounce:id contact:id campaign:id message:id code:text"
        ),
    ),
    Entity(
        "emailActivities", "emailActivities", "emailActivities", "emailActivity", aliases=("one_to_one_emails",),
        description="One-to-one e-mails logged on contacts and deals (not campaign sends).",
        lookups={"contact": Lookup("subscriberid", "contacts", "email", "contact_email"),
                 "deal": Lookup("d_id", "deals", "title", "deal_title")},
        columns=_cols(
            "id:id subscriberid:id userid:id d_id:id account:id reltype:text relid:id fromName:text"
            " fromAddress:text toAddress:text ccAddress:text subject:text message:text messageHtml:text"
            " tstamp:timestamp contact:id deal:id user:id reference:json"
        ),
    ),
    Entity(
        "campaignLists", "campaignLists", "campaignLists", "campaignList",
        description="Which lists each campaign was sent to, with how many contacts each.", documented=False,
        lookups={"campaign": Lookup("campaign", "campaigns", "name", "campaign_name"),
                 "list": Lookup("list", "lists", "name", "list_name")},
        columns=_cols(
            "id:id campaignid:id listid:id userid:id list_amt:int cdate:timestamp udate:timestamp name:text"
            " user:id list:id campaign:id"
        ),
    ),
    Entity(
        "campaignMessages", "campaignMessages", "campaignMessages", "campaignMessage",
        description="Per-message results of campaigns (split tests send several messages).", documented=False,
        lookups={"campaign": Lookup("campaign", "campaigns", "name", "campaign_name"),
                 "message": Lookup("message", "messages", "subject", "message_subject")},
        columns=_cols(
            "id:id messageid:id campaignid:id percentage:text sourcesize:int" + _CAMPAIGN_COUNTS
            + " spamcheck_score:int spamcheck_max:int initial_split_percentage:text screenshot:text"
              " subject:text campaign:id message:id"
        ),
        derived={"open_rate": _rate_sql("uniqueopens", "send_amt"),
                 "click_rate": _rate_sql("uniquelinkclicks", "send_amt")},
    ),
    Entity(
        "messages", "messages", "messages", "message",
        description="E-mail messages of campaigns and automations: sender, subject, text and HTML.",
        lookups={"owner": OWNER},
        columns=_cols(
            "id:id userid:id ed_instanceid:id ed_version:int cdate:timestamp mdate:timestamp name:text"
            " fromname:text fromemail:text reply2:text priority:int charset:text encoding:text format:text"
            " subject:text preheader_text:text text:text html:text"
        ),
    ),
    Entity(
        "templates", "templates", "templates", "template",
        description="E-mail templates.", documented=False, lookups={"owner": OWNER},
        columns=_cols(
            "id:id userid:id ed_instanceid:id ed_version:int name:text subject:text content:text categoryid:id"
            " used:int waitpreview:flag importnum:int mdate:timestamp preview_content:text modified:flag"
            " hidden:flag screenshot:text"
        ),
    ),
    Entity(
        "sms", "sms", "sms", "sms",
        description="SMS sends of automations with their results (SMS plans only).", documented=False,
        lookups={"automation": Lookup("automation", "automations", "name", "automation_name")},
        columns=_cols(
            "id:id userid:id seriesid:id msg:text tstamp:timestamp tf_day:text tf_hr_from:int tf_hr_to:int"
            " sent:int failed:int unsubscribes:int replies:int uniquereplies:int sdate:timestamp"
            " ldate:timestamp user:id automation:id"
        ),
    ),
    Entity(
        "siteMessages", "siteMessages", "siteMessages", "siteMessage",
        description="Site messages shown by automations; the template kept as JSON.", documented=False,
        lookups={"automation": Lookup("automation", "automations", "name", "automation_name")},
        columns=_cols("id:id name:text automation:id template:json ldate:timestamp"),
    ),
    # -- CRM: deals' tasks, notes, history, custom fields; accounts --------------------------------
    Entity(
        "dealTasks", "dealTasks", "dealTasks", "dealTask", aliases=("tasks",),
        description="Tasks on deals and contacts: type, due date, done or not, assignee.",
        access=Access.PIPELINES,
        lookups={"task_type": Lookup("dealTasktype", "dealTasktypes", "title", "task_type"),
                 "owner": Lookup("userid", "users", _PERSON, "owner_name"),
                 "assignee": Lookup("assignee_userid", "users", _PERSON, "assignee_name")},
        columns=_cols(
            "id:id duedate:timestamp edate:timestamp status:int title:text note:text relid:id reltype:text"
            " d_tasktypeid:id userid:id assignee_userid:id cdate:timestamp udate:timestamp automation:id"
            " doneAutomation:id user:id assignee:id dealTasktype:id owner:json"
        ),
        derived={"status_label": _label_sql("status", TASK_STATUS)},
    ),
    Entity(
        "dealTasktypes", "dealTasktypes", "dealTasktypes", "dealTasktype", aliases=("task_types",),
        description="Task types (Call, Email, Meeting...).",
        columns=_cols("id:id title:text status:int defduration:int cdate:timestamp udate:timestamp"),
    ),
    Entity(
        "notes", "notes", "notes", "note", aliases=("deal_notes",),
        description="Notes on deals, contacts, accounts and activities (reltype says which).",
        lookups={"owner": OWNER},
        columns=_cols(
            "id:id relid:id reltype:text userid:id is_draft:flag cdate:timestamp mdate:timestamp note:text"
            " user:id owner:json"
        ),
    ),
    Entity(
        "dealActivities", "dealActivities", "dealActivities", "dealActivity", aliases=("deal_history",),
        description="Deals' history: stage moves, value changes, tasks, notes, e-mails.",
        access=Access.PIPELINES, deleted_flag="deleted",
        lookups={"deal": Lookup("deal", "deals", "title", "deal_title"),
                 "stage": Lookup("stage", "dealStages", "title", "stage_name"),
                 "owner": Lookup("user", "users", _PERSON, "owner_name")},
        columns=_cols(
            "id:id d_id:id d_stageid:id userid:id dataId:id dataType:text dataAction:text dataOldval:text"
            " cdate:timestamp sortdate:timestamp isAddtask:flag deleted:flag seriesid:id deal:id stage:id"
            " user:id automation:id"
        ),
    ),
    Entity(
        "dealGroupUsers", "dealGroupUsers", "dealGroupUsers", "dealGroupUser", aliases=("pipeline_users",),
        description="Which users work each pipeline.", documented=False, access=Access.PIPELINES,
        lookups={"pipeline": Lookup("dealGroup", "dealGroups", "title", "pipeline_name"),
                 "user": Lookup("user", "users", _PERSON, "user_name")},
        columns=_cols("id:id dealGroup:id user:id cdate:timestamp"),
    ),
    Entity(
        "contactDeals", "contactDeals", "contactDeals", "contactDeal", aliases=("secondary_contacts",),
        description="Secondary contacts of deals.",
        lookups={"deal": Lookup("deal", "deals", "title", "deal_title"), "contact": CONTACT},
        columns=_cols(
            "id:id deal:id contact:id role:id cdate:timestamp created_timestamp:timestamp"
            " updated_timestamp:timestamp created_by:id updated_by:id"
        ),
    ),
    Entity(
        "dealCustomFieldMeta", "dealCustomFieldMeta", "dealCustomFieldMeta", "dealCustomFieldMetum",
        counted=False,
        aliases=("deal_custom_fields",), description="Deal custom fields: label, type, options.",
        columns=_cols(_CUSTOM_META),
    ),
    Entity(
        "dealCustomFieldData", "dealCustomFieldData", "dealCustomFieldData", "dealCustomFieldDatum",
        counted=False,
        aliases=("deal_custom_field_values",), access=Access.PIPELINES,
        description="Deals' custom field values, one row per deal and field (currency values in cents).",
        lookups={"field": Lookup("customFieldId", "dealCustomFieldMeta", '"fieldLabel"', "field_name"),
                 "deal": Lookup("dealId", "deals", "title", "deal_title")},
        columns=_cols(
            "id:id dealCustomFieldMetumId:id dealId:id customFieldId:id createdTimestamp:timestamp"
            " updatedTimestamp:timestamp fieldValue:text fieldCurrency:text"
        ),
    ),
    Entity(
        "accountContacts", "accountContacts", "accountContacts", "accountContact",
        description="Which contacts belong to which accounts, with their job titles.",
        lookups={"account": Lookup("account", "accounts", "name", "account_name"), "contact": CONTACT},
        columns=_cols(
            "id:id account:id contact:id jobTitle:text createdTimestamp:timestamp updatedTimestamp:timestamp"
        ),
    ),
    Entity(
        "accountCustomFieldMeta", "accountCustomFieldMeta", "accountCustomFieldMeta", "accountCustomFieldMetum",
        counted=False,
        aliases=("account_custom_fields",), description="Account custom fields: label, type, options.",
        columns=_cols(_CUSTOM_META),
    ),
    Entity(
        "accountCustomFieldData", "accountCustomFieldData", "accountCustomFieldData", "accountCustomFieldDatum",
        counted=False,
        aliases=("account_custom_field_values",),
        description="Accounts' custom field values, one row per account and field.",
        note="The account is `accountId` in each record; only the filter is spelled filters[customerAccountId].",
        lookups={"field": Lookup("customFieldId", "accountCustomFieldMeta", '"fieldLabel"', "field_name"),
                 "account": Lookup("accountId", "accounts", "name", "account_name")},
        columns=_cols(
            "id:id accountCustomFieldMetumId:id accountId:id customFieldId:id createdTimestamp:timestamp"
            " updatedTimestamp:timestamp fieldValue:text fieldCurrency:text"
        ),
    ),
    Entity(
        "calendars", "calendars", "calendars", "calendar",
        description="Calendar feeds of deal and contact tasks.", lookups={"owner": OWNER},
        columns=_cols(
            "id:id userid:id title:text type:text token:text notification:flag cdate:timestamp mdate:timestamp"
        ),
    ),
    Entity(
        "savedResponses", "savedResponses", "savedResponses", "savedResponse", aliases=("saved_responses",),
        description="Saved e-mail responses of the sales team.",
        columns=_cols(
            "id:id title:text subject:text body:text ldate:timestamp last_sent_user_id:id cdate:timestamp"
            " mdate:timestamp"
        ),
    ),
    # -- e-commerce (Deep Data) --------------------------------------------------------------------
    Entity(
        "connections", "connections", "connections", "connection", aliases=("ecom_connections",),
        description="E-commerce and integration connections (Shopify, WooCommerce...).",
        columns=_cols(
            "id:id service:text externalid:text name:text isInternal:flag status:int syncStatus:int"
            " lastSync:timestamp logoUrl:text linkUrl:text listId:id cdate:timestamp udate:timestamp"
        ),
    ),
    Entity(
        "ecomCustomers", "ecomCustomers", "ecomCustomers", "ecomCustomer", aliases=("ecom_customers",),
        description="E-commerce customers per connection, with revenue totals (in cents).",
        lookups={"connection": Lookup("connectionid", "connections", "name", "connection_name")},
        columns=_cols(
            "id:id connectionid:id externalid:text email:text totalRevenue:int totalOrders:int totalProducts:int"
            " avgRevenuePerOrder:int avgProductCategory:text tstamp:timestamp acceptsMarketing:flag connection:id"
        ),
    ),
    Entity(
        "ecomOrders", "ecomOrders", "ecomOrders", "ecomOrder", aliases=("orders",),
        description="E-commerce orders; prices in the currency's smallest unit, total_amount in major units.",
        lookups={"connection": Lookup("connectionid", "connections", "name", "connection_name"),
                 "customer": Lookup("customerid", "ecomCustomers", "email", "customer_email")},
        columns=_cols(
            "id:id externalid:text externalcheckoutid:text orderNumber:text source:int email:text currency:text"
            " connectionid:id customerid:id orderUrl:text shippingMethod:text totalPrice:int shippingAmount:int"
            " taxAmount:int discountAmount:int externalCreatedDate:timestamp externalUpdatedDate:timestamp"
            " abandonedDate:timestamp totalProducts:int createdDate:timestamp updatedDate:timestamp state:int"
            " connection:id orderProducts:json customer:id orderDate:timestamp tstamp:timestamp"
        ),
        derived={"total_amount": _amount_sql('"totalPrice"'), "state_label": _label_sql("state", ORDER_STATE)},
    ),
    Entity(
        "ecomOrderProducts", "ecomOrderProducts", "ecomOrderProducts", "ecomOrderProduct",
        counted=False,
        aliases=("order_products",), description="Products of e-commerce orders (price in cents).",
        lookups={"order": Lookup("orderid", "ecomOrders", '"orderNumber"', "order_number")},
        columns=_cols(
            "id:id orderid:id connectionid:id externalid:text sku:text name:text description:text price:int"
            " quantity:int category:text imageUrl:text productUrl:text createdDate:timestamp"
            " updatedDate:timestamp tstamp:timestamp ecomOrder:id"
        ),
    ),
    Entity(
        "ecomOrderActivities", "ecomOrderActivities", "ecomOrderActivities", "ecomOrderActivity",
        description="The history of e-commerce orders (each change of an order).", documented=False,
        lookups={"order": Lookup("orderid", "ecomOrders", '"orderNumber"', "order_number")},
        columns=_cols(
            "id:id orderid:id connectionid:id customerid:id externalid:text externalcheckoutid:text source:int"
            " orderNumber:text email:text totalPrice:int discountAmount:int shippingAmount:int taxAmount:int"
            " totalProducts:int currency:text shippingMethod:text storeName:text logoUrl:text orderUrl:text"
            " state:int externalCreatedDate:timestamp externalUpdatedDate:timestamp abandonedDate:timestamp"
            " createdDate:timestamp updatedDate:timestamp connection:id order:id"
        ),
    ),
    # -- conversions -------------------------------------------------------------------------------
    Entity(
        "conversions", "conversions", "conversions", "conversion",
        description="Conversions (goals with a value) defined in the account.", documented=False,
        columns=_cols(
            "id:id name:text value:int currency:text limit:int enforcelimit:flag cdate:timestamp udate:timestamp"
        ),
    ),
    Entity(
        "conversionTriggers", "conversionTriggers", "conversionTriggers", "conversionTrigger",
        description="What triggers each conversion.", documented=False,
        lookups={"conversion": Lookup("conversion", "conversions", "name", "conversion_name")},
        columns=_cols(
            "id:id conversion:id triggerType:text modifier:text value:text dynamic:flag retroactive:flag"
            " cdate:timestamp udate:timestamp automationBlock:id"
        ),
    ),
    Entity(
        "contactConversions", "contactConversions", "contactConversions", "contactConversion",
        description="Conversions of contacts, with their value.", documented=False,
        note="singer's schema also lists `conversiontrigger`, which a DuckDB mirror cannot hold beside "
             "`conversionTrigger` (names are case-insensitive there): if sent, it is kept as conversiontrigger_1.",
        lookups={"conversion": Lookup("conversion", "conversions", "name", "conversion_name"), "contact": CONTACT},
        columns=_cols(
            "id:id contact:id conversion:id conversionTrigger:id convertedByType:text convertedById:id"
            " triggerType:text modifier:text value:int currency:text dynamic:flag cdate:timestamp"
            " convertedBy:id"
        ),
    ),
    # -- account settings --------------------------------------------------------------------------
    Entity(
        "groups", "groups", "groups", "group", aliases=("user_groups",),
        description="User groups and their permissions.", access=Access.ADMIN,
        note="Admin keys only (inferred: permissions are managed by admins).",
        columns=_cols(
            "id:id title:text descript:text unsubscribelink:flag optinconfirm:flag " + _GROUP_PERMISSIONS
            + " sdate:timestamp reqApproval:flag reqApproval1st:int reqApprovalNotify:text socialdata:flag"
        ),
    ),
    Entity(
        "webhooks", "webhooks", "webhooks", "webhook",
        description="Webhooks: URL, events and sources.", access=Access.ADMIN,
        note="Admin keys only (inferred: webhooks are set up under Settings > Developer).",
        lookups={"list": Lookup("listid", "lists", "name", "list_name")},
        columns=_cols("id:id cdate:timestamp listid:id name:text url:text events:json sources:json"),
    ),
    Entity(
        "addresses", "addresses", "addresses", "address",
        description="Sender postal addresses used in e-mail footers.",
        columns=_cols(
            "id:id companyName:text address1:text address2:text city:text state:text district:text zip:text"
            " country:text allgroup:flag isDefault:flag"
        ),
    ),
    Entity(
        "brandings", "brandings", "brandings", "branding",
        description="Branding of each user group (logos, headers, footers).", access=Access.ADMIN,
        note="Admin keys only (inferred). Its `links` field is a 0/1 setting, dropped like every `links`.",
        columns=_cols(
            "id:id groupid:id siteName:text siteLogo:text siteLogoSmall:text headerTextValue:text"
            " headerHtmlValue:text footerTextValue:text footerHtmlValue:text copyright:flag version:flag"
            " license:flag help:flag adminTemplateHtm:text adminTemplateCss:text publicTemplateHtm:text"
            " publicTemplateCss:text favicon:text"
        ),
    ),
    Entity(
        "configs", "configs", "configs", "config",
        description="Account and user settings as key/value rows.", documented=False,
        columns=_cols(
            "id:id keyname:text section:text item:text userid:id val:text cdate:timestamp udate:timestamp"
            " created_timestamp:timestamp updated_timestamp:timestamp created_by:id updated_by:id owner:id"
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


# ---- what reading an entity costs, and who may -----------------------------------------------------
# Offset pages overlap by one record (paging.py re-reads the last record of the page before, to
# notice records moving), so a read of N records takes about N / 99 requests.
STEP = PAGE - 1
ACCESS_WORDS = MappingProxyType({
    Access.ALL: "yes",
    Access.PIPELINES: "its pipelines' only",
    Access.ADMIN: "no (403: admin keys only)",
})


def requests_for(entity: Entity, records: int, parents: int = 0) -> int:
    """Requests a full read of `records` records takes: one per page, and for an entity read
    under each record of another (linkData under links) one per parent plus the parents' read."""
    if entity.paging is Paging.PER_PARENT and entity.parent:
        extra = max(0, records - parents * STEP) // STEP  # the pages beyond each parent's first
        return requests_for(CATALOG[entity.parent], parents) + parents + extra
    if records < PAGE:
        return 1
    if entity.paging is Paging.ID_KEYSET:
        return -(-records // PAGE) + 1  # +1: the newest id, to split the id range over readers
    return (records - PAGE) // STEP + 2  # (uncounted lists: a reader may ask a few pages ahead too)


def cost(entity: Entity) -> str:
    """The cost of a full read in words, as `acflow entities` shows it."""
    if entity.paging is Paging.PER_PARENT and entity.parent:
        parent = CATALOG[entity.parent]
        return f"1 request per {parent.single} (+1 / {PAGE} records), after reading the {parent.name}"
    if entity.via:
        return (f"1 request / {PAGE} records on a full read; none when side-loaded by the "
                f"{entity.via.parent}' incremental read")
    return f"1 request / {PAGE} records" + ("" if entity.counted else " (no count: +a few pages asked ahead)")


def incremental(entity: Entity) -> str:
    """How a sync after the first reads the entity."""
    if entity.via:
        return (f"yes, synced with {entity.via.parent}: include={entity.via.include} on their incremental read "
                "(no requests of its own); else read whole each sync")
    if entity.since and entity.cursor:
        return f"yes: {entity.since} (newest {entity.cursor} held)"
    return "no: read whole each sync"


def summary(entity: Entity) -> dict[str, object]:
    """One row of `acflow entities`: what the entity holds, what reading it costs, who may read it."""
    return {
        "entity": entity.name, "aliases": list(entity.aliases), "path": f"/api/3/{entity.path}",
        "paging": entity.paging.value, "cost": cost(entity), "incremental": incremental(entity),
        "restricted_key": ACCESS_WORDS[entity.access], "documented": entity.documented,
        "columns": len(entity.columns), "derived": list(entity.derived), "lookups": sorted(entity.lookups),
        "description": entity.description, "note": entity.note, "seed": entity.seed,
    }
