"""Snowflake: `snowflake://USER@ACCOUNT/DATABASE/SCHEMA?table=NAME&warehouse=WH&role=ROLE`.

The rows go up as Parquet files that DuckDB writes beside the mirror (PUT to a temporary stage),
are copied into a temporary table (COPY INTO, as snowflake-connector-python's own write_pandas
does), and one statement puts them in place: CREATE OR REPLACE TABLE ... COPY GRANTS AS SELECT
(replace), INSERT (append), or a MERGE by id that also deletes the records gone from
ActiveCampaign (merge). One statement is atomic in Snowflake: readers see the old table or the new
one, and a failure leaves the table as it was. The temporary stage and table belong to the
session, so a killed run leaves nothing behind.

Credentials: the password in the URI or SNOWFLAKE_PASSWORD, or a key pair with
SNOWFLAKE_PRIVATE_KEY_PATH (and SNOWFLAKE_PRIVATE_KEY_PASSPHRASE); the user in the URI or
SNOWFLAKE_USER. ACFLOW_SNOWFLAKE_ENDPOINT=https://host:port points the connector at another
address (a private link, or the tests' stand-in).

Names: database, schema and table follow Snowflake's rule for unquoted identifiers (`deals` is
DEALS) unless they need quotes; columns keep ActiveCampaign's names exactly ("firstName"), so
write them in double quotes in Snowflake SQL.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import ConfigError, DestinationError
from .base import Destination, Rows, Server, WriteOptions, need, redact
from .warehouse import (
    GONE,
    Column,
    check_types,
    field,
    first_line,
    parquet_files,
    parquet_rows,
    plan,
    refuse_case_twins,
)

MODES = ("replace", "append", "merge")
ORDERED = False  # a table: rows have no order, so publish does not sort them
EXTRA = "snowflake"
EXAMPLE = "snowflake://USER@ACCOUNT/DATABASE/SCHEMA?table=NAME&warehouse=WH"
ENDPOINT = "ACFLOW_SNOWFLAKE_ENDPOINT"
_PARAMS = ("table", "warehouse", "role", "authenticator")
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_TYPES = {"int": "NUMBER(38,0)", "float": "FLOAT", "bool": "BOOLEAN", "text": "VARCHAR", "json": "VARIANT",
          "tstz": "TIMESTAMP_TZ", "ts": "TIMESTAMP_NTZ", "date": "DATE", "time": "TIME", "bytes": "BINARY"}
# information_schema.columns' data_type -> the name used above
_SAME = {"TEXT": "VARCHAR", "REAL": "FLOAT", "DOUBLE": "FLOAT"}


def parse(text: str, default_table: str, *, sheet: str | None = None, base: Path | None = None) -> Destination:
    need("snowflake.connector", EXTRA, "snowflake://")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (a bad port is a bad URI)
    except ValueError as exc:
        raise ConfigError(f"destination {redact(text)!r} is not a URI ({exc}); write {EXAMPLE}") from None
    account = (parts.hostname or "").removesuffix(".snowflakecomputing.com")
    path = [unquote(p) for p in parts.path.split("/") if p]
    if not account or not path or len(path) > 2:
        raise ConfigError(f"destination {redact(text)!r} needs an account and a database: write {EXAMPLE}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    unknown = sorted({k for k, _ in query} - set(_PARAMS))
    if unknown:
        raise ConfigError(f"destination {redact(text)!r}: unknown parameter {unknown[0]!r}; snowflake:// takes "
                          f"{', '.join(_PARAMS)}")
    table = dict(query).get("table", default_table)
    user = unquote(parts.username) if parts.username else os.environ.get("SNOWFLAKE_USER")
    if not table or not user:
        what = "an empty table: write ?table=NAME or leave it out" if not table else \
            f"no user: write {EXAMPLE} or set SNOWFLAKE_USER"
        raise ConfigError(f"destination {redact(text)!r} names {what}")
    server = Server(scheme="snowflake", host=account.lower(), user=user, database=path[0],
                    schema=path[1] if len(path) == 2 else "PUBLIC",
                    params=tuple((k, v) for k, v in query if k != "table"),
                    password=unquote(parts.password) if parts.password is not None else None)
    return Destination("snowflake", table=table, server=server)


def describe(dest: Destination) -> str:
    s = dest.server
    assert s is not None
    return f"snowflake://{s.user}@{s.host}/{s.database}/{s.schema}?table={dest.table}"


def ident(name: str) -> str:
    """A database, schema or table name as Snowflake reads it: plain names as unquoted identifiers
    would be (upper case), others exactly as written."""
    if _PLAIN.match(name):
        name = name.upper()
    return '"' + name.replace('"', '""') + '"'


def stored(name: str) -> str:
    """The name as information_schema holds it."""
    return name.upper() if _PLAIN.match(name) else name


def col(name: str) -> str:
    """A column: always its exact name."""
    return '"' + name.replace('"', '""') + '"'


def _type(c: Column) -> str:
    return f"NUMBER({c.precision},{c.scale})" if c.kind == "decimal" else _TYPES[c.kind]


def _raw_type(c: Column) -> str:
    """In the temporary load table JSON is still text: it is parsed on the way into the table."""
    return "VARCHAR" if c.kind == "json" else _type(c)


def _convert(c: Column, ref: str) -> str:
    """A column of the load table as it goes into the table: JSON parsed, text that is not JSON
    kept as a JSON string (never lost), every other type cast to exactly ours."""
    if c.kind == "json":
        return f"CASE WHEN {ref} IS NULL THEN NULL ELSE COALESCE(TRY_PARSE_JSON({ref}), TO_VARIANT({ref})) END"
    return f"CAST({ref} AS {_type(c)})"


def _same(found: str, wanted: str) -> bool:
    """NUMBER(p,s) matches any precision with the same scale; the rest by name."""
    f, w = re.match(r"NUMBER\((\d+),(\d+)\)", found), re.match(r"NUMBER\((\d+),(\d+)\)", wanted)
    if f and w:
        return f.group(2) == w.group(2)
    return found == wanted


def _connect(dest: Destination) -> Any:
    import snowflake.connector

    s = dest.server
    assert s is not None
    kwargs: dict[str, Any] = {
        "account": s.host, "user": s.user, "database": stored(s.database or ""), "schema": stored(s.schema or ""),
        "login_timeout": 60, "session_parameters": {"TIMEZONE": "UTC", "QUERY_TAG": "acflow"},
    }
    for name in ("warehouse", "role", "authenticator"):
        if s.param(name):
            kwargs[name] = s.param(name)
    key = os.environ.get("SNOWFLAKE_PRIVATE_KEY_PATH")
    password = s.password if s.password is not None else os.environ.get("SNOWFLAKE_PASSWORD")
    if key and password is None:
        kwargs["private_key_file"] = key
        if os.environ.get("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"):
            kwargs["private_key_file_pwd"] = os.environ["SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"]
    elif password is not None:
        kwargs["password"] = password
    endpoint = os.environ.get(ENDPOINT)
    if endpoint:
        parts = urlsplit(endpoint)
        kwargs.update(host=parts.hostname, port=parts.port or (443 if parts.scheme == "https" else 80),
                      protocol=parts.scheme or "https")
    return snowflake.connector.connect(**kwargs)


def _cause(exc: BaseException, dest: Destination) -> str:
    """What failed, in one line, with what to do: Snowflake's messages run over several lines."""
    s = dest.server
    assert s is not None
    errno = getattr(exc, "errno", None)
    text = " ".join((getattr(exc, "msg", None) or first_line(exc)).split())
    if s.password:
        text = text.replace(s.password, "***")
    if errno in (390100, 390101, 390102):
        return ("Snowflake refused the user or password: check the password in the URI, SNOWFLAKE_PASSWORD or "
                "SNOWFLAKE_PRIVATE_KEY_PATH")
    if errno in (390144, 394300, 394304, 250001) and "JWT" in text:
        return "Snowflake refused the key pair: check SNOWFLAKE_PRIVATE_KEY_PATH and that the user has its public key"
    if errno == 606:
        return "no warehouse is in use: add &warehouse=NAME to the URI or give the user a default warehouse"
    if errno in (2003, 2043):
        return f"{text} Check the database, schema and role in the URI"
    if errno == 3001:
        return f"{text} Grant the role USAGE on the database and schema and CREATE TABLE on the schema"
    if errno in (250001, 250003):
        return f"cannot reach Snowflake account {s.host!r}: {text}"
    return text


def write(rows: Rows, dest: Destination, mode: str, options: WriteOptions) -> int:
    import snowflake.connector

    where = describe(dest)
    cols = plan(rows)
    refuse_case_twins(cols, where)
    if mode == "merge" and "id" not in [c.name for c in cols]:
        raise DestinationError(f"cannot merge into {where}: the rows have no id column; use mode: replace or "
                               "append; the table is unchanged")
    with parquet_files(rows, cols, merge=mode == "merge") as files:  # a DuckDB failure leaves Snowflake untouched
        total = parquet_rows(files)
        count = total - (len(rows.gone) if mode == "merge" else 0)
        try:
            conn = _connect(dest)
        except snowflake.connector.errors.Error as exc:
            raise DestinationError(f"cannot write {where}: {_cause(exc, dest)}; the table is unchanged") from None
        try:
            _write(conn.cursor(), dest, cols, files, mode, total)
        except snowflake.connector.errors.Error as exc:
            raise DestinationError(f"cannot write {where}: {_cause(exc, dest)}; the table is unchanged") from None
        finally:
            conn.close()
    return count


def _write(cur: Any, dest: Destination, cols: list[Column], files: Sequence[Path], mode: str, expected: int) -> None:
    s = dest.server
    assert s is not None and dest.table is not None
    where = describe(dest)
    cur.execute(f"USE SCHEMA {ident(s.database or '')}.{ident(s.schema or '')}")
    table = f"{ident(s.database or '')}.{ident(s.schema or '')}.{ident(dest.table)}"
    have = _columns(cur, stored(s.schema or ""), stored(dest.table))
    want = {c.name: _type(c) for c in cols}
    missing = check_types(where, have, want, same=_same) if have and mode != "replace" else []
    ready = _load(cur, cols, files, mode, expected, where)
    names = ", ".join(col(c.name) for c in cols)
    if mode == "replace" or not have:
        keep = f" WHERE NOT {GONE}" if mode == "merge" else ""
        cur.execute(f"CREATE OR REPLACE TABLE {table} COPY GRANTS AS SELECT {names} FROM {ready}"
                    if mode == "replace" else f"CREATE TABLE {table} AS SELECT {names} FROM {ready}{keep}")
        return
    added = []
    try:
        for name in missing:
            cur.execute(f"ALTER TABLE {table} ADD COLUMN {col(name)} {want[name]}")
            added.append(name)
        if mode == "append":
            cur.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {ready}")
        else:
            cur.execute(_merge(table, ready, cols))
    except BaseException:
        for name in added:  # back to the columns it had (Snowflake commits each ALTER at once)
            try:
                cur.execute(f"ALTER TABLE {table} DROP COLUMN {col(name)}")
            except Exception:  # the first failure is the one to report
                break
        raise


def _columns(cur: Any, schema: str, table: str) -> dict[str, str]:
    """The table's columns and their types, empty when there is no such table."""
    cur.execute("SELECT column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position", (schema, table))
    have = {}
    for name, dtype, precision, scale in cur.fetchall():
        dtype = _SAME.get(dtype.upper(), dtype.upper())
        have[name] = f"NUMBER({precision},{scale})" if dtype == "NUMBER" else dtype
    return have


def _load(cur: Any, cols: list[Column], files: Sequence[Path], mode: str, expected: int, where: str) -> str:
    """PUT the Parquet files to a temporary stage, COPY them into a temporary table, and make from it
    a second one with our exact types (JSON parsed); returns that one's name. COPY's
    transformation form (`$1:"name"`) with Parquet's logical types is what the connector's
    write_pandas uses; PURGE empties the stage as it goes."""
    token = uuid.uuid4().hex[:12].upper()
    stage, load, ready = f"ACFLOW_STAGE_{token}", f"ACFLOW_LOAD_{token}", f"ACFLOW_READY_{token}"
    names = [field(i) for i in range(len(cols))] + ([GONE] if mode == "merge" else [])
    types = [_raw_type(c) for c in cols] + (["BOOLEAN"] if mode == "merge" else [])
    cur.execute(f"CREATE TEMPORARY STAGE {stage} FILE_FORMAT = (TYPE = PARQUET)")
    cur.execute(f"CREATE TEMPORARY TABLE {load} ({', '.join(f'{n} {t}' for n, t in zip(names, types, strict=True))})")
    for path in files:
        quoted = str(path).replace("\\", "\\\\").replace("'", "\\'")
        cur.execute(f"PUT 'file://{quoted}' @{stage} AUTO_COMPRESS = FALSE")
    fields = ", ".join(f"$1:{n}" for n in names)
    cur.execute(f"COPY INTO {load} ({', '.join(names)}) FROM (SELECT {fields} FROM @{stage}) "
                "FILE_FORMAT = (TYPE = PARQUET USE_LOGICAL_TYPE = TRUE) PURGE = TRUE")
    copied = sum(int(r[3] or 0) for r in cur.fetchall() if len(r) > 3)
    if copied != expected:
        raise DestinationError(f"cannot write {where}: Snowflake loaded {copied} of {expected} rows from the stage; "
                               "the table is unchanged")
    select = ", ".join(f"{_convert(c, field(i))} AS {col(c.name)}" for i, c in enumerate(cols))
    cur.execute(f"CREATE TEMPORARY TABLE {ready} AS SELECT {select}{', ' + GONE if mode == 'merge' else ''} "
                f"FROM {load}")
    return ready


def _merge(table: str, ready: str, cols: list[Column]) -> str:
    """One MERGE: rows flagged as gone delete their id, the others update or insert it."""
    others = [c.name for c in cols if c.name != "id"]
    names = [c.name for c in cols]
    update = (f" WHEN MATCHED THEN UPDATE SET {', '.join(f'{col(n)} = s.{col(n)}' for n in others)}"
              if others else "")
    return (f"MERGE INTO {table} AS t USING {ready} AS s ON t.{col('id')} = s.{col('id')}"
            f" WHEN MATCHED AND s.{GONE} THEN DELETE{update}"
            f" WHEN NOT MATCHED AND NOT s.{GONE} THEN INSERT ({', '.join(col(n) for n in names)})"
            f" VALUES ({', '.join(f's.{col(n)}' for n in names)})")


def check(dest: Destination) -> None:
    """`acflow validate --connect`: the account answers, the credentials work, the database and
    schema exist, a warehouse is in use and the role may create tables there."""
    import snowflake.connector

    where = describe(dest)
    s = dest.server
    assert s is not None
    try:
        conn = _connect(dest)
        try:
            cur = conn.cursor()
            cur.execute(f"USE SCHEMA {ident(s.database or '')}.{ident(s.schema or '')}")
            cur.execute("SELECT CURRENT_WAREHOUSE()")
            if not (cur.fetchone() or [None])[0]:
                raise DestinationError(f"cannot write {where}: no warehouse is in use: add &warehouse=NAME to the "
                                       "URI or give the user a default warehouse")
            probe = f"ACFLOW_CHECK_{uuid.uuid4().hex[:12].upper()}"
            cur.execute(f"CREATE TEMPORARY TABLE {probe} (id NUMBER(38,0))")
            cur.execute(f"DROP TABLE {probe}")
        finally:
            conn.close()
    except snowflake.connector.errors.Error as exc:
        raise DestinationError(f"cannot write {where}: {_cause(exc, dest)}") from None
