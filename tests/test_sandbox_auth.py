"""Keys, permissions and answers to paths that are not there, as the real API gives them."""

from __future__ import annotations

import httpx
import pytest

from acflow.sandbox import Sandbox


def get(sandbox: Sandbox, path: str, key: str | None, **params) -> httpx.Response:
    headers = {"Api-Token": key} if key is not None else {}
    return httpx.get(f"{sandbox.url}/api/3/{path}", headers=headers, params=params)


@pytest.mark.parametrize("key", [None, "", "wrong-key"])
def test_a_missing_or_wrong_key_is_403_forbidden(sandbox, key):
    r = get(sandbox, "contacts", key)
    assert r.status_code == 403 and r.json() == {"message": "Forbidden"}


def test_the_key_header_name_is_api_token(sandbox):
    r = httpx.get(f"{sandbox.url}/api/3/contacts", headers={"Authorization": f"Bearer {sandbox.admin_key}"})
    assert r.status_code == 403


def test_keys_can_be_chosen():
    with Sandbox(port=0, admin_key="mine", restricted_key="theirs", rate_limit=0) as sb:
        assert get(sb, "users/me", "mine").json()["user"]["id"] == "1"
        assert get(sb, "users/me", "theirs").json()["user"]["id"] == "2"
        assert get(sb, "users/me", "sandbox-admin-key").status_code == 403


def all_of(sandbox: Sandbox, path: str, key: str) -> list[dict]:
    out, offset = [], 0
    while batch := get(sandbox, path, key, limit=100, offset=offset).json()[path]:
        out += batch
        offset += 100
    return out


def test_restricted_key_gets_stubs_for_pipelines_it_may_not_manage(sandbox):
    admin = {d["id"]: d for d in all_of(sandbox, "deals", sandbox.admin_key)}
    restricted = all_of(sandbox, "deals", sandbox.restricted_key)
    assert [d["id"] for d in restricted] == list(admin)  # same records, same order, stubs included
    stubs = [d for d in restricted if d["isDisabled"] is True]
    assert 0 < len(stubs) < len(restricted)
    for stub in stubs:
        full = admin[stub["id"]]
        expected = {"title": full["title"], "id": stub["id"], "isDisabled": True}
        if int(stub["id"]) % 2 == 0:  # some real stubs carry status too (reference 8.6)
            expected["status"] = full["status"]
        assert stub == expected
        assert int(admin[stub["id"]]["group"]) % 2 == 0
    assert all(d == admin[d["id"]] for d in restricted if d["isDisabled"] is False)
    meta = get(sandbox, "deals", sandbox.restricted_key).json()["meta"]
    assert meta["total"] == len(admin)  # stubs are counted


def test_restricted_key_by_id_gets_the_stub(sandbox):
    deal = next(d for d in all_of(sandbox, "deals", sandbox.admin_key) if int(d["group"]) % 2 == 0)
    body = get(sandbox, f"deals/{deal['id']}", sandbox.restricted_key).json()
    stub = {"title": deal["title"], "id": deal["id"], "isDisabled": True}
    if int(deal["id"]) % 2 == 0:
        stub["status"] = deal["status"]
    assert body == {"deal": stub}


def test_restricted_key_does_not_see_unmanaged_stages_or_pipelines(sandbox):
    stages = all_of(sandbox, "dealStages", sandbox.admin_key)
    mine = all_of(sandbox, "dealStages", sandbox.restricted_key)
    assert mine == [s for s in stages if int(s["group"]) % 2 == 1] and len(mine) < len(stages)
    assert get(sandbox, "dealStages", sandbox.restricted_key).json()["meta"]["total"] == str(len(mine))
    groups = get(sandbox, "dealGroups", sandbox.restricted_key, limit=100).json()
    assert {g["id"] for g in groups["dealGroups"]} == {"1", "3"}
    assert {s["group"] for s in groups["dealStages"]} == {"1", "3"}
    hidden = next(s for s in stages if int(s["group"]) % 2 == 0)
    r = get(sandbox, f"dealStages/{hidden['id']}", sandbox.restricted_key)
    assert r.status_code == 404 and r.json() == {"message": f"No Result found for DealStage with id {hidden['id']}"}


def test_entities_denied_to_the_restricted_user():
    with Sandbox(port=0, rate_limit=0, restricted_denied=("lists",)) as sb:
        r = get(sb, "lists", sb.restricted_key)
        assert r.status_code == 403
        assert r.json() == {"errors": [{"status": 403, "title": "Forbidden",
                                        "detail": "You do not have permission to view lists."}]}
        assert get(sb, "lists", sb.admin_key).status_code == 200


@pytest.mark.parametrize(("path", "status", "message"), [
    ("contacts/999999", 404, "No Result found for Subscriber with id 999999"),
    ("tags/31000", 404, "No Result found for Tag with id 31000"),
    ("fields/409000", 404, "No Result found for Field with id 409000"),
    ("dealGroups/0", 404, "No Result found for DealGroup with id 0"),
    ("forms/7000", 403, "No Result found for Form with id 7000"),  # forms answer 403
])
def test_a_missing_record_answers_like_the_api(sandbox, path, status, message):
    r = get(sandbox, path, sandbox.admin_key)
    assert (r.status_code, r.json()) == (status, {"message": message})


@pytest.mark.parametrize("path", ["nothing", "contacts/1/contactLists", "Contacts", "api/3"])
def test_an_unknown_path_is_404_json(sandbox, path):
    r = get(sandbox, path, sandbox.admin_key)
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
    assert r.json() == {"message": "Not Found"}


def test_an_unknown_path_with_a_wrong_key_is_403(sandbox):
    assert get(sandbox, "nothing", "wrong").status_code == 403


def test_the_sandbox_is_read_only(sandbox):
    r = httpx.post(f"{sandbox.url}/api/3/contacts", headers={"Api-Token": sandbox.admin_key}, json={})
    assert r.status_code == 405 and "/_sandbox/mutate" in r.json()["message"]
