"""Run singer-io's tap-activecampaign (PyPI 1.3.1) against an http:// loopback URL.

Since 1.1.3 the tap refuses any api_url that is not https or that resolves to a
private or loopback address (`client.is_api_url_valid`). The client reads that
module global when it is built, so swapping it is enough; nothing else changes.
Arguments are the tap's own (--config, --discover, --catalog, --state).
"""

import tap_activecampaign
import tap_activecampaign.client


def _accept_any_url(api_url: str) -> bool:
    return True


tap_activecampaign.client.is_api_url_valid = _accept_any_url

if __name__ == "__main__":
    tap_activecampaign.main()
