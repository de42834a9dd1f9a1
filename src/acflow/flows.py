"""A flow compiled to one SQL query over the mirror: source, lookups, joins, formulas,
filters, aggregation, columns, types, sort.

The steps always run in this order, whatever their order in the file:

    source (+ derived columns) -> lookups -> joins -> formulas -> filter
      -> group_by/aggregate -> select -> hide -> rename -> types, timezone and sort

Sort names the output columns (after rename) and orders by their values before types
and timezone change them, so an id cast to text still sorts as a number.

Each step is checked by DuckDB's binder as it is added (`DESCRIBE`), so a bad
column or formula is reported at its own line of acflow.yaml. `validate` runs the
same compiler over empty tables typed from the catalog: no mirror, no request; there
the formulas and filters of many flows are bound in one statement (`_Batch`), and only
those of a statement that fails are bound step by step, for their own messages.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import duckdb
import pyarrow as pa

from . import catalog, destinations
from . import custom_fields as cf
from .catalog import Entity, Lookup
from .columns import BatchBuilder
from .config import Config, FlowSpec, Loc, paused_gc
from .destinations import check_destination
from .errors import ConfigError, ConfigErrors, DestinationError, did_you_mean
from .export import derived_query, json_columns
from .mirror import quote

TYPES = MappingProxyType({
    "text": "VARCHAR", "string": "VARCHAR", "int": "BIGINT", "integer": "BIGINT", "float": "DOUBLE",
    "double": "DOUBLE", "number": "DOUBLE", "bool": "BOOLEAN", "boolean": "BOOLEAN", "date": "DATE",
    "timestamp": "TIMESTAMPTZ", "json": "JSON",
})
_DECIMAL = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$", re.IGNORECASE)

TableOf = Callable[[str, str], str]  # (account name, entity name) -> SQL table


@dataclass
class Compiled:
    flow: str
    sql: str
    json_columns: frozenset[str]
    columns: list[tuple[str, str]] = field(default_factory=list)  # (name, DuckDB type)
    notes: list[str] = field(default_factory=list)  # custom fields renamed, deleted (custom_fields.py)


def entity_of(config: Config, flow: str, seen: tuple[str, ...] = ()) -> Entity:
    """The catalog entity a flow reads at its root (through flow sources)."""
    src = config.flows[flow].source
    if src.flow is not None:
        if src.flow in seen or src.flow == flow:
            chain = " -> ".join((*seen, flow, src.flow))
            raise config.error(("flows", flow, "source", "flow"), f"flows read each other in a loop: {chain}")
        return entity_of(config, src.flow, (*seen, flow))
    found = catalog.find(src.entity or "")
    if found is None:
        raise config.error(("flows", flow, "source", "entity"),
                           f"unknown entity {src.entity!r}.{catalog.suggest(src.entity or '')}")
    return found


def needs(config: Config, flow: str) -> set[tuple[str, str]]:
    """(account, entity) pairs the flow reads from the mirror: what `run` syncs first."""
    spec = config.flows[flow]
    out: set[tuple[str, str]] = set()
    if spec.source.flow is not None:
        out |= needs(config, spec.source.flow) if spec.source.flow != flow else set()
    root = entity_of(config, flow)
    accounts = config.account_names(flow)
    wanted: list[str] = [root.name] if spec.source.flow is None else []
    columns = "columns" if spec.custom_fields == "columns" else "off"  # a flow writes one table: long is off
    if spec.source.flow is None:
        wanted += [e.name for e in cf.companions(root, columns)]
    for i, name in enumerate(spec.lookups):
        wanted.append(_lookup(config, flow, root, name, i).entity)
    for i, join in enumerate(spec.join):
        joined = _join_entity(config, flow, i, join.entity)
        wanted += [joined.name, *(e.name for e in cf.companions(joined, columns))]
    return out | {(a, e) for a in accounts for e in wanted}


def _lookup(config: Config, flow: str, root: Entity, name: str, i: int) -> Lookup:
    table = root.lookups
    if name not in table:
        offer = ", ".join(table) if table else "none"
        raise config.error(("flows", flow, "lookups", i),
                           f"no lookup {name!r} for {root.name}.{did_you_mean(name, table)} Lookups for "
                           f"{root.name}: {offer}")
    return table[name]


def _custom(spec: FlowSpec) -> tuple[str, str, bool]:
    """How a flow wants custom fields: (custom_fields, custom_field_names, and whether deleted
    fields' columns stay, empty: append and merge, whose tables have them)."""
    return spec.custom_fields, spec.custom_field_names, spec.mode in ("append", "merge")


def _join_entity(config: Config, flow: str, i: int, name: str) -> Entity:
    found = catalog.find(name)
    if found is None:
        raise config.error(("flows", flow, "join", i, "entity"), f"unknown entity {name!r}.{catalog.suggest(name)}")
    return found


class Compiler:
    """Compiles flows over `con`, reading entity tables through `table_of`.

    `accounts` (name -> Account) says each account's URL and zone override, which custom field
    columns are named and read by (custom_fields.py); without them the config's URLs are used.
    Custom field names are read from, and kept in, the `pins_at` schema (the mirror's own).
    """

    def __init__(self, config: Config, con: duckdb.DuckDBPyConnection, table_of: TableOf,
                 accounts: Mapping[str, Any] | None = None) -> None:
        self.config = config
        self.con = con
        self.table_of = table_of
        self.accounts = accounts or {}
        self.pins_at: str | None = cf.MIRROR_SCHEMA
        self.keep_names = True  # validate reads names and keeps none
        self.fields_unknown: set[str] = set()  # entities of which no custom field was found
        self._reading: set[str] = set()  # entities with custom field columns the flow being compiled reads
        self.notes: list[str] = []
        self.done: dict[str, Compiled] = {}
        self._described: dict[str, list[tuple[str, str]]] = {}
        self._relations: dict[tuple[str, tuple[str, ...], str, bool, tuple[str, str, bool] | None], str] = {}
        self._probed: dict[tuple[str, str], str | None] = {}
        self.binds = 0  # statements DuckDB bound (DESCRIBE): what validation's time goes to
        # validate() sets `batch`: formulas and filters are then bound many flows at a time (see _Batch)
        self.batch: _Batch | None = None

    # helpers -----------------------------------------------------------------------------
    def _describe(self, sql: str, loc: Loc, what: str) -> list[tuple[str, str]]:
        """The columns of `sql`, bound (never run) by DuckDB; flows that share a step share its answer.

        Binding is most of `acflow validate`'s time (1 to 2 ms a step): with the cache, every
        flow that reads the same entity pays for its source once.
        """
        known = self._described.get(sql)
        if known is not None:
            return known
        try:
            if len(self.con.extract_statements(sql)) != 1:
                raise self.config.error(loc, f"{what}: write one SQL expression, without ';'")
            self.binds += 1
            cols = [(r[0], r[1]) for r in self.con.execute(f"DESCRIBE {sql}").fetchall()]
        except duckdb.Error as exc:
            raise self.config.error(loc, f"{what}: {_duck_message(exc)}{self._fields_hint(str(exc))}") from None
        self._described[sql] = cols
        return cols

    def _check_columns(self, names: list[str], have: list[tuple[str, str]], loc: Loc, where: str,
                       index: bool | None = True) -> None:
        """index: True adds the list index to loc, False the name (a mapping key), None nothing."""
        if not names:
            return
        lower = _lower(have)
        for i, name in enumerate(names):
            if name.lower() not in lower:
                known = [n for n, _ in have]
                more = ", ..." if len(known) > 12 else ""
                close = did_you_mean(name, known)
                hint = close or f" Columns: {', '.join(known[:12])}{more}"
                if not close and not where.startswith("the output of"):
                    hint += self._fields_hint()
                at = loc if index is None else (*loc, i) if index else (*loc, name)
                raise self.config.error(at, f"unknown column {name!r} in {where}.{hint}")

    def _fields_hint(self, binder: str | None = None) -> str:
        """Where validate knew no custom fields (no mirror yet) and a column is not found (by a
        check, or DuckDB's `binder` message, that is not a typo of a known one): how to make
        custom field columns known."""
        unknown = self.fields_unknown & self._reading
        if not unknown:
            return ""
        if binder is not None:
            found = re.search(r'Referenced column "([^"]+)" not found', binder)
            candidates = re.findall(r'"([^"]+)"', binder.partition("Candidate bindings:")[2])
            if found is None or did_you_mean(found[1], candidates):
                return ""
        wanted = sorted({n for e in unknown for n in (e, *(c.name for c in cf.companions(
            catalog.CATALOG[e], "columns")))})
        return (f" Custom field columns are known once the mirror holds them: run `acflow sync {' '.join(wanted)}` "
                "first")

    def relation(self, entity: Entity, accounts: list[str], account_column: str, raw: bool,
                 custom: tuple[str, str, bool] | None = None) -> str:
        """An entity (with its derived columns, and with `custom` = (custom_fields, naming, keep
        deleted fields' columns) its custom field columns) from one account, or several appended."""
        if custom is not None and (custom[0] != "columns" or cf.field_set(entity) is None):
            custom = None
        if custom is not None:
            self._reading.add(entity.name)
        key = (entity.name, tuple(accounts), account_column, raw, custom)
        if key not in self._relations:
            self._relations[key] = self._relation(entity, accounts, account_column, raw, custom)
        return self._relations[key]

    def _with_custom_fields(self, entity: Entity, account: str, naming: str, keep_gone: bool,
                            reserved: list[str]) -> str:
        """The entity's table from one account with a column per custom field (custom_fields.py)."""
        fs = cf.field_set(entity)
        assert fs is not None
        base = self.table_of(account, entity.name)
        meta, data = self.table_of(account, fs.meta), self.table_of(account, fs.data)
        url, override = self._account(account)
        have = [r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM {base}").fetchall()]
        plan = cf.plan(self.con, entity, meta, data, account=url, naming=naming,
                       zone=override or self._zone_learnt(url), parent_columns=[*have, *reserved],
                       pins_at=self.pins_at, keep=self.keep_names)
        assert plan is not None
        if not plan.fields:  # none synced yet (validate before a first run): a column asked for may be one
            self.fields_unknown.add(entity.name)
        self.notes += [n for n in plan.notes if n not in self.notes]
        return f"({cf.columns_sql(self.con, plan, base, data, keep_gone=keep_gone)})"

    def _account(self, name: str) -> tuple[str, str | None]:
        """(URL, zone override) of an account: the Account given, else acflow.yaml's."""
        given = self.accounts.get(name)
        if given is not None:
            return given.url, given.timezone
        import os

        spec = self.config.spec.accounts.get(name)
        if spec is None:
            return name, None
        return (spec.url or os.environ.get(spec.url_env or "", "") or name), spec.timezone

    def _zone_learnt(self, url: str) -> str | None:
        """The zone a sync learnt for the account, where `con` is a mirror."""
        try:
            row = self.con.execute(f"SELECT zone FROM {cf.MIRROR_SCHEMA}.accounts WHERE account = ?",
                                   [url]).fetchone()
        except duckdb.CatalogException:
            return None
        return row[0] if row else None

    def _relation(self, entity: Entity, accounts: list[str], account_column: str, raw: bool,
                  custom: tuple[str, str, bool] | None = None) -> str:
        reserved = [account_column] if len(accounts) > 1 else []
        parts = [derived_query(entity, self.table_of(a, entity.name) if custom is None
                               else self._with_custom_fields(entity, a, custom[1], custom[2], reserved), raw=raw)
                 for a in accounts]
        if len(accounts) == 1:
            return parts[0]
        return " UNION ALL BY NAME ".join(
            f"SELECT '{a.replace(chr(39), chr(39) * 2)}' AS {quote(account_column)}, * FROM ({p})"
            for a, p in zip(accounts, parts, strict=True))

    # the compiler ----------------------------------------------------------------------------
    def compile(self, flow: str) -> Compiled:
        if flow in self.done:
            return self.done[flow]
        outer, self._reading = self._reading, set()  # a flow source compiles inside its reader
        try:
            return self._compile(flow)
        finally:
            self._reading = outer

    def _compile(self, flow: str) -> Compiled:
        config = self.config
        spec: FlowSpec = config.flows[flow]
        at: Loc = ("flows", flow)
        root = entity_of(config, flow)
        accounts = config.account_names(flow)
        multi = len(accounts) > 1
        acol = self._account_column(flow)
        jsons = set(_json_columns(root))

        # source
        if spec.source.flow is not None:
            upstream = self.compile(spec.source.flow)
            sql = upstream.sql
            jsons = set(upstream.json_columns)
        else:
            if multi and acol.lower() in {c.lower() for c in root.columns}:
                raise config.error((*at, "source", "accounts"),
                                   f"{root.name} already has a column {acol!r}: set account_column: "
                                   "to another name, e.g. account_column: source_account")
            sql = self.relation(root, accounts, acol, spec.source.raw, _custom(spec))
        cols = self._describe(sql, (*at, "source"), "source")

        def same_account(right: str) -> str:
            return f" AND t.{quote(acol)} = {right}.{quote(acol)}" if multi else ""

        # lookups
        for i, name in enumerate(spec.lookups):
            column, target, expr, new = _lookup(config, flow, root, name, i)
            self._check_columns([column], cols, (*at, "lookups", i), flow, index=None)
            entity = catalog.CATALOG[target]
            rel = self.relation(entity, accounts, acol, True)
            key = "id"
            also = f"{quote(acol)}, " if multi else ""
            sql = (f"SELECT t.*, l.{quote(new)} FROM ({sql}) t LEFT JOIN (SELECT {also}{quote(key)}, "
                   f"{expr} AS {quote(new)} FROM ({rel})) l ON t.{quote(column)} = l.{quote(key)}{same_account('l')}")
            cols = self._describe(sql, (*at, "lookups", i), f"lookup {name}")

        # joins
        for i, join in enumerate(spec.join):
            jat: Loc = (*at, "join", i)
            entity = _join_entity(config, flow, i, join.entity)
            rel = self.relation(entity, accounts, acol, False, _custom(spec))
            rcols = self._describe(rel, (*jat, "entity"), f"join {entity.name}")
            self._check_columns(list(join.on), cols, (*jat, "on"), flow, index=False)
            for left, right in join.on.items():
                self._check_columns([right], rcols, (*jat, "on", left), entity.name, index=None)
            chosen = join.columns if join.columns is not None else [
                n for n, _ in rcols if not (multi and n == acol)]
            if join.columns is not None:
                self._check_columns(chosen, rcols, (*jat, "columns"), entity.name)
            prefix = join.prefix if join.prefix is not None else f"{entity.single}_"
            picked = ", ".join(f"j.{quote(c)} AS {quote(prefix + c)}" for c in chosen)
            on = " AND ".join(f"t.{quote(lft)} = j.{quote(rgt)}" for lft, rgt in join.on.items())
            sql = (f"SELECT t.*{', ' + picked if picked else ''} FROM ({sql}) t "
                   f"{join.how.upper()} JOIN ({rel}) j ON {on}{same_account('j')}")
            cols = self._describe(sql, jat, f"join {entity.name}")
            jsons |= {prefix + c for c in chosen if c in _json_columns(entity)}

        # formulas, then filter: each a step of its own, bound at its own line (or many flows' at once)
        base, base_cols = sql, cols
        steps: list[tuple[str, Loc, str]] = []
        lowered, added = _lower(cols), set()
        for name, expr in spec.formulas.items():
            exists = name.lower() in lowered or name.lower() in added
            sql = (f"SELECT * REPLACE (({expr}) AS {quote(name)}) FROM ({sql}) t" if exists
                   else f"SELECT *, ({expr}) AS {quote(name)} FROM ({sql}) t")
            added.add(name.lower())
            steps.append((sql, (*at, "formulas", name), f"formula {expr!r}"))
        for i, condition in enumerate(spec.filter):
            sql = f"SELECT * FROM ({sql}) t WHERE ({condition})"
            steps.append((sql, (*at, "filter", i), f"filter {condition!r}"))
        if steps:
            known = self._described.get(sql)
            if known is not None:
                cols = known
            elif self.batch is not None and self.batch.add(sql, base, base_cols, spec):
                raise _Deferred(flow)
            else:
                for step in steps:
                    cols = self._describe(*step)

        # aggregation
        if spec.group_by or spec.aggregate:
            self._check_columns(spec.group_by, cols, (*at, "group_by"), flow)
            keys = [quote(c) for c in spec.group_by]
            group = f" GROUP BY {', '.join(keys)}" if keys else ""
            for n, expr in spec.aggregate.items():  # each checked on its own, at its own line
                self._describe(f"SELECT {', '.join([*keys, f'({expr}) AS {quote(n)}'])} FROM ({sql}) t{group}",
                               (*at, "aggregate", n), f"aggregate {expr!r}")
            parts = keys + [f"({expr}) AS {quote(n)}" for n, expr in spec.aggregate.items()]
            sql = f"SELECT {', '.join(parts)} FROM ({sql}) t{group}"
            cols = self._describe(sql, (*at, "group_by"), "group_by")

        # columns: select, hide, rename, types, timezone
        names = [n for n, _ in cols]
        type_of = dict(cols)
        if spec.select is not None:
            self._check_columns(spec.select, cols, (*at, "select"), flow)
            canon = _lower(cols)
            names = [canon[s.lower()] for s in spec.select]
        if spec.hide:
            self._check_columns(spec.hide, cols, (*at, "hide"), flow)
            hidden = {h.lower() for h in spec.hide}
            names = [n for n in names if n.lower() not in hidden]
        current = [(n, type_of[n]) for n in names]
        self._check_columns(list(spec.rename), current, (*at, "rename"), flow, index=False)
        renames = {k.lower(): v for k, v in spec.rename.items()}
        final = [renames.get(n.lower(), n) for n in names]
        for n in final:
            if final.count(n) > 1:
                raise config.error((*at, "rename") if spec.rename else (*at, "select"),
                                   f"two output columns are named {n!r}: rename one")
        self._check_columns(list(spec.types), [(n, "") for n in final], (*at, "types"), f"the output of {flow}",
                            index=False)
        types = {k.lower(): (k, v) for k, v in spec.types.items()}
        zone = self._zone(flow)
        out = []
        changed: list[tuple[str, str]] = []  # (input type, the change as SQL over t.v): what validate probes
        for old, new in zip(names, final, strict=True):
            expr, probe = f"t.{quote(old)}", "t.v"
            ctype = type_of[old]
            if new.lower() in types:
                key, wanted = types[new.lower()]
                ctype = _duck_type(config, (*at, "types", key), wanted)
                expr, probe = f"CAST({expr} AS {ctype})", f"CAST({probe} AS {ctype})"
            if zone and ctype in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
                expr, probe = f"timezone('{zone}', {expr})", f"timezone('{zone}', {probe})"
            out.append(f"{expr} AS {quote(new)}")
            changed.append((type_of[old], probe))
        # sort: by the output names, on the values before types and timezone (ids sort as numbers)
        order = ""
        if spec.sort:
            keys = []
            back = {new.lower(): old for old, new in zip(names, final, strict=True)}
            for i, item in enumerate(spec.sort):
                name, _, direction = item.strip().rpartition(" ")
                if direction.lower() not in ("asc", "desc") or not name:
                    name, direction = item.strip(), "asc"
                self._check_columns([name], [(n, "") for n in final], (*at, "sort", i),
                                    f"the output of {flow}", index=None)
                keys.append(f"t.{quote(back[name.lower()])} {direction.upper()} NULLS LAST")
            order = f" ORDER BY {', '.join(keys)}"
        sql = f"SELECT {', '.join(out)} FROM ({sql}) t{order}"
        if spec.types or zone:  # casts and zones change types: ask DuckDB
            probed = self._probe(changed) if self.batch is not None else None
            cols = ([(new, t) for new, t in zip(final, probed, strict=True)] if probed is not None
                    else self._describe(sql, (*at, "types") if spec.types else at, "columns"))
        else:  # the checked columns, chosen and renamed: nothing to bind again
            cols = [(new, type_of[old]) for old, new in zip(names, final, strict=True)]
        jsons = {renames.get(j.lower(), j) for j in jsons if j.lower() in {n.lower() for n in names}}

        if destinations.EXTRACTED_AT in {n for n, _ in cols} and spec.mode == "append":
            raise config.error((*at, "mode"), f"append adds a {destinations.EXTRACTED_AT} column; "
                               "the flow already has one: rename it")
        compiled = Compiled(flow, sql, frozenset(jsons), cols, list(self.notes))
        self.done[flow] = compiled
        return compiled

    def _probe(self, changed: list[tuple[str, str]]) -> list[str] | None:
        """The output types of casts and zones, each (input type, change) bound once over a NULL of
        that type rather than the flow's whole query (1 to 2 ms a flow); None if one fails (the
        query is then bound whole, for its message). validate only."""
        out = []
        for ctype, probe in changed:
            if probe == "t.v":
                out.append(ctype)
                continue
            if (ctype, probe) not in self._probed:
                try:
                    self.binds += 1
                    got = self.con.execute(f"DESCRIBE SELECT {probe} AS c FROM (SELECT CAST(NULL AS {ctype}) AS v) t")
                    self._probed[ctype, probe] = got.fetchall()[0][1]
                except duckdb.Error:
                    self._probed[ctype, probe] = None
            if self._probed[ctype, probe] is None:
                return None
            out.append(self._probed[ctype, probe])
        return out

    def _account_column(self, flow: str) -> str:
        src = self.config.flows[flow].source
        if src.flow is not None:
            return self._account_column(src.flow) if src.flow != flow else src.account_column
        return src.account_column

    def _zone(self, flow: str) -> str | None:
        zone = self.config.flows[flow].timezone
        if zone is None:
            return None
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise self.config.error(("flows", flow, "timezone"),
                                    f"unknown time zone {zone!r}: write an IANA name like Europe/Paris "
                                    "or America/New_York") from None
        return zone


_LOWER: dict[tuple[int, bool], tuple[list[tuple[str, str]], dict[str, Any]]] = {}


def _lower(cols: list[tuple[str, str]], index: bool = False) -> dict[str, Any]:
    """{name in lower case: the name (index: its first position)} of columns, once per list of
    columns (flows that share a step share its list): every flow's checks ask."""
    known = _LOWER.get((id(cols), index))
    if known is not None and known[0] is cols:
        return known[1]
    if index:
        found: dict[str, Any] = {}
        for i, (n, _) in enumerate(cols):
            found.setdefault(n.lower(), i)
    else:
        found = {n.lower(): n for n, _ in cols}
    if len(_LOWER) > 10_000:
        _LOWER.clear()
    _LOWER[id(cols), index] = (cols, found)  # the list kept, so its id is not reused
    return found


_JSON_COLUMNS: dict[str, frozenset[str]] = {}


def _json_columns(entity: Entity) -> frozenset[str]:
    """json_columns, once per entity: every flow asks."""
    if entity.name not in _JSON_COLUMNS:
        _JSON_COLUMNS[entity.name] = json_columns(entity)
    return _JSON_COLUMNS[entity.name]


class _Deferred(Exception):
    """A flow whose formulas and filters wait for their batch to be bound (validate tries it again)."""


@dataclass
class _Run:
    """One flow's formulas and filters over the columns `base_cols`; `sql` is its last step's SQL."""

    sql: str
    base_cols: list[tuple[str, str]]
    formulas: list[tuple[str, str]]
    filters: list[str]


class _Batch:
    """Formulas and filters of many flows bound in one statement over their shared input.

    A DESCRIBE costs 0.3 to 1 ms whatever it holds, and a step over a wide source costs more
    (each `SELECT *` binds every column); one more expression in a select list costs ~20 us.
    So the flows reading the same input put every formula in one select list and every filter
    in one WHERE (`t.first_column` keeps it a row-by-row query, as each step's `SELECT *` is):

        SELECT t."id", (value / 100.0) AS _acflow_1, ... FROM (input) t WHERE (status = 1) AND ...

    A formula that reads another of its flow's formulas (or its whole row: `*`, COLUMNS, `t`),
    or that could reach past its own text (comments, ';', an unclosed quote or bracket), is
    bound step by step as before. So is a batch's flow when the statement fails: the batch is
    halved until the culprits stand alone, then each is bound step by step for its own message
    at its own line. Whatever passes in a batch would pass step by step, and the columns it
    gives are those the steps give.
    """

    SIZE = 200  # expressions per statement: well under DuckDB's expression depth limit (1,000)

    def __init__(self) -> None:
        self.pending: dict[str, dict[str, _Run]] = {}  # input SQL -> last step's SQL -> run
        self.alone: set[str] = set()  # runs that failed in a batch: bound step by step

    def add(self, sql: str, base: str, base_cols: list[tuple[str, str]], spec: FlowSpec) -> bool:
        """Queue a flow's formulas and filters; False if they must be bound step by step."""
        if sql in self.alone or not base_cols:
            return False
        earlier: set[str] = set()  # the flow's formulas so far: a later step may read them
        for name, expr in [*spec.formulas.items(), *((None, c) for c in spec.filter)]:
            scanned = _scan(expr)
            if scanned is None or (earlier and (scanned[1] or scanned[0] & earlier)):
                return False
            if any(n.startswith("_acflow_") for n in scanned[0]):  # the batch's own names: not there alone
                return False
            if name is not None:
                earlier.add(name.lower())
        self.pending.setdefault(base, {})[sql] = _Run(sql, base_cols, list(spec.formulas.items()), list(spec.filter))
        return True

    def bind(self, compiler: Compiler) -> None:
        """Bind every queued run; the columns of those that pass go to the compiler's cache."""
        pending, self.pending = self.pending, {}
        for base, runs in pending.items():
            chunk: list[_Run] = []
            size = 0
            for run in runs.values():
                chunk.append(run)
                size += len(run.formulas) + len(run.filters)
                if size >= self.SIZE:
                    self._bind(compiler, base, chunk)
                    chunk, size = [], 0
            if chunk:
                self._bind(compiler, base, chunk)

    def _bind(self, compiler: Compiler, base: str, runs: list[_Run]) -> None:
        first = runs[0].base_cols[0][0]
        select, where = [f"t.{quote(first)}"], []
        for run in runs:
            select += [f"({expr}) AS _acflow_{len(select) + i}" for i, (_, expr) in enumerate(run.formulas)]
            where += [f"({condition})" for condition in run.filters]
        sql = f"SELECT {', '.join(select)} FROM ({base}) t{' WHERE ' + ' AND '.join(where) if where else ''}"
        try:
            compiler.binds += 1
            got = compiler.con.execute(f"DESCRIBE {sql}").fetchall()
            ok = [r[0] for r in got] == [first, *(f"_acflow_{i}" for i in range(1, len(select)))]
        except duckdb.Error:
            ok = False
        if not ok:
            if len(runs) == 1:
                self.alone.add(runs[0].sql)
                return
            half = len(runs) // 2
            self._bind(compiler, base, runs[:half])
            self._bind(compiler, base, runs[half:])
            return
        types = iter(r[1] for r in got[1:])
        for run in runs:
            cols = list(run.base_cols)
            for i, (name, _) in enumerate(run.formulas):  # as the steps do: a new column at the end, or one
                if i == 0:  # replaced in place
                    at = _lower(run.base_cols, index=True).get(name.lower(), len(cols))
                else:
                    at = next((i for i, (n, _) in enumerate(cols) if n.lower() == name.lower()), len(cols))
                cols[at:at + 1] = [(name, next(types))]
            compiler._described[run.sql] = cols


_TOKEN = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|[^\W\d]\w*|\d\w*|\s+|--|/\*|[-+*/%<>=!|&^~,.:?@()\[\]{}]""")


def _scan(expr: str) -> tuple[set[str], bool] | None:
    """The names (lower case) an expression reads, and whether it may read a whole row (`*`,
    COLUMNS, the row `t`); None if it could reach past its own text in a bigger statement:
    a comment, ';', '$', a backslash, an unclosed quote or bracket."""
    names: set[str] = set()
    rows = False
    depth = 0
    prev = ""
    pos = 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None:
            return None
        token, pos = match.group(), match.end()
        if token.isspace():
            continue
        if token in ("--", "/*"):
            return None
        if token[0] == '"':
            names.add(token[1:-1].replace('""', '"').lower())
        elif token[0].isalpha() or token[0] == "_":
            names.add(token.lower())
        elif token in ("(", "[", "{"):
            depth += 1
        elif token in (")", "]", "}"):
            depth -= 1
            if depth < 0:
                return None
        elif token == "*" and prev in ("", "(", ",", "."):
            rows = True
        prev = token
    if depth or not expr.strip():
        return None
    return names, rows or bool(names & {"t", "columns"})


def _duck_type(config: Config, loc: Loc, wanted: str) -> str:
    low = wanted.strip().lower()
    if low in TYPES:
        return TYPES[low]
    m = _DECIMAL.match(low)
    if m and 1 <= int(m.group(1)) <= 38 and int(m.group(2)) <= int(m.group(1)):
        return f"DECIMAL({m.group(1)}, {m.group(2)})"
    raise config.error(loc, f"unknown type {wanted!r}: write one of {', '.join(TYPES)} or decimal(P, S)")


def _duck_message(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines()]
    keep = []
    for ln in lines:
        if ln.startswith("LINE ") or ln.startswith("^") or not ln:
            break
        keep.append(ln)
    text = " ".join(keep).split(" Candidate functions:")[0]
    return re.sub(r"^(Binder|Parser|Catalog|Conversion) Error: ", "", text)


def empty_tables(con: duckdb.DuckDBPyConnection, config: Config, pairs: set[tuple[str, str]]) -> TableOf:
    """Empty tables typed from the catalog, one per (account, entity): what validate compiles over."""
    def table_of(account: str, entity: str) -> str:
        return f"{quote('acct_' + account)}.{quote(entity)}"

    for account, entity in sorted(pairs):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote('acct_' + account)}")
        empty = pa.Table.from_batches([], schema=BatchBuilder(catalog.CATALOG[entity]).schema())
        con.register("_acflow_empty", empty)
        try:
            con.execute(f"CREATE TABLE IF NOT EXISTS {table_of(account, entity)} AS SELECT * FROM _acflow_empty")
        finally:
            con.unregister("_acflow_empty")
    return table_of


def check_connections(config: Config, flows: list[str] | None = None) -> None:
    """`acflow validate --connect`: each database destination answers and lets its user create
    tables; every failure is found in one pass, one line each (DestinationErrors, exit code 1)."""
    errors: list[str] = []
    seen: set[str] = set()
    for name in config.flow_names(flows):
        dest = check_destination(config, name)
        check = getattr(dest.writer, "check", None)
        if check is None or dest.key() in seen:
            continue
        seen.add(dest.key())
        try:
            check(dest)
        except DestinationError as exc:
            errors.append(f"flow {name!r}: {exc}")
    if errors:
        raise DestinationError("\n".join(errors))


def validate(config: Config, flows: list[str] | None = None, *, accounts: Mapping[str, Any] | None = None,
             mirror: Path | None = None) -> dict[str, Compiled]:
    """Everything that can be checked before a run, with no request and no write.

    Every flow is checked, so one pass reports every mistake (ConfigErrors, one line each).
    The mirror is only read for the custom fields it knows (their columns can be selected,
    renamed...); `accounts` (name -> Account) say which account URLs to read them for, `mirror`
    where (default: acflow.yaml's).
    """
    with paused_gc():  # compiling makes many objects while the file's node tree is alive
        return _validate(config, flows, accounts, mirror)


def _known_fields(con: duckdb.DuckDBPyConnection, config: Config, pairs: set[tuple[str, str]],
                  compiler: Compiler, mirror: Path | None) -> str | None:
    """Fills validate's empty custom-field tables (fields...) from the mirror, read-only, so a flow
    may name the custom field columns a run will have; returns where the mirror keeps their
    names (as SQL), or None when there is no mirror to read (new, or in use by a run)."""
    from .mirror import DELETED_AT, account_schema

    metas = {fs.meta for fs in cf.SETS.values()}
    wanted = sorted((a, e) for a, e in pairs if e in metas)
    path = mirror or config.mirror_path()
    if not wanted or not path.is_file():
        return None
    try:
        con.execute(f"ATTACH '{str(path).replace(chr(39), chr(39) * 2)}' AS acflow_mirror (READ_ONLY)")
    except duckdb.Error:
        return None
    table_of = compiler.table_of
    for account, meta in wanted:
        source = f"acflow_mirror.{quote(account_schema(compiler._account(account)[0]))}.{quote(meta)}"
        try:
            have = {r[0] for r in con.execute(f"DESCRIBE {source}").fetchall()}
            target = [r[0] for r in con.execute(f"DESCRIBE {table_of(account, meta)}").fetchall()]
            cols = ", ".join(quote(c) for c in target if c in have)
            con.execute(f"INSERT INTO {table_of(account, meta)} ({cols}) SELECT {cols} FROM {source} "
                        f"WHERE {DELETED_AT} IS NULL")
        except duckdb.Error:
            continue  # not synced yet, or columns of other types: no custom columns known
    return f"acflow_mirror.{cf.MIRROR_SCHEMA}"


def _validate(config: Config, flows: list[str] | None, accounts: Mapping[str, Any] | None = None,
              mirror: Path | None = None) -> dict[str, Compiled]:
    names = config.flow_names(flows)
    every = list(config.flows) if not flows else names
    errors: list[str] = []
    pairs: set[tuple[str, str]] = set()
    readable = []
    for name in every:
        try:
            pairs |= needs(config, name)
            readable.append(name)
        except ConfigError as exc:
            errors.append(str(exc))
    workbooks: dict[tuple[str, str], str] = {}
    for name in every:
        try:
            dest = check_destination(config, name)
            if dest.kind == "xlsx":
                key = (str(dest.path.resolve()), (dest.table or name).lower())
                if key in workbooks:
                    raise config.error(("flows", name, "sheet"), f"flow {workbooks[key]!r} already writes sheet "
                                       f"{dest.table!r} of {dest.path}: choose another sheet name")
                workbooks[key] = name
                if config.flows[name].mode != "replace":
                    raise config.error(("flows", name, "mode"), "xlsx destinations take mode: replace")
        except ConfigError as exc:
            errors.append(str(exc))
    errors += _schedules(config, every)
    con = duckdb.connect()
    compiled: dict[str, Compiled] = {}
    try:
        con.execute("SET TimeZone = 'UTC'")
        compiler = Compiler(config, con, empty_tables(con, config, pairs), accounts)
        compiler.batch = _Batch()
        compiler.keep_names = False
        compiler.pins_at = _known_fields(con, config, pairs, compiler, mirror)
        waiting = readable
        while waiting:  # a flow deferred for a batch is compiled again once the batch is bound
            deferred = []
            for name in waiting:
                try:
                    compiled[name] = compiler.compile(name)
                except _Deferred:
                    deferred.append(name)
                except ConfigError as exc:
                    errors.append(str(exc))
            compiler.batch.bind(compiler)
            waiting = deferred
    finally:
        con.close()
    compiled = {name: compiled[name] for name in readable if name in compiled}  # in file order, as before
    if errors:
        raise ConfigErrors(sorted(dict.fromkeys(errors), key=_line))
    return compiled


def _schedules(config: Config, names: list[str]) -> list[str]:
    """A schedule that never fires is a mistake (acflow serve would never run the flow): said at its line."""
    from .service.schedule import effective, never_fires

    out = []
    default = config.spec.schedule
    if default is not None and (why := never_fires(default)):
        out.append(str(config.error(("schedule",), why)))
    for name in names:
        own = config.flows[name].schedule
        spec = effective(default, own)
        if own is not None and spec is not None and (why := never_fires(spec)):
            out.append(str(config.error(("flows", name, "schedule"), why)))
    return out


def _line(message: str) -> int:
    """The line number of a `path:LINE: ...` message (0 if none), to report mistakes in file order."""
    match = re.match(r"[^\n]*?:(\d+): ", message)
    return int(match[1]) if match else 0
