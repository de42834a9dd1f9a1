"""The flow form: its fields from a flow of acflow.yaml, and back; validation messages by field.

The form shows what a Coupler.io user chooses (account, entity, lookups, a join, formulas,
filters, columns, sort, destination and mode, schedule, data URLs); the values go through
`editor.write_flow`, which writes only the keys that changed. A draft is checked by writing it
to a temporary file beside acflow.yaml (relative paths mean the same there) and running
`acflow validate`'s checks on it, so the messages are exactly the command's.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import editor

EVERY = ("", "15m", "30m", "1h", "2h", "6h", "12h", "1d", "7d")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MODES = ("replace", "append", "merge")
# A message's dotted location (after flows.NAME.) -> the form field it is shown beside.
_FIELD_OF = {"source": "entity", "select": "columns", "hide": "columns", "rename": "columns", "types": "columns",
             "group_by": "columns", "aggregate": "columns", "csv": "to", "sheet": "to", "credentials": "to",
             "only_if_changed": "mode", "timezone": "columns"}
_MESSAGE = re.compile(r"^(?P<file>.*?):(?P<line>\d+): (?P<loc>[^\s:]+): (?P<text>.*)$", re.DOTALL)


@dataclass
class Form:
    """What the form shows and sends back; `values()` turns it into acflow.yaml's keys."""

    name: str = ""
    description: str = ""
    account: str = ""
    entity: str = ""
    lookups: list[str] = field(default_factory=list)
    join_entity: str = ""
    join_left: str = ""
    join_right: str = "id"
    join_how: str = "left"
    join_columns: str = ""
    join_prefix: str = ""
    formulas: str = ""  # one `name = expression` a line
    filters: str = ""  # one condition a line
    columns: list[str] = field(default_factory=list)  # ticked
    offered: list[str] = field(default_factory=list)  # every column the form listed
    all_columns: bool = True  # no select: in the file (every column, including future ones)
    sort: str = ""
    to: str = ""
    sheet: str = ""
    mode: str = "replace"
    serve: list[str] = field(default_factory=list)
    every: str = ""
    at: str = ""
    days: list[str] = field(default_factory=list)
    between: str = ""
    timezone: str = ""
    cron: str = ""
    source_flow: str = ""  # a flow reading another flow: kept as it is (the form does not edit it)
    extra: list[str] = field(default_factory=list)  # the flow's keys the form does not show

    @classmethod
    def from_flow(cls, name: str, flow: Mapping[str, Any]) -> Form:
        f = cls(name=name, description=str(flow.get("description") or ""))
        source = editor.normal("source", flow.get("source"))
        if isinstance(source, dict):
            f.entity = str(source.get("entity") or "")
            f.account = str(source.get("account") or "")
            f.source_flow = str(source.get("flow") or "")
        f.lookups = [str(x) for x in editor.normal("lookups", flow.get("lookups") or [])]
        joins = editor.normal("join", flow.get("join") or [])
        if joins:
            j = joins[0]
            on = j.get("on") or j.get(True) or {}
            (left, right), *_ = list(on.items()) or [("", "id")]
            f.join_entity, f.join_left, f.join_right = str(j.get("entity", "")), str(left), str(right)
            f.join_how = str(j.get("how", "left"))
            f.join_columns = ", ".join(j.get("columns") or [])
            f.join_prefix = str(j.get("prefix") or "")
        f.formulas = "\n".join(f"{k} = {v}" for k, v in (flow.get("formulas") or {}).items())
        f.filters = "\n".join(str(x) for x in editor.normal("filter", flow.get("filter") or []))
        select = flow.get("select")
        f.all_columns = select is None
        f.columns = [str(c) for c in select or []]
        f.sort = ", ".join(str(x) for x in editor.normal("sort", flow.get("sort") or []))
        f.to = editor.redact_text(str(flow.get("to") or ""))
        f.sheet = str(flow.get("sheet") or "")
        f.mode = str(flow.get("mode") or "replace")
        serve = flow.get("serve") or {}
        f.serve = [k for k in ("csv", "json") if isinstance(serve, dict) and serve.get(k)]
        sched = flow.get("schedule") or {}
        if isinstance(sched, dict):
            f.every, f.at = str(sched.get("every") or ""), str(sched.get("at") or "")
            days = sched.get("days") or []
            f.days = [str(d) for d in ([days] if isinstance(days, str) else days)]
            f.between, f.timezone = str(sched.get("between") or ""), str(sched.get("timezone") or "")
            f.cron = str(sched.get("cron") or "")
        f.extra = [k for k in flow if k not in editor.MANAGED]
        return f

    @classmethod
    def from_post(cls, data: Any) -> Form:
        def text(key: str) -> str:
            return str(data.get(key) or "").strip()

        def many(key: str) -> list[str]:
            return [str(v) for v in data.getlist(key) if str(v).strip()]

        f = cls(name=text("name"), description=text("description"), account=text("account"),
                entity=text("entity"), lookups=many("lookups"), join_entity=text("join_entity"),
                join_left=text("join_left"), join_right=text("join_right") or "id",
                join_how=text("join_how") or "left", join_columns=text("join_columns"),
                join_prefix=text("join_prefix"), formulas=str(data.get("formulas") or ""),
                filters=str(data.get("filters") or ""), columns=many("columns"), offered=many("offered"),
                sort=text("sort"), to=text("to"), sheet=text("sheet"), mode=text("mode") or "replace",
                serve=many("serve"), every=text("every"), at=text("at"), days=many("days"),
                between=text("between"), timezone=text("timezone"), cron=text("cron"),
                source_flow=text("source_flow"))
        f.all_columns = bool(f.offered) and set(f.offered) <= set(f.columns) and text("had_select") != "1"
        if not f.offered:  # the list was never shown: keep what the file had
            f.all_columns = text("had_select") != "1"
        return f

    def values(self, original: Mapping[str, Any] | None, accounts: list[str]) -> dict[str, Any]:
        """The form as acflow.yaml's keys (empty ones are removed from the flow)."""
        original = original or {}
        out: dict[str, Any] = {"description": self.description or None}
        if self.source_flow:
            out["source"] = original.get("source") or {"flow": self.source_flow}
        else:
            source: dict[str, Any] = {"entity": self.entity}
            old = editor.normal("source", original.get("source")) if original.get("source") else {}
            several = isinstance(old, dict) and old.get("accounts")  # appended accounts: kept as written
            if self.account and not several and (len(accounts) > 1 or (isinstance(old, dict) and old.get("account"))):
                source["account"] = self.account
            for k, v in (old.items() if isinstance(old, dict) else []):
                if k not in ("entity", "account"):
                    source[k] = v  # accounts:, raw:, account_column: as written
            out["source"] = source
        out["lookups"] = list(self.lookups)
        old_joins = editor.normal("join", original.get("join") or [])
        if len(old_joins) > 1:
            out["join"] = original["join"]  # the form shows the first join only: several are kept as written
        elif self.join_entity:
            join: dict[str, Any] = {"entity": self.join_entity, "on": {self.join_left or "": self.join_right or "id"}}
            if self.join_how != "left":
                join["how"] = self.join_how
            cols = _split(self.join_columns)
            if cols:
                join["columns"] = cols
            if self.join_prefix:
                join["prefix"] = self.join_prefix
            out["join"] = join
        out["formulas"] = _pairs(self.formulas)
        out["filter"] = [line.strip() for line in self.filters.splitlines() if line.strip()]
        if not self.all_columns:
            out["select"] = list(self.columns)
        out["sort"] = _split(self.sort)
        to = self.to
        if original.get("to") and to == editor.redact_text(str(original["to"])):
            to = str(original["to"])  # a password in the URI is never shown, so it comes back as ***
        out["to"] = to
        out["sheet"] = self.sheet or None
        out["mode"] = self.mode
        if self.serve or original.get("serve"):
            out["serve"] = {k: True for k in self.serve} or None
        sched = {k: v for k, v in (("every", self.every), ("at", self.at), ("days", self.days),
                                   ("between", self.between), ("timezone", self.timezone),
                                   ("cron", self.cron)) if v}
        out["schedule"] = sched or None
        return out


def _split(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"[,\n]", text) if p.strip()]


def _pairs(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, expr = line.partition("=")
        if not sep or not name.strip():
            out[line.strip()] = ""  # validate says what is missing
        else:
            out[name.strip()] = expr.strip()
    return out


@dataclass
class Checked:
    """A draft's columns (name, type), as `acflow validate` compiles it, and its messages."""

    columns: list[tuple[str, str]] = field(default_factory=list)
    by_field: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.by_field and not self.general


@contextlib.contextmanager
def draft_file(config_path: Path, text: str) -> Any:
    """The draft as a file beside acflow.yaml (relative paths resolve the same), removed after."""
    fd, name = tempfile.mkstemp(prefix=".acflow-ui-draft-", suffix=".yaml", dir=config_path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        yield Path(name)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def check(config_path: Path, text: str, name: str, mirror: Path | None = None) -> Checked:
    """`acflow validate` on the draft, its messages sorted to the form's fields."""
    from ..config import load
    from ..errors import ConfigError
    from ..flows import validate

    out = Checked()
    with draft_file(config_path, text) as path:
        try:
            cfg = load(path)
            compiled = validate(cfg, [name], mirror=mirror or cfg.mirror_path())
            out.columns = list(compiled[name].columns) if name in compiled else []
        except ConfigError as exc:
            for line in getattr(exc, "errors", None) or [str(exc)]:
                place(out, line.replace(str(path), config_path.name), name)
    return out


def place(out: Checked, message: str, name: str) -> None:
    m = _MESSAGE.match(message)
    prefix = f"flows.{name}."
    if m and m["loc"].startswith(prefix):
        rest = m["loc"][len(prefix):]
        top = re.split(r"[.\[]", rest)[0]
        key = "account" if rest.startswith("source.account") else _FIELD_OF.get(top, top)
        out.by_field.setdefault(key, []).append(f"line {m['line']}: {m['text']}")
    elif m and m["loc"] == f"flows.{name}":
        out.by_field.setdefault("name", []).append(f"line {m['line']}: {m['text']}")
    else:
        out.general.append(message)


def fallback_columns(entity_name: str, lookups: list[str]) -> list[tuple[str, str]]:
    """The entity's catalog columns (when the draft does not compile yet)."""
    from ..catalog import find

    entity = find(entity_name)
    if entity is None:
        return []
    cols = [(c, str(t)) for c, t in entity.columns.items()] + [(c, "derived") for c in entity.derived]
    cols += [(entity.lookups[lk].name, "VARCHAR") for lk in lookups if lk in entity.lookups]
    return cols
