"""Every fault kind reaches the client as it would from the real API, and runs repeat."""

from __future__ import annotations

import json

import httpx
import pytest

from acflow.sandbox import Chance, FailEvery, FailNext, Faults, Latency, Sandbox, parse_spec
from acflow.sandbox.faults import Request


@pytest.fixture
def api(sandbox: Sandbox):
    with httpx.Client(base_url=sandbox.url + "/api/3", headers={"Api-Token": sandbox.admin_key},
                      timeout=5) as client:
        yield client


def test_status_faults(sandbox, api):
    sandbox.set_faults("500=next:1,502=next:1,503=next:1,504=next:1,429=next:1")
    answers = [api.get("lists") for _ in range(6)]
    assert [r.status_code for r in answers] == [500, 502, 503, 504, 429, 200]
    assert answers[0].json() == {"message": "Internal Server Error"}
    assert answers[1].headers["content-type"] == "text/html" and b"502 Bad Gateway" in answers[1].content
    assert answers[4].headers["Retry-After"] == "1"
    assert sandbox.stats()["faults"] == {"500": 1, "502": 1, "503": 1, "504": 1, "429": 1}


def test_intermittent_403_only_hits_a_key_that_worked(sandbox, api):
    sandbox.set_faults("403=next:1")
    assert api.get("lists").status_code == 200  # a key never answered is not "intermittently" refused
    r = api.get("lists")
    assert r.status_code == 403 and r.content == b'{"message":"Forbidden"}'
    assert "content-type" not in r.headers  # as one real 403 came
    assert api.get("lists").status_code == 200


def test_reset_is_a_transport_error(sandbox, api):
    sandbox.set_faults("reset=next:1")
    with pytest.raises(httpx.TransportError):
        api.get("contacts")
    assert api.get("contacts").status_code == 200


def test_truncate_is_a_200_that_does_not_parse(sandbox, api):
    sandbox.set_faults("truncate=next:1")
    r = api.get("contacts", params={"limit": 10})
    assert r.status_code == 200 and len(r.content) > 100
    with pytest.raises(json.JSONDecodeError):
        r.json()
    assert r.content in api.get("contacts", params={"limit": 10}).content  # cut from the real answer


def test_cut_closes_the_connection_mid_body(sandbox, api):
    sandbox.set_faults("cut=next:1")
    with pytest.raises(httpx.RemoteProtocolError):
        api.get("contacts")


def test_empty_is_a_200_with_no_body(sandbox, api):
    sandbox.set_faults("empty=next:1")
    r = api.get("contacts")
    assert (r.status_code, r.content) == (200, b"")


def test_slow_outlasts_the_client_timeout(sandbox, api):
    sandbox.set_faults("slow=next:1", slow_seconds=2)
    with pytest.raises(httpx.ReadTimeout):
        api.get("lists", timeout=0.3)
    assert sandbox.stats()["faults"] == {"slow": 1}


def test_every_n_and_scope(sandbox, api):
    sandbox.set_faults("503=every:3@deals")
    codes = [api.get(path).status_code for path in ["deals", "lists", "deals", "deals/1", "deals"] * 2]
    deal_codes = [c for c, p in zip(codes, ["deals", "lists", "deals", "deals/1", "deals"] * 2, strict=True)
                  if p != "lists"]
    assert deal_codes == [200, 200, 503, 200, 200, 503, 200, 200]
    assert codes[1] == codes[6] == 200


def test_a_share_of_requests_fails_at_repeatable_places(sandbox, api):
    def pattern() -> list[int]:
        sandbox.reset()
        sandbox.set_faults("503=0.2")
        return [api.get("tags").status_code for _ in range(40)]

    first = pattern()
    assert first.count(503) == 8  # exactly 20%: one in each run of five
    assert all(503 in first[i:i + 5] for i in range(0, 40, 5))
    assert first[:5] != [200, 200, 200, 200, 503] or first[5:10] != first[:5]  # not a fixed period
    assert pattern() == first  # seeded


def test_faults_over_http_control(sandbox, api):
    url = sandbox.url + "/_sandbox/faults"
    r = httpx.post(url, json={"spec": "500=next:2", "slow_seconds": 4})
    assert r.json() == {"faults": ["500=next:2"], "slow_seconds": 4.0}
    assert api.get("lists").status_code == 500
    assert httpx.delete(url).json()["faults"] == []
    assert api.get("lists").status_code == 200
    bad = httpx.post(url, json={"spec": "600=0.1"})
    assert bad.status_code == 400 and "unknown fault kind '600'" in bad.json()["error"]


def test_reset_clears_faults_set_at_runtime(sandbox, api):
    sandbox.set_faults("500=1")
    sandbox.reset()
    assert api.get("lists").status_code == 200


def test_fault_callables_compose():
    chain = Faults([Latency(50), FailNext(1, "reset", path="contacts"), FailEvery(2, 503)])
    hits = [chain(Request(p, i)) for i, p in enumerate(["/api/3/contacts", "/api/3/contacts", "/api/3/lists"], 1)]
    assert [(h.kind, h.delay) for h in hits] == [("reset", 0.05), (None, 0.05), ("503", 0.05)]
    assert chain.describe() == ["latency=50", "reset=next:1@contacts", "503=every:2"]


def test_python_fault_objects_are_accepted(sandbox, api):
    sandbox.set_faults([FailEvery(2, 504, path="/api/3/lists")])
    assert [api.get("lists").status_code for _ in range(4)] == [200, 504, 200, 504]


@pytest.mark.parametrize(("spec", "message"), [
    ("503", "is not KIND=RULE"),
    ("503=often", "expected a probability, every:N or next:N"),
    ("503=1.5", "within 0..1"),
    ("418=0.1", "unknown fault kind '418'"),
    ("503=every:0", "N >= 1"),
    ("503=0.1@contact", "unknown entity 'contact'"),
])
def test_bad_specs_name_the_problem(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_spec(spec)


def test_chance_rate_is_exact_for_any_share():
    for p in (0.005, 0.05, 0.3, 0.9, 1.0):
        chance = Chance(503, p, seed=7)
        fired = sum(chance(Request("/api/3/x", i)) is not None for i in range(1000))
        assert abs(fired - 1000 * p) <= 1, p


def test_start_up_faults_start_afresh_on_reset():
    with Sandbox(port=0, rate_limit=0, faults=[FailNext(1, 500)]) as sb:
        url, headers = f"{sb.url}/api/3/tags", {"Api-Token": sb.admin_key}
        assert [httpx.get(url, headers=headers).status_code for _ in range(2)] == [500, 200]
        sb.reset()
        assert [httpx.get(url, headers=headers).status_code for _ in range(2)] == [500, 200]
