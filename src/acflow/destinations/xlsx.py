"""Excel workbooks: one flow a sheet, the workbook written whole (workbook.py) and moved over the old."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from .base import Destination, Rows, WriteOptions
from .files import placed

MODES = ("replace",)
EXTRA = None


def parse(text: str, default_table: str, *, sheet: str | None = None, base: Path | None = None) -> Destination:
    return Destination("xlsx", placed(text, base), sheet or default_table)


def describe(dest: Destination) -> str:
    return f"{dest.path} (sheet {dest.table})"


def check_sheet(name: str) -> None:
    """Excel's rules for sheet names."""
    bad = sorted(set(name) & set("[]:*?/\\"))
    if not name or len(name) > 31 or bad or name.startswith("'") or name.endswith("'"):
        raise ConfigError(f"sheet name {name!r} is not allowed by Excel: at most 31 characters, "
                          "none of [ ] : * ? / \\, not starting or ending with '")


def write(rows: Rows, dest: Destination, mode: str, options: WriteOptions) -> int:
    from ..workbook import write_workbook

    assert dest.path is not None
    return write_workbook(rows.mirror, dest.path, [(dest.table or "Sheet1", rows.query, options.neutralize)],
                          options)[0]
