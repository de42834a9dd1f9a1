"""The destination protocol: what parse() makes of a URI, what a writer is handed, and how it answers.

A writer module (files.py, duckdb.py, postgres.py...) holds, at module level:

    MODES: tuple[str, ...]                   the write modes it takes, replace first
    EXTRA: str | None                        the pip extra its client library comes in, if any
    ORDERED: bool (default True)             whether readers see row order: only then are rows sorted by id
    parse(text, default_table, *, sheet, base) -> Destination
    describe(dest) -> str                    for messages: never a password
    write(rows, dest, mode, options) -> int  all or nothing; DestinationError with the old data intact
    check(dest) -> None                      optional: `acflow validate --connect` (answers? may create?)

registry.py maps URI schemes, file suffixes and pasted web addresses to these modules; nothing else
needs to know them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit
from urllib.parse import quote as url_quote

from ..errors import ConfigError, disk_cause

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from ..mirror import Mirror

MODES = ("replace", "append", "merge")
EXTRACTED_AT = "_extracted_at"  # added by append mode: when the rows were fetched
# rows per Arrow batch to a server's bulk path: a contact with its JSON is ~1.5 KB in Arrow, so
# 100,000 held 150 MB; at 10,000 PostgreSQL's peak stays ~220 MB for 200k and 1M contacts, as fast
BATCH_ROWS = 10_000


@dataclass(frozen=True)
class Server:
    """Where a database or warehouse is and who connects; the password is never shown."""

    scheme: str
    host: str | None = None
    port: int | None = None
    user: str | None = None
    database: str | None = None  # PostgreSQL/MySQL database, BigQuery project, Snowflake database
    schema: str | None = None  # PostgreSQL/Snowflake schema, BigQuery dataset
    params: tuple[tuple[str, str], ...] = ()  # the URI's other query parameters, in order
    password: str | None = field(default=None, repr=False, compare=False)

    def param(self, name: str, default: str | None = None) -> str | None:
        return next((v for k, v in self.params if k == name), default)

    def url(self) -> str:
        """The URI without its password, for messages and for the mirror's publish marks."""
        who = f"{url_quote(self.user, safe='')}@" if self.user else ""
        where = (self.host or "") + (f":{self.port}" if self.port else "")
        return f"{self.scheme}://{who}{where}/{self.database or ''}"


@dataclass(frozen=True)
class Destination:
    kind: str  # csv | jsonl | parquet | xlsx | duckdb | sqlite | postgresql | mysql | snowflake | bigquery
    path: Path | None = None  # files and embedded databases
    table: str | None = None  # databases: the table; xlsx: the sheet
    server: Server | None = None  # databases on a server and warehouses

    @property
    def writer(self) -> Any:
        from .registry import writer

        return writer(self.kind)

    def describe(self) -> str:
        return str(self.writer.describe(self))

    def modes(self) -> tuple[str, ...]:
        return tuple(self.writer.MODES)

    @property
    def ordered(self) -> bool:
        """Whether readers see rows in the order written (files, sheets), so publish sorts them by id;
        a database table has no order, and sorting 1M contacts cost DuckDB 618 MB for nothing."""
        return bool(getattr(self.writer, "ORDERED", True))

    @property
    def is_file(self) -> bool:
        """Whether the destination is one file a reader opens whole (not a database's table)."""
        return self.kind in ("csv", "jsonl", "parquet", "xlsx")

    def key(self) -> str:
        """What the mirror remembers publishing to (export's append and merge marks)."""
        where = str(self.path.resolve()) if self.path is not None else (self.server.url() if self.server else "")
        schema = self.server.schema if self.server and self.server.schema else ""
        gid = self.server.param("gid") if self.server else None  # a spreadsheet's tab named by its id alone
        return f"{self.kind}:{where}#{schema + '.' if schema else ''}{self.table or (f'gid={gid}' if gid else '')}"


@dataclass(frozen=True)
class WriteOptions:
    """How text files and sheets are written (acflow export and flows both turn on the BOM and
    formula neutralisation unless told not to; see config.CsvSpec)."""

    header: bool = True
    bom: bool = False  # a UTF-8 byte order mark, so Excel reads accents right
    delimiter: str = ","
    neutralize: bool = False  # CSV: prefix ' to text a spreadsheet would run (XLSX text never runs)
    zone: str | None = None  # a flow's `timezone:`, for sheets that label their date-time formats with it


@dataclass
class Rows:
    """What a writer publishes: a query over the mirror, read by DuckDB where the destination is
    DuckDB's own business (files, embedded databases) or as a stream of Arrow batches."""

    mirror: Mirror
    con: duckdb.DuckDBPyConnection  # a cursor of the mirror, open for the write
    query: str
    json_columns: frozenset[str] = frozenset()
    gone: Sequence[Any] = ()  # merge: ids of records gone from ActiveCampaign, to delete

    @cached_property
    def columns(self) -> list[tuple[str, str]]:
        """(name, DuckDB type) of each column, in order."""
        return [(r[0], r[1]) for r in self.con.execute(f"DESCRIBE {self.query}").fetchall()]

    def count(self) -> int:
        # fetchall: a fetchone leaves the result unfinished, and DuckDB 2 then refuses the cursor's next query
        return int(self.con.execute(f"SELECT count(*) FROM ({self.query})").fetchall()[0][0])

    def batches(self, rows: int = BATCH_ROWS, query: str | None = None) -> pa.RecordBatchReader:
        """The rows as Arrow record batches, read as they are consumed: memory flat in the rows
        (DuckDB 2's execute().to_arrow_reader() reads every row first; a relation's reader streams)."""
        relation = self.con.sql(query or self.query)
        if hasattr(relation, "to_arrow_reader"):
            return relation.to_arrow_reader(rows)
        return relation.fetch_arrow_reader(rows)  # DuckDB 1.x


class Writer(Protocol):
    MODES: tuple[str, ...]
    EXTRA: str | None

    def parse(self, text: str, default_table: str, *, sheet: str | None, base: Path | None) -> Destination: ...
    def describe(self, dest: Destination) -> str: ...
    def write(self, rows: Rows, dest: Destination, mode: str, options: WriteOptions) -> int: ...


def parse_server(text: str, kind: str, default_table: str, *, example: str) -> Destination:
    """`scheme://user:password@host:port/database?table=T&schema=S&...` -> Destination, the
    password unquoted and kept out of every message. `example` is a URI to show when this is none."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"destination {redact(text)!r} is not a URI ({exc}); write {example}") from None
    database = unquote(parts.path.lstrip("/")) or None
    query = parse_qsl(parts.query, keep_blank_values=True)
    params = tuple((k, v) for k, v in query if k not in ("table", "schema"))
    table = next((v for k, v in query if k == "table"), default_table)
    schema = next((v for k, v in query if k == "schema"), None)
    if not table:
        raise ConfigError(f"destination {redact(text)!r} names an empty table: write ?table=NAME or leave it out")
    server = Server(scheme=kind, host=parts.hostname, port=port,
                    user=unquote(parts.username) if parts.username else None,
                    database=database, schema=schema or None, params=params,
                    password=unquote(parts.password) if parts.password is not None else None)
    return Destination(kind, table=table, server=server)


def redact(text: str) -> str:
    """A URI with its password replaced by ***, for an error about the URI itself."""
    return re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", text)


def need(module: str, extra: str, scheme: str) -> None:
    """Refuse a destination whose client library is not installed, with one ConfigError naming the
    extra: called by parse(), so `acflow validate` and export say it before any request. It only
    looks for the module (no import: psycopg or the Google SDK cost their time when writing)."""
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ConfigError(f"{scheme} destinations need the {extra!r} extra: pip install 'acflow[{extra}]'")


def why(exc: BaseException) -> str:
    """The cause of a failed write in a few words: a full disk is said so, whatever the layer
    (DuckDB's IO Error text, SQLite's "database or disk is full", an OSError's errno)."""
    cause = disk_cause(exc)
    if cause is not None:
        return cause
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return re.sub(r"^[A-Za-z ]*Error: ", "", text)
