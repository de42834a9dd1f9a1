"""The naive baseline: a plain sequential httpx loop, limit=100, one request at a time.

Pages each entity by offset until meta.total is reached (or a page comes back
empty), retries a 429 after its Retry-After, and saves each entity's records
as JSON. No throttle, no concurrency, no typing.

usage: naive.py API_URL API_KEY OUT_DIR
"""

import json
import sys
import time
from pathlib import Path

import httpx

ENTITIES = ["campaigns", "contacts", "lists", "deals", "segments", "forms"]


def fetch(client: httpx.Client, entity: str) -> list[dict]:
    records: list[dict] = []
    offset = 0
    while True:
        response = client.get(f"/api/3/{entity}", params={"limit": 100, "offset": offset})
        if response.status_code == 429:
            time.sleep(float(response.headers.get("Retry-After", "1")))
            continue
        response.raise_for_status()
        body = response.json()
        page = body[entity]
        records.extend(page)
        offset += len(page)
        if not page or offset >= int(body["meta"]["total"]):
            return records


def main() -> None:
    api_url, api_key, out_dir = sys.argv[1:4]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with httpx.Client(base_url=api_url, headers={"Api-Token": api_key}, timeout=60) as client:
        for entity in ENTITIES:
            (out / f"{entity}.json").write_text(json.dumps(fetch(client, entity)))


if __name__ == "__main__":
    main()
