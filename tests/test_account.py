import pytest

from acflow.account import Account, normalize_url
from acflow.errors import ConfigError


@pytest.mark.parametrize("given", [
    "https://acme.api-us1.com", "https://acme.api-us1.com/", "https://acme.api-us1.com/api/3",
    "https://acme.api-us1.com/api/3/", " https://acme.api-us1.com ",
])
def test_url_forms_are_accepted(given):
    assert normalize_url(given) == "https://acme.api-us1.com"


@pytest.mark.parametrize("given", ["http://127.0.0.1:8765", "http://localhost:9/api/3", "http://[::1]:80"])
def test_plain_http_is_fine_on_loopback(given):
    assert normalize_url(given).startswith("http://")


def test_plain_http_elsewhere_is_refused():
    with pytest.raises(ConfigError) as info:
        normalize_url("http://acme.api-us1.com")
    assert info.value.exit_code == 2
    assert str(info.value) == ("refusing plain http:// for acme.api-us1.com: the API key would travel "
                               "unencrypted; use https://")


def test_not_a_url():
    with pytest.raises(ConfigError, match="is not a URL"):
        normalize_url("acme.api-us1.com")


def test_key_is_never_shown():
    account = Account("https://acme.api-us1.com", "s3cret-key-123")
    assert "s3cret" not in repr(account) and "s3cret" not in str(account)


def test_missing_key_and_url(monkeypatch):
    monkeypatch.delenv("ACTIVECAMPAIGN_API_URL", raising=False)
    monkeypatch.delenv("ACTIVECAMPAIGN_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="no API URL: pass --api-url or set ACTIVECAMPAIGN_API_URL"):
        Account.resolve()
    with pytest.raises(ConfigError, match="no API key: pass --api-key or set ACTIVECAMPAIGN_API_KEY"):
        Account.resolve("https://acme.api-us1.com")
    monkeypatch.setenv("ACTIVECAMPAIGN_API_KEY", "k")
    assert Account.resolve("https://acme.api-us1.com").key == "k"


@pytest.mark.parametrize("key", ["abc\u200bdef", "abc\ndef", "clé"])
def test_keys_with_invisible_characters_are_refused(key):
    with pytest.raises(ConfigError) as info:
        Account("https://acme.api-us1.com", key)
    assert str(info.value) == ("the API key for https://acme.api-us1.com holds invisible or non-ASCII "
                               "characters: copy it again from Settings > Developer")
    assert key not in str(info.value)


def test_impossible_port():
    with pytest.raises(ConfigError, match="has a port that cannot be"):
        normalize_url("https://x.api-us1.com:99999")
