"""`acflow.yaml`: accounts and flows as code, validated with file:line messages.

The file is read twice: PyYAML composes the node tree (which knows the line of
every key and value), and pydantic checks the loaded data. Each error's location
(`flows.deals.source.entity`) is walked back through the node tree to a line, so
every message reads `acflow.yaml:12: flows.deals.source.entity: ...` and says
what to write instead.
"""

from __future__ import annotations

import codecs
import contextlib
import gc
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .account import Account
from .errors import ConfigError, ConfigErrors, did_you_mean, quoted
from .service.alerts import NESTED as ALERTS_MODELS
from .service.alerts import AlertsSpec
from .service.reports import ReportSpec
from .service.schedule import Schedule, ScheduleSpec

DEFAULT_CONFIG = Path("acflow.yaml")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 4x faster, and refuses nesting past 1,000
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
Loc = tuple[str | int, ...]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class AccountSpec(_Strict):
    """One ActiveCampaign account. The key is read from the environment variable `key_env`."""

    url: str | None = None
    url_env: str | None = None
    key_env: str
    rate_limit: float = Field(5.0, gt=0)
    timezone: str | None = None  # the account's zone; by default learnt from its dates (zones.py)
    tags: list[str] = Field(default_factory=list)  # flows may read every account with a tag (accounts: tag:eu)

    @field_validator("tags", mode="before")
    @classmethod
    def _one_tag_or_many(cls, value: Any) -> Any:
        return value.replace(",", " ").split() if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str | None) -> str | None:
        from .zones import valid
        if zone is not None and not valid(zone):
            raise ValueError(f"unknown time zone {zone[:60]!r}: write an IANA name like America/Chicago "
                             "(the zone of the account's dates), or leave timezone: out to learn it from them")
        return zone

    @model_validator(mode="after")
    def _one_url(self) -> AccountSpec:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("write either url: https://youraccount.api-us1.com or url_env: VARIABLE, not both")
        return self


class SourceSpec(_Strict):
    entity: str | None = None
    account: str | None = None
    accounts: list[str] | str | None = None  # names, or `all`, or `tag:NAME` (expanded by _select_accounts)
    flow: str | None = None
    account_column: str = "account"
    raw: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> SourceSpec:
        if (self.entity is None) == (self.flow is None):
            raise ValueError("write either entity: NAME or flow: NAME")
        if self.flow is not None and (self.account or self.accounts):
            raise ValueError("a flow source reads that flow's accounts; leave out account/accounts")
        if self.account and self.accounts:
            raise ValueError("write account: NAME for one account or accounts: [A, B] to append several")
        return self


class JoinSpec(_Strict):
    entity: str
    on: dict[str, str]  # this flow's column: the joined entity's column
    how: Literal["left", "inner"] = "left"
    columns: list[str] | None = None  # default: all of the joined entity's
    prefix: str | None = None  # default: the entity's singular, e.g. contact_

    @field_validator("on")
    @classmethod
    def _keys(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("name the join keys, e.g. on: {contact: id}")
        return value


class CsvSpec(_Strict):
    header: bool = True
    bom: bool = True  # so Excel reads UTF-8 names right
    delimiter: str = Field(",", min_length=1, max_length=1)


class ServeSpec(_Strict):
    """`serve:` on a flow: its latest result at token URLs of `acflow serve` (/data/FLOW.csv, .json)."""

    csv: bool = False
    json_: bool = Field(False, alias="json")

    @model_validator(mode="after")
    def _some(self) -> ServeSpec:
        if not (self.csv or self.json_):
            raise ValueError("say what to serve: csv: true and/or json: true")
        return self


class ServiceSpec(_Strict):
    """`service:`: settings of `acflow serve`."""

    keep_runs: str = "90d"  # run history older than this is deleted (each flow's last run stays)

    @field_validator("keep_runs")
    @classmethod
    def _duration(cls, value: str) -> str:
        from .sync import parse_duration

        if parse_duration(value) is None:
            raise ValueError("keep_runs: write how long to keep the run history, like 90d or 12w")
        return value


class FlowSpec(_Strict):
    description: str | None = None
    source: SourceSpec
    lookups: list[str] = Field(default_factory=list)
    join: list[JoinSpec] = Field(default_factory=list)
    formulas: dict[str, str] = Field(default_factory=dict)
    filter: list[str] = Field(default_factory=list)
    group_by: list[str] = Field(default_factory=list)
    aggregate: dict[str, str] = Field(default_factory=dict)
    select: list[str] | None = None
    hide: list[str] = Field(default_factory=list)
    rename: dict[str, str] = Field(default_factory=dict)
    types: dict[str, str] = Field(default_factory=dict)
    timezone: str | None = None
    sort: list[str] = Field(default_factory=list)
    to: str
    mode: Literal["replace", "append", "merge"] = "replace"
    only_if_changed: bool = False
    sheet: str | None = None
    csv: CsvSpec = Field(default_factory=CsvSpec)
    neutralize_formulas: bool = True
    credentials: str | None = None  # gsheets://: a service-account key file (JSON); the top-level one otherwise
    # contacts, deals and accounts (as the source or joined): a column per custom field, or none (long
    # and off: a flow writes one table; the values are a flow of their own, source: fieldValues with
    # lookups: [field]; acflow export --custom-fields long writes them beside); see custom_fields.py
    custom_fields: Literal["columns", "long", "off"] = "columns"
    custom_field_names: Literal["title", "perstag"] = "title"
    serve: ServeSpec | None = None  # acflow serve: the result at token URLs
    schedule: Schedule = None  # acflow serve runs it then (None: the file's default; off: never)
    alerts: AlertsSpec | None = None  # acflow serve: e-mail and webhooks on failure (over the file's)

    @field_validator("serve", mode="before")
    @classmethod
    def _serve_shorthand(cls, value: Any) -> Any:
        """`serve: csv` or `serve: [csv, json]` for `serve: {csv: true, ...}`."""
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            return {str(v): True for v in value}
        return value

    @field_validator("custom_fields", mode="before")
    @classmethod
    def _off_is_not_false(cls, value: Any) -> Any:
        """YAML 1.1 reads a bare `off` as false (and `on`, `yes` as true)."""
        return {False: "off", True: "columns"}.get(value, value) if isinstance(value, bool) else value

    @field_validator("source", mode="before")
    @classmethod
    def _entity_shorthand(cls, value: Any) -> Any:
        return {"entity": value} if isinstance(value, str) else value

    @field_validator("filter", "sort", "lookups", "group_by", "hide", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("join", mode="before")
    @classmethod
    def _one_join(cls, value: Any) -> Any:
        joins = [value] if isinstance(value, dict) else value
        if isinstance(joins, list):  # YAML 1.1 reads a bare `on:` key as true
            joins = [{("on" if k is True else k): v for k, v in j.items()} if isinstance(j, dict) else j
                     for j in joins]
        return joins


class ConfigSpec(_Strict):
    version: Literal[1] = 1
    mirror: str | None = None
    full_refresh_every: str = "7d"  # contacts and deals read in full this often (deletions are found so)
    credentials: str | None = None  # gsheets:// flows: a service-account key file (JSON), unless a flow names its own
    accounts: dict[str, AccountSpec] = Field(default_factory=dict)
    accounts_file: str | None = None  # hundreds of accounts in a CSV or YAML file (acflow/workers/accounts.py)
    service: ServiceSpec = Field(default_factory=ServiceSpec)
    schedule: Schedule = None  # every flow's, unless a flow has its own
    alerts: AlertsSpec | None = None  # every flow's, which a flow's alerts: extend or replace
    report: ReportSpec | None = None  # acflow serve e-mails acflow report's page on a schedule
    flows: dict[str, FlowSpec]

    @field_validator("full_refresh_every")
    @classmethod
    def _duration(cls, value: str) -> str:
        from .sync import parse_duration

        parse_duration(value)  # raises ValueError with the fix in it
        return value


@dataclass
class Config:
    """A loaded, schema-checked acflow.yaml. `error(loc, ...)` builds a file:line ConfigError."""

    path: Path
    spec: ConfigSpec
    root: yaml.Node | None

    @property
    def dir(self) -> Path:
        return self.path.parent

    @property
    def flows(self) -> dict[str, FlowSpec]:
        return self.spec.flows

    def resolve_path(self, text: str) -> Path:
        """Paths in the file are relative to the file's folder, so a run works from anywhere."""
        p = Path(text).expanduser()
        return p if p.is_absolute() else self.dir / p

    def mirror_path(self) -> Path:
        return self.resolve_path(self.spec.mirror or ".acflow/mirror.duckdb")

    def where(self, loc: Loc) -> str:
        return f"{self.path}:{line_of(self.root, loc)}: {dotted(loc)}"

    def error(self, loc: Loc, message: str) -> ConfigError:
        return ConfigError(f"{self.where(loc)}: {message}")

    def flow_names(self, wanted: list[str] | None) -> list[str]:
        if not wanted:
            return list(self.flows)
        for name in wanted:
            if name not in self.flows:
                names = list(self.flows)
                listed = ", ".join(names[:20]) + (f", ... ({len(names):,} flows)" if len(names) > 20 else "")
                raise ConfigError(f"{self.path}: no flow named {quoted(name)}.{did_you_mean(name, self.flows)} "
                                  f"Flows: {listed or 'none'}")
        return list(dict.fromkeys(wanted))

    def account_names(self, flow: str, seen: tuple[str, ...] = ()) -> list[str]:
        """The accounts a flow reads (a flow source: the upstream flow's)."""
        source = self.flows[flow].source
        if source.flow is not None:
            if source.flow in seen:
                return []
            return self.account_names(source.flow, (*seen, flow))
        if source.accounts:
            return list(source.accounts)
        if source.account:
            return [source.account]
        return list(self.spec.accounts)[:1]

    def account_url(self, name: str) -> str:
        """The account's URL as written (url:) or in its variable (url_env:), read now; no key needed."""
        spec = self.spec.accounts[name]
        if spec.url_env is None:
            return spec.url or ""
        url = os.environ.get(spec.url_env)
        if not url:
            raise self.error(("accounts", name, "url_env"), f"environment variable {spec.url_env} is not set: "
                             f"export {spec.url_env}=https://youraccount.api-us1.com")
        return url

    def account(self, name: str) -> Account:
        """The Account, its key read from the environment now (never stored anywhere)."""
        spec = self.spec.accounts[name]
        loc: Loc = ("accounts", name)
        url = self.account_url(name)
        key = os.environ.get(spec.key_env)
        if not key:
            raise self.error((*loc, "key_env"), f"environment variable {spec.key_env} is not set: "
                             f"export {spec.key_env}=... (the key from Settings > Developer)")
        try:
            return Account(url or "", key, spec.rate_limit, spec.timezone)
        except ConfigError as exc:
            where = "timezone" if "time zone" in str(exc) else "url" if spec.url else "url_env"
            raise self.error((*loc, where), str(exc)) from None


def dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def line_of(root: yaml.Node | None, loc: Loc) -> int:
    """The line of the deepest node `loc` reaches (a missing field: its parent's line)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        nxt = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    nxt = value
                    line = key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            nxt = node.value[part]
            line = nxt.start_mark.line + 1
        if nxt is None:
            break
        node = nxt
        if not isinstance(node, yaml.ScalarNode | yaml.MappingNode | yaml.SequenceNode):
            break
    return line


_FIELDS: dict[str, type[BaseModel]] = {}


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The model whose fields an `extra_forbidden` error at loc is among (for did-you-mean)."""
    model: type[BaseModel] | None = ConfigSpec
    i = 0
    parts = list(loc[:-1])
    while model is not None and i < len(parts):
        part = parts[i]
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        i += 1
        name = str(part)
        nested = {"accounts": AccountSpec, "flows": FlowSpec, "source": SourceSpec, "join": JoinSpec,
                  "csv": CsvSpec, "serve": ServeSpec, "service": ServiceSpec, "schedule": ScheduleSpec,
                  "report": ReportSpec,
                  **ALERTS_MODELS}.get(name)
        if name in ("accounts", "flows", "join") or (name == "webhook" and i < len(parts)
                                                      and isinstance(parts[i], int)):
            i += 1  # skip the name or index
        model = nested
    return model


def _message(error: dict[str, Any]) -> tuple[Loc, str]:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden" and len(loc) == 3 and loc[0] == "accounts" and loc[2] in ("key", "api_key"):
        return loc, ("a key is never written in acflow.yaml: write key_env: VARIABLE, "
                     "the environment variable that holds it")
    if kind == "extra_forbidden":
        model = _model_at(loc)
        hint = did_you_mean(str(loc[-1]), model.model_fields) if model else ""
        allowed = f" Allowed here: {', '.join(model.model_fields)}." if model and not hint else ""
        return loc, f"unknown field {loc[-1]!r}.{hint}{allowed}"
    if kind == "missing":
        return loc, "this field is required"
    msg = error["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return loc, msg


def _read_text(path: Path) -> str:
    """The file's text: UTF-8 (a BOM allowed) or UTF-16/32 with a BOM; anything else is refused by name."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path} not found: write one with `acflow init`, or pass --config PATH") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    for bom, encoding in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                          (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            try:
                return raw.decode(encoding)
            except UnicodeDecodeError:
                raise ConfigError(f"{path}: starts as {encoding.upper()} but is not: save it as UTF-8") from None
    if b"\x00" in raw:
        line = raw[:raw.index(b"\x00")].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: NUL bytes: the file looks like UTF-16 without a byte order mark; "
                          "save it as UTF-8")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: byte 0x{raw[exc.start]:02x} is not UTF-8 (the file looks like Latin-1 "
                          "or Windows-1252): save it as UTF-8") from None


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Python's cycle collector paused: a node tree makes ~20 objects a line of acflow.yaml and
    each collection walks them all (a 20,000-flow file: 4 s of its 5 s read). Counting still frees.
    Also around `flows.validate`, which compiles while that tree is alive."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()  # what the pause made moves to the oldest generation, unwalked: the
            gc.unfreeze()  # collection that would start at once walks the young ones (all of it)
            gc.enable()


def _parse(path: Path, text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (lines for messages) and the data built from it: one parse, by libyaml when present."""
    try:
        root = yaml.compose(text, Loader=_Loader)
        return root, (yaml.SafeLoader("").construct_document(root) if root is not None else None)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}:{line}: not valid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply; acflow.yaml needs a few levels") from None


def _duplicates(config: Config) -> list[str]:
    """A key written twice in one mapping (YAML keeps the last silently): each with both lines."""
    found = []
    stack: list[tuple[yaml.Node, Loc]] = [(config.root, ())] if config.root is not None else []
    while stack:
        node, loc = stack.pop()
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                name = str(key.value)
                line = key.start_mark.line + 1
                if name in seen:
                    what = ("two flows are named" if loc == ("flows",) else
                            "two accounts are named" if loc == ("accounts",) else "the key is written twice:")
                    found.append(f"{config.path}:{line}: {dotted((*loc, name))}: {what} {quoted(name)} "
                                 f"(lines {seen[name]} and {line}): rename or remove one")
                else:
                    seen[name] = line
                stack.append((value, (*loc, name)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*loc, i)) for i, item in enumerate(node.value))
    return sorted(found, key=_line_order)


def _line_order(message: str) -> int:
    parts = message.split(":", 2)
    return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0


def load(path: str | Path = DEFAULT_CONFIG, accounts_file: str | Path | None = None) -> Config:
    """Read and schema-check acflow.yaml; the checks that need the catalog are in `validate`.

    Every mistake the schema can see is reported at once (ConfigErrors), each on its own line.
    `accounts_file` stands for the file's `accounts_file:` (acflow enqueue --accounts).
    """
    with paused_gc():
        return _load(Path(path), accounts_file)


def _load(path: Path, accounts_file: str | Path | None = None) -> Config:
    root, data = _parse(path, _read_text(path))
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a mapping with accounts: and flows:")
    if accounts_file is not None:
        data["accounts_file"] = str(Path(accounts_file).resolve())
    config = Config(path, ConfigSpec.model_construct(flows={}), root)
    errors = _duplicates(config)
    try:
        config.spec = ConfigSpec.model_validate(data)
    except ValidationError as exc:
        found = [_message(e) for e in exc.errors()]
        typos = {loc[:-1] for (loc, _), e in zip(found, exc.errors(), strict=True) if e["type"] == "extra_forbidden"}
        for (loc, msg), e in zip(found, exc.errors(), strict=True):
            if e["type"] == "missing" and loc[:-1] in typos:
                continue  # the typo next to it explains it
            errors.append(str(config.error(loc, msg)))
        raise ConfigErrors(sorted(dict.fromkeys(errors), key=_line_order)) from None
    errors += _select_accounts(config)
    errors += _check_names(config)
    errors += _fold_credentials(config)
    if errors:
        raise ConfigErrors(errors)
    return config


def _select_accounts(config: Config) -> list[str]:
    """The accounts file's accounts added to the file's own; `accounts: all` and `accounts: tag:NAME`
    in a flow's source made the list of names they select."""
    spec = config.spec
    if spec.accounts_file:
        from .workers.accounts import read

        try:
            listed = read(config.resolve_path(spec.accounts_file))
        except ConfigErrors as exc:
            return exc.errors
        except ConfigError as exc:
            return [str(exc)]
        for name, fields in listed.items():
            if name in spec.accounts:
                return [str(config.error(("accounts", name), f"account {quoted(name)} is also in "
                                         f"{spec.accounts_file}: keep one"))]
            spec.accounts[name] = AccountSpec.model_validate(fields)
    errors = []
    for name, flow in spec.flows.items():
        chosen = flow.source.accounts
        if not isinstance(chosen, str):
            continue
        if chosen.strip() == "all":
            flow.source.accounts = list(spec.accounts)
        elif chosen.startswith("tag:") and chosen[4:].strip():
            tag = chosen[4:].strip()
            flow.source.accounts = [a for a, s in spec.accounts.items() if tag in s.tags]
            if not flow.source.accounts:
                errors.append(str(config.error(("flows", name, "source", "accounts"),
                                               f"no account has the tag {quoted(tag)}")))
        else:
            errors.append(str(config.error(("flows", name, "source", "accounts"), "write a list of account names, "
                                           "all, or tag:NAME")))
    return errors


GSHEETS = ("gsheets://", "https://docs.google.com/spreadsheets/")


def _fold_credentials(config: Config) -> list[str]:
    """`credentials:` (the flow's, else the file's) rides on a gsheets:// flow's `to` as ?credentials=PATH,
    which the writer reads (a relative path is under acflow.yaml's folder). A key file's path is no secret."""
    from urllib.parse import quote

    errors = []
    for name, flow in config.spec.flows.items():
        is_sheet = flow.to.strip().lower().startswith(GSHEETS)
        if flow.credentials is not None and not is_sheet:
            errors.append(str(config.error(("flows", name, "credentials"), "credentials: is for gsheets:// "
                                           "destinations (a Google service-account key file); leave it out")))
            continue
        path = flow.credentials or config.spec.credentials
        if is_sheet and path and "credentials=" not in flow.to:
            base, _, fragment = flow.to.strip().partition("#")
            joined = f"{base}{'&' if '?' in base else '?'}credentials={quote(path, safe='/~')}"
            flow.to = joined + (f"#{fragment}" if fragment else "")
    return errors


def _check_names(config: Config) -> list[str]:
    """Names and references the schema cannot check, each mistake once."""
    spec = config.spec
    errors: list[str] = []

    def add(loc: Loc, message: str) -> None:
        errors.append(str(config.error(loc, message)))

    for name in spec.flows:
        if not NAME.match(name):
            add(("flows", name), f"flow name {quoted(name)} must be letters, digits, _ or -, starting with a letter")
    for name in spec.accounts:
        if not NAME.match(name):
            add(("accounts", name), f"account name {quoted(name)} must be letters, digits, _ or -")
    for name, flow in spec.flows.items():
        loc: Loc = ("flows", name, "source")
        src = flow.source
        if src.flow is not None:
            if src.flow not in spec.flows:
                add((*loc, "flow"), f"no flow named {quoted(src.flow)}.{did_you_mean(src.flow, spec.flows)}")
            continue
        for i, acct in enumerate(src.accounts or ([src.account] if src.account else [])):
            if acct not in spec.accounts:
                where = (*loc, "accounts", i) if src.accounts else (*loc, "account")
                known = ", ".join(spec.accounts) or "none yet: add an accounts: section"
                add(where, f"no account named {quoted(acct)}.{did_you_mean(acct, spec.accounts)} Accounts: {known}")
        if not src.account and not src.accounts:
            if not spec.accounts:
                add(loc, "no account to read from: add an accounts: section (name, url, key_env)")
            elif len(spec.accounts) > 1:
                add(loc, f"several accounts are configured: write account: NAME (one of {', '.join(spec.accounts)}) "
                    "or accounts: [...]")
    return errors
