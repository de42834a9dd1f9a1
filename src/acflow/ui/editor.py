"""The flow form's round trip with acflow.yaml: the file stays the source of truth.

A save rewrites only the lines of the keys the form changed (each key re-emitted by ruamel.yaml,
at its own indentation, its line comment kept), so comments, order, blank lines and the wrapping
of every other line stay byte for byte, and `git diff` shows exactly what was changed in the
browser. Keys the form does not show (types, csv, group_by...) are never touched. The result is
parsed again and compared with what was meant; should the splice ever disagree, the whole file is
written by ruamel's round trip instead (comments and order still kept).
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

# The keys the form edits, in the order a new flow is written and new keys are placed.
ORDER = ("description", "source", "lookups", "join", "formulas", "filter", "group_by", "aggregate", "select",
         "hide", "rename", "types", "timezone", "sort", "to", "sheet", "mode", "only_if_changed", "schedule",
         "serve")
MANAGED = ("description", "source", "lookups", "join", "formulas", "filter", "select", "sort", "to",
           "sheet", "mode", "schedule", "serve")
_MANY = ("filter", "sort", "lookups", "hide", "group_by")


class EditError(Exception):
    """The file cannot be edited by the form (not a mapping with flows:...): edit it by hand."""


def file_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _yaml() -> YAML:
    y = YAML()
    y.preserve_quotes = True
    y.width = 110
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def _load(text: str) -> CommentedMap:
    try:
        doc = _yaml().load(text)
    except Exception as exc:  # ruamel's errors have no common base worth naming
        raise EditError(f"acflow.yaml is not valid YAML ({str(exc).splitlines()[0]}): fix it by hand first") from None
    if not isinstance(doc, CommentedMap) or not isinstance(doc.get("flows"), CommentedMap):
        raise EditError("acflow.yaml has no flows: mapping the form can add to: fix it by hand first")
    return doc


def plain(value: Any) -> Any:
    """ruamel's commented containers and scalars as plain dicts, lists, str, int..."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def normal(key: str, value: Any) -> Any:
    """A key's value in its long form, so `filter: x` equals `filter: [x]` and `source: deals`
    equals `source: {entity: deals}` (the form never rewrites what means the same)."""
    value = plain(value)
    if key in _MANY and isinstance(value, str):
        return [value]
    if key == "source" and isinstance(value, str):
        return {"entity": value}
    if key == "join" and isinstance(value, dict):
        return [value]
    return value


def read_flows(text: str) -> dict[str, dict[str, Any]]:
    return {str(k): plain(v) for k, v in _load(text)["flows"].items()}


def flow_lines(text: str, name: str) -> str:
    """The flow's own lines of the file (its key and body), for the flow page."""
    doc = _load(text)
    lines = text.splitlines(keepends=True)
    start, end = _flow_span(doc, lines, name)
    return "".join(lines[start:end])


def _is_filler(line: str) -> bool:
    s = line.strip()
    return not s or s.startswith("#")


def _trim(lines: list[str], start: int, end: int) -> int:
    """`end` moved up over blank and comment-only lines: those belong to what follows."""
    while end > start + 1 and _is_filler(lines[end - 1]):
        end -= 1
    return end


def _flows_end(doc: CommentedMap, lines: list[str]) -> int:
    keys = list(doc)
    i = keys.index("flows")
    return doc.lc.key(keys[i + 1])[0] if i + 1 < len(keys) else len(lines)


def _flow_span(doc: CommentedMap, lines: list[str], name: str) -> tuple[int, int]:
    flows = doc["flows"]
    names = list(flows)
    start = flows.lc.key(name)[0]
    i = names.index(name)
    end = flows.lc.key(names[i + 1])[0] if i + 1 < len(names) else _flows_end(doc, lines)
    return start, _trim(lines, start, end)


def _comment_at(line: str) -> int | None:
    """Where a line's comment starts (a # after whitespace, outside quotes), or None."""
    quote = None
    prev = " "
    i = 0
    while i < len(line):
        c = line[i]
        if quote == '"':
            if c == "\\":
                i += 1
            elif c == '"':
                quote = None
        elif quote == "'":
            if c == "'":
                quote = None
        elif c in "\"'" and prev in " \t[{,:":
            quote = c
        elif c == "#" and prev in " \t":
            return i
        prev = c
        i += 1
    return None


def _styled(key: str, value: Any, old: Any = None) -> Any:
    """The value as ruamel containers: short lists and small maps inline, as people write them;
    the style the file already used for this key is kept."""
    old_flow = getattr(getattr(old, "fa", None), "flow_style", None)
    if isinstance(value, dict):
        out = CommentedMap((k, _styled(k, v)) for k, v in value.items())
        inline = key in ("source", "on", "serve") or (len(value) <= 3 and all(
            isinstance(v, str | int | float | bool) and len(str(v)) < 30 for v in value.values()))
        inline = old_flow if old_flow is not None else inline and key not in ("formulas", "rename")
        if inline:
            out.fa.set_flow_style()
        else:
            out.fa.set_block_style()
        return out
    if isinstance(value, list):
        items = [_styled(key, v) for v in value]
        seq = CommentedSeq(items)
        scalars = all(not isinstance(v, dict | list) for v in value)
        if (old_flow if old_flow is not None else scalars):
            seq.fa.set_flow_style()
        else:
            seq.fa.set_block_style()
        return seq
    return value


WIDTH = 100  # where a list written inline wraps, its next items lined up under the first


def _scalar(value: Any) -> str:
    """One scalar as it would be written inside [...] (quoted only where YAML needs it)."""
    out = io.StringIO()
    seq = CommentedSeq([value])
    seq.fa.set_flow_style()
    _yaml().dump(seq, out)
    return out.getvalue().strip()[1:-1].strip()


def _inline_list(key: str, items: list[Any], indent: int) -> list[str]:
    head = " " * indent + f"{key}: ["
    lines, line = [], head
    for i, item in enumerate(items):
        text = _scalar(item) + ("," if i + 1 < len(items) else "]")
        if line != head and len(line) + 1 + len(text) > WIDTH:
            lines.append(line + "\n")
            line = " " * len(head) + text
        else:
            line += ("" if line == head else " ") + text
    return [*lines, (line if items else head + "]") + "\n"]


def _emit(key: str, value: Any, indent: int, old: Any = None) -> list[str]:
    styled = _styled(key, value, old)
    if isinstance(styled, CommentedSeq) and styled.fa.flow_style() and all(
            not isinstance(v, dict | list) for v in styled):
        return _inline_list(key, list(value), indent)
    out = io.StringIO()
    doc = CommentedMap()
    doc[key] = styled
    y = _yaml()
    y.width = max(40, WIDTH - indent)
    y.dump(doc, out)
    return [" " * indent + line + "\n" if line else "\n" for line in out.getvalue().rstrip("\n").split("\n")]


def _shaped(key: str, value: Any, old: Any) -> Any:
    """A one-item list written as the single value the file had (`filter: deleted = 0`)."""
    old = plain(old)
    one = isinstance(old, str) or (old is None and key in ("filter", "sort"))  # as `acflow init` writes them
    if key in _MANY and one and isinstance(value, list) and len(value) == 1:
        return value[0]
    if key == "source" and isinstance(old, str | None) and isinstance(value, dict) and list(value) == ["entity"]:
        return value["entity"]
    if key == "join" and isinstance(old, dict | None) and isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def write_flow(text: str, name: str, values: Mapping[str, Any], *, new: bool = False) -> str:
    """acflow.yaml's text with flow `name` given `values` for the form's keys (an empty value
    removes its key); a new flow is added at the end of flows:. Everything else is kept as written."""
    doc = _load(text)
    flows = doc["flows"]
    if new and name in flows:
        raise EditError(f"a flow named {name!r} already exists: choose another name")
    if not new and name not in flows:
        raise EditError(f"no flow named {name!r} in acflow.yaml any more: reload the page")
    wanted = {k: v for k, v in values.items() if not _empty(v)}
    if wanted.get("mode") == "replace" and (new or "mode" not in flows[name]):
        del wanted["mode"]  # the default, not written unless the file says it
    try:
        result = _add(text, doc, name, wanted) if new else _change(text, doc, name, wanted)
        if _same_meaning(text, result, name, wanted):
            return result
    except (KeyError, ValueError, IndexError, AttributeError, TypeError):
        pass
    return _round_trip(doc, name, wanted)  # a layout the splice does not know: ruamel writes it all


def _same_meaning(before: str, after: str, name: str, wanted: Mapping[str, Any]) -> bool:
    try:
        old, new = read_flows(before), read_flows(after)
        top_old, top_new = plain(_load(before)), plain(_load(after))
    except EditError:
        return False
    top_old.pop("flows")
    top_new.pop("flows")
    kept = {k: v for k, v in old.get(name, {}).items() if k not in MANAGED}
    mine = {k: normal(k, v) for k, v in new.get(name, {}).items()}
    meant = {**{k: normal(k, v) for k, v in kept.items()}, **{k: normal(k, v) for k, v in wanted.items()}}
    others_kept = (all(new.get(n) == v for n, v in old.items() if n != name) and name in new
                   and [n for n in new if n != name] == [n for n in old if n != name])
    return top_old == top_new and mine == meant and others_kept


def _add(text: str, doc: CommentedMap, name: str, wanted: Mapping[str, Any]) -> str:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    flows = doc["flows"]
    if flows.fa.flow_style() or not flows:
        raise ValueError("flows: written inline or empty")
    last = list(flows)[-1]
    indent = flows.lc.key(last)[1]
    _, end = _flow_span(doc, lines, last)
    body = CommentedMap((k, _shaped(k, wanted[k], None)) for k in sorted(wanted, key=_rank))
    block = ["\n", *_emit(name, dict(body), indent)]
    return "".join(lines[:end] + block + lines[end:])


def _rank(key: str) -> int:
    return ORDER.index(key) if key in ORDER else len(ORDER)


def _change(text: str, doc: CommentedMap, name: str, wanted: Mapping[str, Any]) -> str:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    flow = doc["flows"][name]
    if not isinstance(flow, CommentedMap) or flow.fa.flow_style():
        raise ValueError("the flow is written inline")
    f_start, f_end = _flow_span(doc, lines, name)
    keys = list(flow)
    indent = flow.lc.key(keys[0])[1] if keys else doc["flows"].lc.key(name)[1] + 2
    spans: dict[str, tuple[int, int]] = {}
    for i, k in enumerate(keys):
        start = flow.lc.key(k)[0]
        end = flow.lc.key(keys[i + 1])[0] if i + 1 < len(keys) else f_end
        spans[str(k)] = (start, _trim(lines, start, end))
    edits: list[tuple[int, int, list[str]]] = []  # (start, end, new lines), applied bottom-up
    for k in MANAGED:
        have, want = k in flow, k in wanted
        if have and want and normal(k, flow[k]) == normal(k, wanted[k]):
            continue
        if have and not want:
            edits.append((*spans[k], []))
        elif have:
            start, end = spans[k]
            new_lines = _emit(k, _shaped(k, wanted[k], flow[k]), indent, flow[k])
            at = _comment_at(lines[start])
            if end - start == 1 and len(new_lines) == 1 and at is not None:
                head = new_lines[0].rstrip("\n")
                new_lines = [head.ljust(at - 1) + " " + lines[start][at:].rstrip("\n") + "\n"]
            edits.append((start, end, new_lines))
        elif want:
            before = [p for p in keys if _rank(str(p)) <= _rank(k)]
            at_line = spans[str(before[-1])][1] if before else f_start + 1
            edits.append((at_line, at_line, _emit(k, _shaped(k, wanted[k], None), indent)))
    for start, end, new_lines in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        lines[start:end] = new_lines
    return "".join(lines)


def _round_trip(doc: CommentedMap, name: str, wanted: Mapping[str, Any]) -> str:
    flows = doc["flows"]
    flow = flows.get(name)
    if flow is None:
        flow = CommentedMap()
        flows[name] = flow
    for k in MANAGED:
        if k in wanted:
            if k not in flow or normal(k, flow[k]) != normal(k, wanted[k]):
                flow[k] = _styled(k, _shaped(k, wanted[k], flow.get(k)), flow.get(k))
        elif k in flow:
            del flow[k]
    out = io.StringIO()
    _yaml().dump(doc, out)
    return out.getvalue()


_SECRET_KEYS = re.compile(r"^(\s*-?\s*[\w-]*(?:secret|password|passwd|token|api_key|apikey)\s*:\s*)(\S.*)$",
                          re.IGNORECASE | re.MULTILINE)


def redact_text(text: str) -> str:
    """Shown text with every secret a YAML file or URI may hold replaced by ***: passwords in
    URIs, and values of keys named like secret, password, token (never `*_env`, which name variables)."""
    from ..destinations.base import redact

    text = redact(text)
    text = re.sub(r"(://[^/@:\s]*:)[^/@\s]*@", r"\1***@", text)
    text = re.sub(r"([?&](?:password|token|secret|key|api_key)=)[^&\s#\"']+", r"\1***", text, flags=re.IGNORECASE)

    def hide(m: re.Match[str]) -> str:
        key = m[1].split(":")[0].strip().lstrip("-").strip().lower()
        return m[0] if key.endswith("_env") else f"{m[1]}***"

    return _SECRET_KEYS.sub(hide, text)
