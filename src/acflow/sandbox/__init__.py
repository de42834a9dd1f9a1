"""An offline ActiveCampaign API v3 server: realistic data, the real API's quirks, limits and faults.

Use it as a test fixture or for demos (`Sandbox`), or from the command line
(`acflow sandbox serve`, see `acflow.sandbox.cli`). Control endpoints under
`/_sandbox/` report what happened and change the data (`acflow.sandbox.control`).
"""

from acflow.sandbox.faults import Chance, FailEvery, FailNext, Faults, Latency, parse_spec
from acflow.sandbox.runner import Sandbox, serve
from acflow.sandbox.server import ADMIN_KEY, DEFAULT_PORT, RESTRICTED_KEY, Config
from acflow.sandbox.world import DEFAULT_SIZES

__all__ = [
    "ADMIN_KEY",
    "DEFAULT_PORT",
    "DEFAULT_SIZES",
    "RESTRICTED_KEY",
    "Chance",
    "Config",
    "FailEvery",
    "FailNext",
    "Faults",
    "Latency",
    "Sandbox",
    "parse_spec",
    "serve",
]
