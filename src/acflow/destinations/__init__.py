"""Where rows go: destination URIs (a contract) and their writers, one module each (registry.py).

Every write is all or nothing. Files are written beside the target and moved over it with
os.replace, so a reader sees the old complete file or the new complete file; a database table is
swapped or merged inside one transaction. When a write fails, what the destination held before is
untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, DestinationError
from .base import EXTRACTED_AT, MODES, Destination, Rows, Server, WriteOptions, redact
from .base import why as _why
from .registry import PREFIXES, SCHEMES, SUFFIXES, SUPPORTED, module

# DuckDB, filelock and the mirror load when something is written: a bad --to is refused, and the
# account's key checked, before they cost their 230 ms (and the service never loads them: service/host.py)
if TYPE_CHECKING:
    from ..config import Config
    from ..mirror import Mirror

__all__ = ["EXTRACTED_AT", "MODES", "SUPPORTED", "Destination", "Rows", "Server", "WriteOptions",
           "check_destination", "check_mode", "check_sheet", "lock_path", "parse", "temp_dir_for", "write"]

_LAZY = {"XLSX_MAX_ROWS": "..workbook", "Sheet": "..workbook", "write_workbook": "..workbook",
         "lock_path": ".local", "locked": ".local", "temp_dir_for": ".local", "LOCK_TIMEOUT": ".local",
         "check_sheet": ".xlsx"}


def __getattr__(name: str) -> Any:
    """Names of the writers' modules, imported when first used (run.py and flows reach them here)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def parse(uri: str, default_table: str, *, sheet: str | None = None, base: Path | None = None) -> Destination:
    """A destination URI -> Destination, or one ConfigError that says what to write instead.

    Relative paths are under `base` when given (acflow.yaml's folder)."""
    text = uri.strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    prefix = next((p for p in PREFIXES if text.lower().startswith(p)), None)
    if prefix is not None:
        return module(PREFIXES[prefix][0]).parse(text, default_table, sheet=sheet, base=base)  # type: ignore[no-any-return]
    if scheme in SCHEMES:
        return module(SCHEMES[scheme][0]).parse(text, default_table, sheet=sheet, base=base)  # type: ignore[no-any-return]
    if scheme:
        raise ConfigError(f"unknown destination scheme {scheme}://; use {SUPPORTED}")
    suffix = Path(text).suffix.lower()
    if suffix in SUFFIXES:
        return module(SUFFIXES[suffix][0]).parse(text, default_table, sheet=sheet, base=base)  # type: ignore[no-any-return]
    raise ConfigError(f"cannot tell the format of {redact(uri)!r}: end the file name with .csv, .jsonl, "
                      ".parquet or .xlsx, or write duckdb:///path.duckdb or sqlite:///path.db")


def check_mode(dest: Destination, mode: str) -> None:
    if mode not in dest.modes():
        raise ConfigError(f"{dest.kind} destinations take --mode {' or '.join(dest.modes())}, not {mode!r}")


def write(mirror: Mirror, query: str, dest: Destination, mode: str,
          json_columns: frozenset[str] = frozenset(), options: WriteOptions | None = None,
          delete_ids: str | None = None) -> int:
    """Publish `query` (SQL over the mirror) to `dest`; returns the rows written.

    `delete_ids` (merge only): SQL over the mirror giving ids to delete from the destination,
    records gone from the API; applied in the same transaction as the upsert.
    """
    import duckdb

    check_mode(dest, mode)
    with (mirror.publishing() if dest.ordered else mirror.lean()) as con:  # servers: streamed, so capped
        try:
            gone = [r[0] for r in con.execute(delete_ids).fetchall()] if delete_ids and mode == "merge" else []
            rows = Rows(mirror, con, query, json_columns, gone)
            return int(dest.writer.write(rows, dest, mode, options or WriteOptions()))
        except duckdb.Error as exc:
            raise DestinationError(f"cannot write {dest.describe()}: {_why(exc)}; the destination is unchanged"
                                   ) from None


def check_destination(config: Config, flow: str) -> Destination:
    """The flow's `to:` (with `sheet:` and `mode:`) as a Destination, or its ConfigError at its line."""
    spec = config.flows[flow]
    at = ("flows", flow)
    try:
        dest = parse(spec.to, flow, sheet=spec.sheet, base=config.dir)
    except ConfigError as exc:
        raise config.error((*at, "to"), str(exc)) from None
    if spec.sheet is not None and dest.kind != "xlsx":
        raise config.error((*at, "sheet"), "sheet: is for .xlsx destinations; leave it out")
    try:
        check_mode(dest, spec.mode)
    except ConfigError as exc:
        raise config.error((*at, "mode"), str(exc).replace("--mode", "mode:")) from None
    if dest.kind == "xlsx":
        from .xlsx import check_sheet

        try:
            check_sheet(dest.table or flow)
        except ConfigError as exc:
            raise config.error((*at, "sheet"), str(exc)) from None
    return dest
