"""The copies of flows' results served at data URLs (Coupler's "CSV from a URL").

A flow with `serve: {csv: true, json: true}` keeps, after each successful run, its result as
`served/FLOW.csv` and `served/FLOW.jsonl` beside the mirror, written by the files destination
(a temporary file moved over the old one), so a reader holding the old file reads it to its end
and the next request gets the new one: never a half-written file. The JSON URL streams the JSONL
file as one JSON array, so there is one file per flow to keep right, not two.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from ..account import Account
    from ..config import Config
    from ..mirror import Mirror

FORMATS = ("csv", "json")
_FILES = {"csv": "csv", "json": "jsonl"}
CHUNK = 64 * 1024


def formats(cfg: Config, flow: str) -> list[str]:
    spec = getattr(cfg.flows[flow], "serve", None)
    if spec is None:
        return []
    return [f for f in FORMATS if getattr(spec, {"json": "json_"}.get(f, f), False)]


def path(state_dir: Path, flow: str, fmt: str) -> Path:
    return state_dir / "served" / f"{flow}.{_FILES[fmt]}"


def publish(cfg: Config, flow: str, fmts: list[str], accounts: Mapping[str, Account], db: Mirror,
            state_dir: Path) -> None:
    """Write the flow's result as it is in the mirror now to its served files."""
    from .. import destinations
    from ..run import _options, _Prepared

    prep = _Prepared(cfg, [flow], dict(accounts), db)
    compiled = prep.compile(flow)
    for fmt in fmts:
        target = path(state_dir, flow, fmt)
        target.parent.mkdir(parents=True, exist_ok=True)
        dest = destinations.parse(str(target), flow)
        destinations.write(db, compiled.sql, dest, "replace", compiled.json_columns, _options(cfg, flow))


def json_array(f: BinaryIO) -> Iterator[bytes]:
    """An open JSONL file as one JSON array, streamed: `[` line `,` line ... `]`. The caller opened
    it, so a newer file moved over it meanwhile does not change what is read."""
    with f:
        yield b"["
        first = True
        rest = b""
        while chunk := f.read(CHUNK):
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            out = []
            for line in lines:
                if line.strip():
                    out.append(line if first else b"," + line)
                    first = False
            if out:
                yield b"\n".join(out)
        if rest.strip():
            yield rest if first else b"," + rest
        yield b"]\n"


def chunks(f: BinaryIO) -> Iterator[bytes]:
    with f:
        while chunk := f.read(CHUNK):
            yield chunk
