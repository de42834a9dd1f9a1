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
    "SyncSummary",
    "export",
    "preview",
    "sync",
]
__version__ = "0.1.0"
