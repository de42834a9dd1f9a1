"""`acflow preview` in an 80-column terminal, `--columns`, `--rate-limit`; `export --help` names every destination."""

from __future__ import annotations

import json

from test_cli import acflow_cmd


def _preview(sandbox, *args):
    return acflow_cmd("preview", "contacts", "--limit", "3", "--api-url", sandbox.url, "--api-key",
                      sandbox.admin_key, "--rate-limit", "1000", *args, env={"COLUMNS": "80"})


def _first_contacts(sandbox):
    result = _preview(sandbox, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_wide_entity_is_shown_one_record_at_a_time_with_whole_values(sandbox):
    contacts = _first_contacts(sandbox)
    result = _preview(sandbox)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    for contact in contacts:  # each e-mail whole, on its field's line
        assert any(line.startswith("email ") and line.endswith(f": {contact['email']}") for line in lines)
    assert sum(line.startswith("-- record ") for line in lines) == 3


def test_chosen_columns_that_fit_are_a_table(sandbox):
    contacts = _first_contacts(sandbox)
    result = _preview(sandbox, "--columns", "id,email,firstName")
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if "email" in line)
    assert header.split() == ["id", "email", "firstName"]
    assert "lastName" not in result.stdout
    for contact in contacts:
        assert contact["email"][:25] in result.stdout


def test_an_unknown_column_is_named(sandbox):
    result = _preview(sandbox, "--columns", "id,emial")
    assert (result.returncode, result.stderr) == (2, "Error: --columns: no column 'emial' in contacts. "
                                                     "Did you mean 'email'?\n")


def test_export_help_names_every_destination_kind():
    result = acflow_cmd("export", "--help")
    for kind in (".csv", ".jsonl", ".parquet", ".xlsx", "duckdb:///", "sqlite:///"):
        assert kind in result.stdout, kind
