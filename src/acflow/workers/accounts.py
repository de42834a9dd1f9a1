"""The accounts file: hundreds of accounts beside acflow.yaml, as CSV or YAML.

CSV (a header row; `tags` separated by spaces or semicolons; empty cells take the defaults):

    name,url,key_env,tags,rate_limit,timezone
    acme,https://acme.api-us1.com,ACME_AC_KEY,eu retail,,
    globex,https://globex.api-us1.com,GLOBEX_AC_KEY,us,5,America/New_York

YAML: a mapping of names to what `accounts:` in acflow.yaml takes (url or url_env, key_env, tags,
rate_limit, timezone), or a list of the same with a `name` each. Keys are never in the file: each
row names the environment variable holding its key, read on the machine that runs the account.
Every mistake is reported with the file's line.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ConfigErrors

COLUMNS = ("name", "url", "url_env", "key_env", "tags", "rate_limit", "timezone")


def read(path: str | Path) -> dict[str, dict[str, Any]]:
    """name -> the account's fields, checked as acflow.yaml's accounts are (config.AccountSpec)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"accounts file {path} not found: write one (name,url,key_env per line) or fix the "
                          "path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read accounts file {path}: {getattr(exc, 'strerror', None) or exc}; "
                          "save it as UTF-8") from None
    rows = _yaml_rows(path, text) if path.suffix.lower() in (".yaml", ".yml") else _csv_rows(path, text)
    return _checked(path, rows)


def _csv_rows(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    unknown = [h for h in header if h not in COLUMNS]
    if unknown or "name" not in header or "key_env" not in header:
        raise ConfigError(f"{path}:1: the header must name name, url (or url_env) and key_env, and may add "
                          f"tags, rate_limit, timezone" + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    reader.fieldnames = header
    rows = []
    for row in reader:
        values = {k: (v or "").strip() for k, v in row.items() if k is not None}
        if not any(values.values()):
            continue
        fields: dict[str, Any] = {k: v for k, v in values.items() if v and k != "name"}
        if "tags" in fields:
            fields["tags"] = fields["tags"].replace(";", " ").split()
        rows.append((reader.line_num, {"name": values.get("name", ""), **fields}))
    return rows


def _yaml_rows(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    import yaml

    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"{path}:{mark.line + 1 if mark else 1}: not valid YAML: "
                          f"{getattr(exc, 'problem', None) or exc}") from None
    if root is None:
        return []
    data = yaml.SafeLoader("").construct_document(root)
    if isinstance(root, yaml.MappingNode) and isinstance(data, dict):
        return [(key.start_mark.line + 1, {"name": str(key.value), **(v if isinstance(v, dict) else {"_": v})})
                for (key, _), v in zip(root.value, data.values(), strict=True)]
    if isinstance(root, yaml.SequenceNode) and isinstance(data, list):
        return [(node.start_mark.line + 1, item if isinstance(item, dict) else {"_": item})
                for node, item in zip(root.value, data, strict=True)]
    raise ConfigError(f"{path}:1: expected a mapping of account names to url and key_env, or a list of them")


def _checked(path: Path, rows: list[tuple[int, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    from pydantic import ValidationError

    from ..config import NAME, AccountSpec

    out: dict[str, dict[str, Any]] = {}
    lines: dict[str, int] = {}
    errors = []
    for line, row in rows:
        name = str(row.pop("name", "") or "")
        if "_" in row:
            errors.append(f"{path}:{line}: expected the account's fields (url, key_env...)")
            continue
        if not NAME.match(name):
            errors.append(f"{path}:{line}: account name {name[:60]!r} must be letters, digits, _ or -, "
                          "starting with a letter")
            continue
        if name in lines:
            errors.append(f"{path}:{line}: two accounts are named {name!r} (lines {lines[name]} and {line}): "
                          "rename or remove one")
            continue
        if "key" in row or "api_key" in row:
            errors.append(f"{path}:{line}: a key is never written in the accounts file: write key_env, the "
                          "environment variable that holds it")
            continue
        try:
            spec = AccountSpec.model_validate(row)
        except ValidationError as exc:
            for e in exc.errors():
                where = ".".join(str(p) for p in e["loc"])
                msg = e["msg"].removeprefix("Value error, ")
                errors.append(f"{path}:{line}: {name}{'.' + where if where else ''}: "
                              + ("this field is required" if e["type"] == "missing" else msg))
            continue
        lines[name] = line
        out[name] = spec.model_dump(exclude_unset=True)
    if errors:
        raise ConfigErrors(errors) if len(errors) > 1 else ConfigError(errors[0])
    return out
