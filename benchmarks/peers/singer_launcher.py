"""Run singer-io's tap-activecampaign (PyPI 1.3.1) against the sandbox's http:// loopback URL.

Two swaps, nothing else changes:
- Since 1.1.3 the tap refuses any api_url that is not https or that resolves to a
  private or loopback address (`client.is_api_url_valid`). The client reads that
  module global when it is built, so swapping it is enough.
- 1.3.1 checks the key with `GET /api/3/`, which the sandbox does not serve (404);
  the check goes to `GET /api/3/users/me` instead, as the tap's 1.4.0 does (PR #53).
  Still one request, counted like the tap's own.
Arguments are the tap's own (--config, --discover, --catalog, --state).
"""

import tap_activecampaign
import tap_activecampaign.client


def _accept_any_url(api_url: str) -> bool:
    return True


tap_activecampaign.client.is_api_url_valid = _accept_any_url
_check_api_token = tap_activecampaign.client.ActiveCampaignClient.check_api_token


def _check_api_token_on_users_me(client: tap_activecampaign.client.ActiveCampaignClient) -> bool:
    base_url = client.base_url
    client.base_url = base_url + "users/me"
    try:
        return _check_api_token(client)
    finally:
        client.base_url = base_url


tap_activecampaign.client.ActiveCampaignClient.check_api_token = _check_api_token_on_users_me

if __name__ == "__main__":
    tap_activecampaign.main()
