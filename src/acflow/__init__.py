"""acflow: ActiveCampaign data into files and databases. The CLI's commands, as functions.

The public names load on first use (module `__getattr__`), so `import acflow` and the
`acflow` command start without pyarrow, DuckDB and aiohttp (about a second).
"""

from __future__ import annotations

import importlib
import sys
import types

TYPE_CHECKING = False  # not typing's: importing typing here would lengthen the window before a Ctrl-C is ours
if TYPE_CHECKING:
    from typing import Any

    from .account import Account
    from .errors import (
        AcflowError,
        ApiError,
        ConfigError,
        DestinationError,
        KeyRefused,
        NotActiveCampaign,
        PagingStuck,
    )
    from .export import ExportSummary, export
    from .preview import preview
    from .report import report
    from .run import RunSummary, run
    from .run import check as validate
    from .sync import SyncSummary, sync

__all__ = [
    "Account",
    "AcflowError",
    "ApiError",
    "ConfigError",
    "DestinationError",
    "ExportSummary",
    "KeyRefused",
    "NotActiveCampaign",
    "PagingStuck",
    "RunSummary",
    "SyncSummary",
    "export",
    "preview",
    "report",
    "run",
    "sync",
    "validate",
]
__version__ = "0.1.0"

# public name -> (module, attribute)
_WHERE: dict[str, tuple[str, str]] = {
    "Account": (".account", "Account"),
    **{name: (".errors", name) for name in ("AcflowError", "ApiError", "ConfigError", "DestinationError",
                                            "KeyRefused", "NotActiveCampaign", "PagingStuck")},
    "ExportSummary": (".export", "ExportSummary"),
    "export": (".export", "export"),
    "preview": (".preview", "preview"),
    "report": (".report", "report"),
    "RunSummary": (".run", "RunSummary"),
    "run": (".run", "run"),
    "validate": (".run", "check"),
    "SyncSummary": (".sync", "SyncSummary"),
    "sync": (".sync", "sync"),
}


def __getattr__(name: str) -> Any:
    """Import a public name's module when the name is first used, then keep it here."""
    try:
        module, attribute = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module 'acflow' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module, __name__), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """Importing the module acflow.export sets `acflow.export`: keep the function there instead."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _WHERE and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
