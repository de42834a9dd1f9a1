"""`python -m sheets_api [--port N]` (from tests/): the stand-in in a process of its own, controlled
over HTTP: POST /_standin/service_account, POST /_standin/spreadsheets, GET /_standin/stats,
POST /_standin/reset. Benchmarks use it so that the stand-in and acflow do not share one GIL."""

from __future__ import annotations

import argparse
import contextlib
import threading

from . import SheetsStandIn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with SheetsStandIn(args.host, args.port) as api:
        print(api.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
