"""acflow: ActiveCampaign data into files and databases. The CLI's commands, as functions."""

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
    "run",
    "sync",
    "validate",
]
__version__ = "0.1.0"
