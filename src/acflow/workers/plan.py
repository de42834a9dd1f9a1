"""A run of many accounts split into one job per account: the unit a worker takes.

Each account has its own mirror (`<root>/<account>.duckdb`), so any worker reaching the root (a
shared volume) can take any account, and accounts never wait on each other's file. A flow that reads
several accounts (`accounts: all`, a tag, or a list) runs once per account, its `{account}` in `to:`
replaced by the account's name (`to: exports/{account}/deals.csv`); one that would append several
accounts into one destination cannot be split this way and is refused with how to write it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..config import Config

MIRROR_ROOT_ENV = "ACFLOW_MIRROR_ROOT"
PLACEHOLDER = "{account}"


@dataclass
class Job:
    """What one task does: one account's flows (or, with no config, a sync of its entities)."""

    account: str
    flows: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    config: str | None = None  # absolute path of acflow.yaml, the same on every worker
    accounts_file: str | None = None
    mirror_root: str = ""
    busy: str = "wait"  # wait | skip: what a run finding the account busy does
    wait_seconds: float | None = None  # how long it waits (None: as long as it takes)
    trigger: str = "manual"
    scheduled: str | None = None  # ISO time the run was due, when a schedule made it

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def mirror_path(self) -> Path:
        return Path(self.mirror_root) / f"{self.account}.duckdb"


def mirror_root(given: str | Path | None, config_path: Path | None) -> Path:
    """--mirror-root, else ACFLOW_MIRROR_ROOT, else .acflow/accounts beside acflow.yaml (or here)."""
    root = given or os.environ.get(MIRROR_ROOT_ENV)
    if root:
        return Path(root).expanduser().resolve()
    base = config_path.parent if config_path is not None else Path.cwd()
    return (base / ".acflow" / "accounts").resolve()


def with_accounts_file(cfg: Config, path: str | Path) -> Config:
    """The config's accounts with the file's added (the file wins on a name in both)."""
    from ..config import AccountSpec
    from .accounts import read

    for name, fields in read(path).items():
        cfg.spec.accounts[name] = AccountSpec.model_validate(fields)
    return cfg


def accounts_by_flow(cfg: Config, flows: list[str]) -> dict[str, list[str]]:
    """flow -> the accounts it runs for; refuses a flow appending several accounts into one place."""
    out = {}
    for name in flows:
        accounts = cfg.account_names(name)
        if len(accounts) > 1 and PLACEHOLDER not in cfg.flows[name].to:
            raise cfg.error(("flows", name, "to"), f"this flow appends {len(accounts)} accounts into one "
                            f"destination, which workers cannot split by account: write {PLACEHOLDER} in to: "
                            f"(one destination per account, e.g. exports/{PLACEHOLDER}/{name}.csv), or run it "
                            "with acflow run")
        out[name] = accounts
    return out


def jobs(cfg: Config, flows: list[str], **common: Any) -> list[Job]:
    """One job per account, holding every chosen flow that reads it."""
    by_account: dict[str, list[str]] = {}
    for flow, accounts in accounts_by_flow(cfg, flows).items():
        for account in accounts:
            by_account.setdefault(account, []).append(flow)
    return [Job(account, flows=names, **common) for account, names in by_account.items()]


def narrowed(cfg: Config, account: str, flows: list[str]) -> tuple[Config, list[str]]:
    """The config as one account's job sees it: only that account, and each flow reading it alone,
    `{account}` in its destination replaced. Flows a chosen flow reads from come along."""
    from ..config import Config

    if account not in cfg.spec.accounts:
        raise ConfigError(f"{cfg.path}: no account named {account!r}: was it removed since the run was queued?")
    spec = cfg.spec.model_copy(deep=True)
    spec.accounts = {account: spec.accounts[account]}
    keep = set()
    for name in flows:
        chain, seen = name, set()
        while chain is not None and chain not in seen:
            seen.add(chain)
            keep.add(chain)
            chain = cfg.flows[chain].source.flow
    for name in list(spec.flows):
        if name not in keep:
            del spec.flows[name]
            continue
        flow = spec.flows[name]
        if flow.source.flow is None:
            flow.source.account, flow.source.accounts = account, None
        flow.to = flow.to.replace(PLACEHOLDER, account)
    return Config(cfg.path, spec, cfg.root), [f for f in flows if f in spec.flows]
