"""The mirror as an assistant reads it: read-only, hardened, bounded, and never long in a writer's way.

Each request opens the mirror read-only, with DuckDB's doors shut for the connection's life
(HARDENED: no external access, so no file, URL or extension; configuration locked after
setup), makes temporary views (one per entity: current rows, derived and looked-up columns;
one per flow when asked: the flow compiled over the mirror by flows.Compiler), runs one
bounded statement (rows, bytes, seconds through `interrupt()`), and closes. Nothing is held
open between requests: DuckDB lets one process write a file, or any number read it, so a
connection kept open would stop every `acflow sync` and `acflow run`.

While a sync or run writes the mirror (another process holds its lock, or this process has it
open for writing) a request waits up to `Limits.busy_wait` seconds, then answers in one line
that the mirror is busy. A copy of the file taken while it is written could be torn, and a
copy of a large mirror per request costs its size in disk and time: a clear "ask again" is
the honest answer.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AcflowError, ConfigError, MirrorBusy

if TYPE_CHECKING:
    import duckdb

    from ..catalog import Entity
    from ..config import Config

HARDENED: dict[str, Any] = {
    "enable_external_access": False,  # no file, URL, ATTACH, COPY, extension install
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "temp_directory": "",  # never spill beside the mirror (its writer clears that folder)
}
ACCOUNT_COLUMN = "source_account"  # in entity views of a mirror holding several accounts
FLOW_PREFIX = "flow_"
# Text columns whose name says they may hold a credential (lists' twitter_token_secret...): never shown.
HIDDEN_WORDS = frozenset({"token", "secret", "session", "password", "apikey"})
_GATE = threading.Lock()  # one connection to the mirror at a time in this process (DuckDB: one config per file)


@dataclass(frozen=True)
class Limits:
    rows: int = 500
    bytes: int = 200_000
    seconds: float = 10.0
    memory: str = "512MB"
    threads: int = 2
    busy_wait: float = 5.0


@dataclass
class Result:
    """A bounded query result: rows as Python values, and why it stopped early, if it did."""

    columns: list[tuple[str, str]]
    rows: list[tuple[Any, ...]]
    truncated: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class Held:
    """An entity table the mirror holds for an account, from its sync state."""

    account: str
    entity: str
    schema: str
    rows: int
    synced_at: datetime | None
    full_synced_at: datetime | None


@dataclass(frozen=True)
class _Acct:
    url: str
    timezone: str | None = None


class QueryStopped(AcflowError):
    """A query ran past the time limit and was interrupted."""


@dataclass
class _Cache:
    signature: tuple[Any, ...] = ()
    views: dict[str, str] = field(default_factory=dict)  # view name -> SQL
    entities: dict[str, str] = field(default_factory=dict)  # view name -> entity
    flows: dict[str, str] = field(default_factory=dict)  # flow name -> compiled SQL


class MirrorReader:
    def __init__(self, mirror: str | Path, config: str | Path | None = None, limits: Limits | None = None) -> None:
        self.path = Path(mirror)
        self.config_path = Path(config) if config is not None else None
        self.limits = limits or Limits()
        if not self.path.is_file():
            raise ConfigError(f"mirror {self.path} does not exist: run `acflow sync` or `acflow run` first, "
                              "or give --mirror")
        self._cache = _Cache()
        self._cache_lock = threading.Lock()

    # configuration --------------------------------------------------------------------------
    def config(self) -> Config | None:
        """acflow.yaml, read again each time (it may have been edited); None without one."""
        if self.config_path is None:
            return None
        from ..config import load

        return load(self.config_path)

    # connections ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A hardened read-only connection with the entity views made; closed at the end."""
        deadline = time.monotonic() + self.limits.busy_wait
        if not _GATE.acquire(timeout=self.limits.busy_wait):
            raise MirrorBusy(f"mirror {self.path} is busy in this server (a run or another query): ask again "
                             "in a moment")
        try:
            con = self._open(deadline)
            try:
                yield Session(self, con)
            finally:
                con.close()
        finally:
            _GATE.release()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """For a run or a sync this server starts (--allow-runs): no read connection meanwhile."""
        if not _GATE.acquire(timeout=self.limits.busy_wait):
            raise MirrorBusy(f"mirror {self.path} is busy in this server: ask again when the query or run ends")
        try:
            yield
        finally:
            _GATE.release()

    def _open(self, deadline: float) -> duckdb.DuckDBPyConnection:
        import duckdb

        config = {**HARDENED, "memory_limit": self.limits.memory, "threads": self.limits.threads}
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=True, config=config)
                break
            except (duckdb.IOException, duckdb.ConnectionException) as exc:
                text = str(exc)
                busy = "lock" in text.lower() or "different configuration" in text.lower()
                if not busy:
                    raise ConfigError(f"mirror {self.path} cannot be read: {text.splitlines()[0]}") from None
                if time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                pid = re.search(r"\(PID (\d+)\)", text)
                who = f"another acflow process (PID {pid.group(1)})" if pid else "a run in this process"
                raise MirrorBusy(f"mirror {self.path} is being written by {who}, a sync or a run: ask again "
                                 "when it has finished") from None
        try:
            con.execute("SET TimeZone = 'UTC'")  # as the mirror's writer: text made of times is UTC
            con.execute("SET lock_configuration = true")
            self._check_layout(con)
        except BaseException:
            con.close()
            raise
        return con

    def _check_layout(self, con: duckdb.DuckDBPyConnection) -> None:
        import duckdb

        from ..mirror import FORMAT, META

        try:
            found = con.execute(f"SELECT max(format) FROM {META}.about").fetchone()[0]
        except duckdb.CatalogException:
            raise ConfigError(f"{self.path} is not an acflow mirror (no {META} tables): give the mirror "
                              "`acflow sync` writes (--mirror)") from None
        if found != FORMAT:
            raise ConfigError(f"mirror {self.path} has layout {found}, this acflow reads {FORMAT}: run `acflow sync` "
                              "once with this acflow (it rebuilds the mirror)")

    def signature(self) -> tuple[Any, ...]:
        """Changes whenever the mirror file or its log does: what cached view SQL is keyed on."""
        out: list[Any] = []
        for p in (self.path, self.path.with_name(self.path.name + ".wal")):
            with contextlib.suppress(OSError):
                st = p.stat()
                out += [st.st_mtime_ns, st.st_size]
        if self.config_path is not None:
            with contextlib.suppress(OSError):
                out.append(self.config_path.stat().st_mtime_ns)
        return tuple(out)


class Session:
    """One request's connection: views on demand, and bounded statements."""

    def __init__(self, reader: MirrorReader, con: duckdb.DuckDBPyConnection) -> None:
        self.reader = reader
        self.con = con
        self.limits = reader.limits
        self._made: set[str] = set()
        sig = reader.signature()
        with reader._cache_lock:
            if reader._cache.signature != sig:
                reader._cache = _Cache(signature=sig)
            self.cache = reader._cache
        self.held = self._held()
        if not self.cache.views:
            self._plan_entity_views()
        for name, sql in self.cache.views.items():
            self._create(name, sql)

    # what the mirror holds ------------------------------------------------------------------
    def _held(self) -> list[Held]:
        from ..mirror import META, account_schema

        tables = {(s, t) for s, t in self.con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database()").fetchall()}
        out = []
        for account, entity, synced, full, rows in self.con.execute(
                f"SELECT account, entity, synced_at, full_synced_at, rows FROM {META}.state "
                "ORDER BY account, entity").fetchall():
            schema = account_schema(account)
            if (schema, entity) in tables:
                out.append(Held(account, entity, schema, int(rows or 0), synced, full))
        return out

    def accounts(self) -> list[str]:
        return sorted({h.account for h in self.held})

    def current(self, account: str, entity: str) -> str:
        """The entity's current rows for an account (as Mirror.current: no internal columns, no removed rows)."""
        from ..mirror import DELETED_AT, INTERNAL, account_schema, quote

        table = f"{quote(account_schema(account))}.{quote(entity)}"
        return f"(SELECT * EXCLUDE ({', '.join(INTERNAL)}) FROM {table} WHERE {DELETED_AT} IS NULL)"

    def last_flow_runs(self) -> dict[str, tuple[Any, ...]]:
        """flow -> (ended, status, rows) of its last run, from the log `acflow run` keeps in the mirror."""
        import duckdb

        from ..run import FLOW_LOG

        try:
            rows = self.con.execute(f"SELECT flow, ended, status, rows FROM {FLOW_LOG} "
                                    "QUALIFY row_number() OVER (PARTITION BY flow ORDER BY ended DESC) = 1").fetchall()
        except duckdb.CatalogException:
            return {}  # no flow has run on this mirror
        return {r[0]: tuple(r[1:]) for r in rows}

    # entity views ---------------------------------------------------------------------------
    def _plan_entity_views(self) -> None:
        from .. import catalog

        by_entity: dict[str, list[str]] = {}
        for h in self.held:
            by_entity.setdefault(h.entity, []).append(h.account)
        for name, accounts in sorted(by_entity.items()):
            entity = catalog.find(name)
            if entity is None:
                continue
            parts = [(a, self._entity_sql(entity, a)) for a in accounts]
            if len(parts) == 1:
                sql = parts[0][1]
            else:
                sql = " UNION ALL BY NAME ".join(
                    f"SELECT '{a.replace(chr(39), chr(39) * 2)}' AS {ACCOUNT_COLUMN}, * FROM ({p})" for a, p in parts)
            self.cache.views[entity.name] = sql
            self.cache.entities[entity.name] = entity.name

    def _entity_sql(self, entity: Entity, account: str) -> str:
        import duckdb

        from ..export import derived_query
        from ..mirror import quote

        held = {h.entity for h in self.held if h.account == account}
        sql = derived_query(entity, self.current(account, entity.name))
        have = self._columns(sql)
        for lk in entity.lookups.values():
            if lk.entity not in held or lk.column not in have or lk.name in have:
                continue
            joined = (f"SELECT t.*, l.{quote(lk.name)} FROM ({sql}) t LEFT JOIN (SELECT id, {lk.value} AS "
                      f"{quote(lk.name)} FROM {self.current(account, lk.entity)}) l ON t.{quote(lk.column)} = l.id")
            try:
                have = self._columns(joined)
            except duckdb.Error:
                continue  # the looked-up table lacks a column the lookup reads: no name column
            sql = joined
        return self._without_hidden(sql, have)

    def _columns(self, sql: str) -> dict[str, str]:
        return {r[0]: r[1] for r in self.con.execute(f"DESCRIBE {sql}").fetchall()}

    def _without_hidden(self, sql: str, columns: dict[str, str]) -> str:
        from ..mirror import quote

        hidden = [c for c, t in columns.items() if hidden_column(c, t)]
        if not hidden:
            return sql
        return f"SELECT * EXCLUDE ({', '.join(quote(c) for c in hidden)}) FROM ({sql})"

    def _create(self, name: str, sql: str) -> None:
        from ..mirror import quote

        if name.lower() in self._made:
            return
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {quote(name)} AS {sql}")
        self._made.add(name.lower())

    def entity_view(self, name: str) -> str | None:
        """The view of an entity (any of its names), if the mirror holds it."""
        from .. import catalog

        entity = catalog.find(name)
        return entity.name if entity is not None and entity.name in self.cache.views else None

    # flow views -----------------------------------------------------------------------------
    def flow_view(self, flow: str) -> str:
        """`flow_<name>`: the flow compiled over the mirror (what a run would write), made now."""
        cfg = self.reader.config()
        if cfg is None or flow not in cfg.flows:
            names = ", ".join(cfg.flows) if cfg is not None else "none (no acflow.yaml given)"
            raise ConfigError(f"no flow named {flow!r}. Flows: {names}")
        sql = self.cache.flows.get(flow)
        if sql is None:
            sql = self._compile(cfg, flow)
            self.cache.flows[flow] = sql
        name = FLOW_PREFIX + flow
        self._create(name, sql)
        return name

    def flow_views_for(self, tables: frozenset[str]) -> None:
        """Makes the flow views a query names (`flow_deals_pipeline`); others cost nothing."""
        wanted = [t for t in tables if t.startswith(FLOW_PREFIX)]
        if not wanted:
            return
        cfg = self.reader.config()
        if cfg is None:
            return
        by_lower = {f.lower(): f for f in cfg.flows}
        for t in wanted:
            flow = by_lower.get(t.removeprefix(FLOW_PREFIX))
            if flow is not None:
                self.flow_view(flow)

    def _compile(self, cfg: Config, flow: str) -> str:
        from ..flows import Compiler, needs

        accounts = self._resolve_accounts(cfg)
        held = {(h.account, h.entity) for h in self.held}
        for account, entity in sorted(needs(cfg, flow)):
            url = accounts[account].url if account in accounts else account
            if (url, entity) not in held:
                raise AcflowError(f"flow {flow!r} reads {entity} of account {account}, which the mirror "
                                  f"{self.reader.path} does not hold: `acflow run {flow}` syncs it")

        def table_of(account: str, entity: str) -> str:
            return self.current(accounts[account].url, entity)

        compiler = Compiler(cfg, self.con, table_of, accounts)
        compiler.keep_names = False  # read-only: custom field names are read, never pinned
        sql = compiler.compile(flow).sql
        return self._without_hidden(sql, self._columns(sql))

    def _resolve_accounts(self, cfg: Config) -> dict[str, _Acct]:
        """acflow.yaml's accounts by URL (url:, or url_env's variable); an account whose URL is not set
        here is the mirror's only account, if it holds one (the demo's mirror: a sandbox's address)."""
        from ..account import normalize_url

        known = self.accounts()
        out: dict[str, _Acct] = {}
        for name, spec in cfg.spec.accounts.items():
            url = spec.url or (os.environ.get(spec.url_env) if spec.url_env else None)
            if not url and len(known) == 1:
                url = known[0]
            if not url:
                raise ConfigError(f"account {name!r} of {cfg.path}: its URL is not set ({spec.url_env} is empty) and "
                                  f"the mirror holds {len(known)} accounts: set {spec.url_env}")
            out[name] = _Acct(normalize_url(url), spec.timezone)
        return out

    # running --------------------------------------------------------------------------------
    def run(self, sql: str, *, max_rows: int | None = None, max_bytes: int | None = None) -> Result:
        """One statement, stopped at the time limit, its rows cut at the row or byte limit."""
        import duckdb

        rows_cap = min(max_rows or self.limits.rows, self.limits.rows)
        bytes_cap = min(max_bytes or self.limits.bytes, self.limits.bytes)
        started = time.monotonic()
        timer = threading.Timer(self.limits.seconds, self.con.interrupt)
        timer.start()
        try:
            cur = self.con.execute(sql)
            columns = [(d[0], str(d[1])) for d in cur.description or []]
            rows: list[tuple[Any, ...]] = []
            size = 0
            truncated = None
            while truncated is None:
                batch = cur.fetchmany(min(1024, rows_cap + 1))
                if not batch:
                    break
                for row in batch:
                    if len(rows) >= rows_cap:
                        truncated = (f"more than {rows_cap:,} rows: the first {rows_cap:,} are shown; aggregate, "
                                     "filter or add a LIMIT")
                        break
                    size += row_bytes(row)
                    if size > bytes_cap:
                        truncated = (f"the rows passed {bytes_cap:,} bytes after {len(rows):,} rows: select fewer "
                                     "or narrower columns, or aggregate")
                        break
                    rows.append(row)
        except duckdb.InterruptException:
            raise QueryStopped(f"the query was stopped at the time limit ({self.limits.seconds:g} s): aggregate "
                               "more, filter earlier, or add a LIMIT") from None
        except duckdb.Error as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise AcflowError(f"DuckDB: {text}") from None
        finally:
            timer.cancel()
        return Result(columns, rows, truncated, round(time.monotonic() - started, 3))


def hidden_column(name: str, duck_type: str) -> bool:
    """A text column named like a credential (twitter_token_secret, facebook_session)."""
    if duck_type.upper() not in ("VARCHAR", "JSON"):
        return False
    words = set(re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower().split("_"))
    return bool(words & HIDDEN_WORDS) or any(w in name.lower() for w in ("apikey", "api_key"))


def row_bytes(row: tuple[Any, ...]) -> int:
    return sum(len(str(v).encode("utf-8", "replace")) + 3 for v in row)
