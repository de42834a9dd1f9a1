"""Results as an assistant reads them (a Markdown table, a note when cut short) and as JSON values."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from .reader import Result

CELL = 500  # characters of one cell in a table; the JSON keeps the value whole


def jsonable(value: Any) -> Any:
    """A DuckDB value as JSON: decimals as text (exact), times as ISO-8601, bytes as base64."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


def cell(value: Any) -> str:
    if value is None:
        return "NULL"
    v = jsonable(value)
    text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= CELL else text[:CELL] + "…"


def markdown(result: Result) -> str:
    """The rows as a Markdown table, then one line: how many rows, and why it was cut short if it was."""
    names = [c for c, _ in result.columns]
    lines = ["| " + " | ".join(cell(n) for n in names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in result.rows]
    lines.append("")
    lines.append(summary(result))
    return "\n".join(lines)


def summary(result: Result) -> str:
    n = len(result.rows)
    line = f"{n:,} row{'s' if n != 1 else ''} in {result.seconds:g} s."
    return f"{line} Truncated: {result.truncated}." if result.truncated else line


def structured(result: Result) -> dict[str, Any]:
    return {"columns": [{"name": c, "type": t} for c, t in result.columns],
            "rows": [[jsonable(v) for v in row] for row in result.rows],
            "row_count": len(result.rows), "truncated": result.truncated is not None,
            "note": result.truncated}


def to_csv(result: Result) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c for c, _ in result.columns])
    for row in result.rows:
        writer.writerow(["" if v is None else (v if isinstance(v, str) else json.dumps(jsonable(v))
                                                if isinstance(v, dict | list) else jsonable(v)) for v in row])
    return out.getvalue()


def to_json(result: Result, flow: str) -> str:
    names = [c for c, _ in result.columns]
    return json.dumps({"flow": flow, "columns": names,
                       "rows": [dict(zip(names, (jsonable(v) for v in row), strict=True)) for row in result.rows],
                       "row_count": len(result.rows), "truncated": result.truncated is not None,
                       "note": result.truncated}, ensure_ascii=False, indent=1)
