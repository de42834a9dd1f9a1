"""The flow form's YAML round trip (acflow.ui.editor): only the changed keys' lines move."""

from __future__ import annotations

import difflib

from acflow.config import load
from acflow.starter import STARTER
from acflow.ui import editor


def _diff(before: str, after: str) -> list[str]:
    return [d for d in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if not d.startswith(("---", "+++", "@@"))]


def _values(text: str, flow: str) -> dict:
    return {k: v for k, v in editor.read_flows(text)[flow].items() if k in editor.MANAGED}


def test_a_wrapped_list_changed_is_rewrapped_and_nothing_else_moves() -> None:
    values = _values(STARTER, "deals_pipeline")
    values["select"] = [c for c in values["select"] if c != "owner_name"]
    after = editor.write_flow(STARTER, "deals_pipeline", values)
    assert _diff(STARTER, after) == [
        "-    select: [id, title, amount, currency, status_label, pipeline_name, stage_name, owner_name,",
        "-             winProbability, cdate, mdate]",
        "+    select: [id, title, amount, currency, status_label, pipeline_name, stage_name, winProbability,",
        "+             cdate, mdate]"]


def test_a_scalar_keeps_its_line_comment_and_a_removed_key_goes(tmp_path) -> None:
    text = "version: 1\naccounts:\n  main: {url: https://a.api-us1.com, key_env: K}\nflows:\n  d:\n" \
           "    source: deals\n    filter: amount > 0   # big ones\n    sort: id\n    to: out/d.csv\n"
    values = _values(text, "d")
    values["filter"] = ["amount > 10"]
    values["sort"] = []
    after = editor.write_flow(text, "d", values)
    assert _diff(text, after) == ["-    filter: amount > 0   # big ones", "-    sort: id",
                                  "+    filter: amount > 10  # big ones"]
    (tmp_path / "acflow.yaml").write_text(after)
    assert load(tmp_path / "acflow.yaml").flows["d"].filter == ["amount > 10"]


def test_a_new_flow_is_added_at_the_end_of_flows_in_the_starter_style(tmp_path) -> None:
    text = STARTER + "\n# a comment after the flows\n"
    after = editor.write_flow(text, "open_deals", {
        "source": {"entity": "deals"}, "lookups": ["stage"], "filter": ["status_label = 'open'"],
        "join": [{"entity": "contacts", "on": {"contact": "id"}, "columns": ["email"]}],
        "select": ["id", "title", "stage_name", "contact_email"], "to": "out/open.csv", "mode": "replace"}, new=True)
    assert after.startswith(STARTER) and after.endswith("# a comment after the flows\n")
    added = after[len(STARTER):]
    assert "  open_deals:\n    source: deals\n    lookups: [stage]\n    join:\n      entity: contacts\n" in added
    assert "    filter: status_label = 'open'\n" in added and "mode:" not in added  # the default is not written
    (tmp_path / "acflow.yaml").write_text(after)
    assert load(tmp_path / "acflow.yaml").flows["open_deals"].join[0].on == {"contact": "id"}


def test_secrets_are_redacted_from_shown_text() -> None:
    shown = editor.redact_text("to: postgresql://u:pw1@h/db?table=t\nsecret: abc\nkey_env: AC_KEY\n"
                               "url: https://x.test/hook?token=tok1\n")
    assert "pw1" not in shown and "abc" not in shown and "tok1" not in shown and "key_env: AC_KEY" in shown
