"""BigQuery: `bigquery://PROJECT/DATASET?table=NAME&location=EU`.

The rows go up as Parquet files that DuckDB writes beside the mirror, through load jobs into a
staging table (load jobs are free; the staging table expires by itself within a day if the run is
killed, and is deleted at the end otherwise). Then the table gets them in one step that readers
see whole:
- replace: a transaction that empties the table and inserts the rows (the table keeps its
  partitioning, clustering, descriptions and access policies), or, when its columns are not ours
  any more, CREATE OR REPLACE TABLE ... AS SELECT;
- append: one INSERT; merge: one MERGE by id that also deletes the records gone from ActiveCampaign.
A new column is added to the table first (and taken away again if the step fails); a column whose
type changed is refused in one line. JSON columns are parsed with SAFE.PARSE_JSON; text that is not
JSON is kept as a JSON string.

Credentials: `credentials=/path/key.json` in the URI, else Application Default Credentials
(GOOGLE_APPLICATION_CREDENTIALS, gcloud auth application-default login, the metadata server).
ACFLOW_BIGQUERY_ENDPOINT=http://host:port points the client at another endpoint (the tests'
emulator; on loopback it is used without credentials).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ..account import is_loopback
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
EXTRA = "bigquery"
EXAMPLE = "bigquery://PROJECT/DATASET?table=NAME"
ENDPOINT = "ACFLOW_BIGQUERY_ENDPOINT"
_PARAMS = ("table", "location", "credentials")
_TYPES = {"int": "INT64", "float": "FLOAT64", "bool": "BOOL", "text": "STRING", "json": "JSON",
          "tstz": "TIMESTAMP", "ts": "DATETIME", "date": "DATE", "time": "TIME", "bytes": "BYTES"}
# the REST API's names (tables.get answers the legacy ones) -> ours
_SAME = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}
TIMEOUT = 120.0  # seconds of retrying one API call (the client's default is 600)


def parse(text: str, default_table: str, *, sheet: str | None = None, base: Path | None = None) -> Destination:
    need("google.cloud.bigquery", EXTRA, "bigquery://")
    parts = urlsplit(text)
    project = unquote(parts.netloc)  # as written: a domain-scoped project has a colon (example.com:proj)
    path = [unquote(p) for p in parts.path.split("/") if p]
    if not project or "@" in project or len(path) != 1:
        raise ConfigError(f"destination {redact(text)!r} needs a project and a dataset: write {EXAMPLE}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    unknown = sorted({k for k, _ in query} - set(_PARAMS))
    if unknown:
        raise ConfigError(f"destination {text!r}: unknown parameter {unknown[0]!r}; bigquery:// takes "
                          f"{', '.join(_PARAMS)}")
    params = dict(query)
    table = params.get("table", default_table)
    if not table:
        raise ConfigError(f"destination {text!r} names an empty table: write ?table=NAME or leave it out")
    key = params.get("credentials")
    if key is not None:
        key_path = Path(key).expanduser()
        if base is not None and not key_path.is_absolute():
            key_path = base / key_path
        if not key_path.is_file():
            raise ConfigError(f"destination {text!r}: no credentials file {str(key_path)!r}; give the path of a "
                              "service-account JSON key")
        params["credentials"] = str(key_path)
    server = Server(scheme="bigquery", database=project, schema=path[0],
                    params=tuple((k, v) for k, v in params.items() if k != "table"))
    return Destination("bigquery", table=table, server=server)


def describe(dest: Destination) -> str:
    s = dest.server
    assert s is not None
    return f"bigquery://{s.database}/{s.schema}?table={dest.table}"


def _type(c: Column) -> str:
    if c.kind == "decimal":
        return "NUMERIC" if c.scale <= 9 else "BIGNUMERIC"
    return _TYPES[c.kind]


def _staged(cols: list[Column]) -> list[Column]:
    """Decimals as BigQuery's NUMERIC (DECIMAL(38,9)) or BIGNUMERIC hold them, in the Parquet files.
    A value with more than 29 digits before the point fails DuckDB's cast: nothing is loaded."""
    return [Column(c.name, "decimal", 38, 9 if c.scale <= 9 else c.scale) if c.kind == "decimal" else c
            for c in cols]


def _ref(c: str) -> str:
    return "`" + c.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _convert(c: Column, ref: str) -> str:
    """A staging column as it goes into the table: JSON parsed (numbers too wide for a double
    rounded, as BigQuery's option says), text that is not JSON kept as a JSON string."""
    if c.kind == "json":
        return (f"IF({ref} IS NULL, NULL, COALESCE(SAFE.PARSE_JSON({ref}, wide_number_mode => 'round'), "
                f"TO_JSON({ref})))")
    return ref


def _client(dest: Destination) -> Any:
    from google.api_core.client_options import ClientOptions
    from google.cloud import bigquery

    s = dest.server
    assert s is not None
    endpoint = os.environ.get(ENDPOINT)
    credentials: Any = None
    if s.param("credentials"):
        from google.oauth2 import service_account

        try:
            credentials = service_account.Credentials.from_service_account_file(
                s.param("credentials"), scopes=["https://www.googleapis.com/auth/cloud-platform"])
        except (ValueError, KeyError, OSError) as exc:
            raise ConfigError(f"{describe(dest)}: the credentials file {s.param('credentials')!r} is not a "
                              f"service-account key ({first_line(exc)})") from None
    elif endpoint and is_loopback(urlsplit(endpoint).hostname):
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()
    return bigquery.Client(project=s.database, credentials=credentials, location=s.param("location"),
                           client_options=ClientOptions(api_endpoint=endpoint) if endpoint else None)


def _cause(exc: BaseException, dest: Destination) -> str:
    """What failed, in one line, with what to do."""
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth

    s = dest.server
    assert s is not None
    text = " ".join((getattr(exc, "message", None) or first_line(exc)).split())
    if isinstance(exc, auth.DefaultCredentialsError):
        return ("no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service-account JSON key, add "
                "&credentials=/path/key.json to the URI, or run gcloud auth application-default login")
    if isinstance(exc, auth.RefreshError | api.Unauthorized):
        return f"Google refused the credentials ({text}): check the service-account key or run gcloud auth again"
    if isinstance(exc, api.Forbidden):
        return (f"permission denied ({text}): the account needs BigQuery Data Editor on dataset {s.schema} and "
                f"BigQuery Job User on project {s.database}")
    if isinstance(exc, api.NotFound):
        return f"{text}: check the project and dataset in the URI (and &location=), or create the dataset"
    if isinstance(exc, api.RetryError | api.ServiceUnavailable | auth.TransportError | ConnectionError | OSError):
        return f"cannot reach BigQuery: {text}"
    return text


def _errors() -> tuple[type[BaseException], ...]:
    import requests
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth

    return (api.GoogleAPIError, auth.GoogleAuthError, requests.RequestException, ConnectionError)


def write(rows: Rows, dest: Destination, mode: str, options: WriteOptions) -> int:
    where = describe(dest)
    cols = plan(rows)
    refuse_case_twins(cols, where)
    if mode == "merge" and "id" not in [c.name for c in cols]:
        raise DestinationError(f"cannot merge into {where}: the rows have no id column; use mode: replace or "
                               "append; the table is unchanged")
    cols = _staged(cols)
    with parquet_files(rows, cols, merge=mode == "merge") as files:  # a DuckDB failure leaves BigQuery untouched
        total = parquet_rows(files)
        try:
            _Write(_client(dest), dest, cols, mode).run(files, total)
        except _errors() as exc:
            raise DestinationError(f"cannot write {where}: {_cause(exc, dest)}; the table is unchanged") from None
    return total - (len(rows.gone) if mode == "merge" else 0)


class _Write:
    """One write: check the table, load the staging table, put the rows in place."""

    def __init__(self, client: Any, dest: Destination, cols: list[Column], mode: str) -> None:
        from google.cloud import bigquery

        s = dest.server
        assert s is not None and dest.table is not None
        self.bq, self.client, self.cols, self.mode = bigquery, client, cols, mode
        self.where = describe(dest)
        self.dataset = f"{s.database}.{s.schema}"
        self.table_id = f"{self.dataset}.{dest.table}"
        self.table = _ref(self.table_id)
        self.retry = bigquery.DEFAULT_RETRY.with_timeout(TIMEOUT)

    def run(self, files: Sequence[Path], total: int) -> None:
        from google.api_core.exceptions import NotFound

        self.client.get_dataset(self.dataset, retry=self.retry)  # NotFound names the dataset
        try:
            existing = self.client.get_table(self.table_id, retry=self.retry)
        except NotFound:
            existing = None
        want = {c.name: _type(c) for c in self.cols}
        have = {f.name: _SAME.get(f.field_type, f.field_type) for f in existing.schema} if existing else {}
        renew = False
        if existing is not None and self.mode == "replace":
            same = {k.lower(): v for k, v in have.items()} == {k.lower(): v for k, v in want.items()}
            renew = not same  # other columns or types: the table is made anew
        missing = check_types(self.where, have, want, fold=True) if existing is not None and not renew else []
        staging = self._stage(files, total)
        try:
            self._place(staging, existing, missing, renew)
        finally:
            self.client.delete_table(staging, not_found_ok=True, retry=self.retry)

    def _stage(self, files: Sequence[Path], total: int) -> str:
        """The staging table, loaded from the files: positional columns, JSON still text."""
        S = self.bq.SchemaField
        schema = [S(field(i), "STRING" if c.kind == "json" else _type(c)) for i, c in enumerate(self.cols)]
        if self.mode == "merge":
            schema.append(S(GONE, "BOOL"))
        staging = f"{self.dataset}._acflow_load_{uuid.uuid4().hex[:12]}"
        table = self.bq.Table(staging, schema=schema)
        table.expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)  # a killed run's staging goes by itself
        self.client.create_table(table, retry=self.retry)
        loaded = 0
        config = self.bq.LoadJobConfig(source_format="PARQUET", write_disposition="WRITE_APPEND")
        for path in files:
            with path.open("rb") as fh:
                job = self.client.load_table_from_file(fh, staging, job_config=config, num_retries=3)
                job.result(retry=self.retry)
                loaded += int(job.output_rows or 0)
        if loaded != total:
            raise DestinationError(f"cannot write {self.where}: BigQuery loaded {loaded} of {total} rows into the "
                                   "staging table; the table is unchanged")
        return staging

    def _query(self, sql: str) -> None:
        self.client.query(sql, retry=self.retry).result(retry=self.retry)

    def _place(self, staging: str, existing: Any, missing: list[str], renew: bool) -> None:
        names = [c.name for c in self.cols]
        select = ", ".join(f"{_convert(c, _ref(field(i)))} AS {_ref(c.name)}" for i, c in enumerate(self.cols))
        keep = f" WHERE NOT {GONE}" if self.mode == "merge" else ""
        source = f"SELECT {select} FROM {_ref(staging)}{keep}"
        insert = f"INSERT INTO {self.table} ({', '.join(_ref(n) for n in names)}) {source}"
        if renew:
            self._query(f"CREATE OR REPLACE TABLE {self.table} AS {source}")
            return
        if existing is None:  # made through the API with our exact types (AS SELECT takes the query's), then filled
            S = self.bq.SchemaField
            self.client.create_table(self.bq.Table(self.table_id, schema=[S(c.name, _type(c)) for c in self.cols]),
                                     retry=self.retry)
            try:
                self._query(insert)
            except BaseException:
                self.client.delete_table(self.table_id, not_found_ok=True)
                raise
            return
        try:
            self._add(missing)
            if self.mode == "replace":
                self._query(f"BEGIN TRANSACTION; DELETE FROM {self.table} WHERE TRUE; {insert}; COMMIT TRANSACTION;")
            elif self.mode == "append":
                self._query(insert)
            else:
                self._query(self._merge(staging))
        except BaseException:
            for name in missing:  # back to the columns it had
                try:
                    self._query(f"ALTER TABLE {self.table} DROP COLUMN IF EXISTS {_ref(name)}")
                except Exception:  # the first failure is the one to report
                    break
            raise

    def _add(self, missing: list[str]) -> None:
        """New columns, by ALTER TABLE; should the table's schema still lack them (bqemulator applies
        DDL to its storage only), through tables.patch as well: either is enough on BigQuery."""
        if not missing:
            return
        add = {c.name: _type(c) for c in self.cols}
        for name in missing:
            self._query(f"ALTER TABLE {self.table} ADD COLUMN IF NOT EXISTS {_ref(name)} {add[name]}")
        fresh = self.client.get_table(self.table_id, retry=self.retry)
        known = {f.name.lower() for f in fresh.schema}
        lacking = [n for n in missing if n.lower() not in known]
        if lacking:
            fresh.schema = [*fresh.schema, *(self.bq.SchemaField(n, add[n]) for n in lacking)]
            self.client.update_table(fresh, ["schema"], retry=self.retry)

    def _merge(self, staging: str) -> str:
        """One MERGE: rows flagged as gone delete their id, the others update or insert it."""
        values = {c.name: _convert(c, f"s.{_ref(field(i))}") for i, c in enumerate(self.cols)}
        at = next(i for i, c in enumerate(self.cols) if c.name == "id")
        others = [n for n in values if n != "id"]
        update = (f" WHEN MATCHED THEN UPDATE SET {', '.join(f'{_ref(n)} = {values[n]}' for n in others)}"
                  if others else "")
        return (f"MERGE {self.table} AS t USING {_ref(staging)} AS s ON t.{_ref('id')} = s.{_ref(field(at))}"
                f" WHEN MATCHED AND s.{GONE} THEN DELETE{update}"
                f" WHEN NOT MATCHED AND NOT s.{GONE} THEN INSERT ({', '.join(_ref(n) for n in values)})"
                f" VALUES ({', '.join(values.values())})")


def check(dest: Destination) -> None:
    """`acflow validate --connect`: the credentials work, the dataset is there, a query job runs and
    a table can be made in the dataset (an empty one, deleted at once)."""
    where = describe(dest)
    s = dest.server
    assert s is not None
    try:
        from google.cloud import bigquery

        client = _client(dest)
        retry = bigquery.DEFAULT_RETRY.with_timeout(TIMEOUT)
        client.get_dataset(f"{s.database}.{s.schema}", retry=retry)
        client.query("SELECT 1", retry=retry).result(retry=retry)
        probe = f"{s.database}.{s.schema}._acflow_check_{uuid.uuid4().hex[:12]}"
        table = bigquery.Table(probe, schema=[bigquery.SchemaField("id", "INT64")])
        table.expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        client.create_table(table, retry=retry)
        client.delete_table(probe, not_found_ok=True, retry=retry)
    except _errors() as exc:
        raise DestinationError(f"cannot write {where}: {_cause(exc, dest)}") from None
