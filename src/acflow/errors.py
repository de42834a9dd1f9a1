"""One error class per user-facing failure, with its exit code on the class.

    AcflowError (1)            a run failed; the message names what and where
    ├── ConfigError (2)        bad usage, configuration, URL or destination URI
    ├── KeyRefused (3)         the account refused the API key
    ├── NotActiveCampaign (2)  the URL answers, but not as an ActiveCampaign API
    ├── ApiError (1)           the API kept failing, or answered a 4xx we cannot fix by retrying
    │   └── PagingStuck (1)    a page cursor stopped moving
    └── DestinationError (1)   a destination could not be written; its old contents are intact

Only the CLI entry point turns these into one stderr line and an exit code.
Messages name an account by its URL, never by its key.
"""

from __future__ import annotations


class AcflowError(Exception):
    exit_code = 1


class ConfigError(AcflowError):
    exit_code = 2


class KeyRefused(AcflowError):
    exit_code = 3


class NotActiveCampaign(AcflowError):
    exit_code = 2


class ApiError(AcflowError):
    exit_code = 1


class PagingStuck(ApiError):
    pass


class DestinationError(AcflowError):
    exit_code = 1
