"""What a sync and a run report: plain dataclasses, importable without DuckDB or Arrow, so the
service's process (which never loads them, service/host.py) can read what its run host sends."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class EntityResult:
    entity: str
    table: str = ""
    fetch: str = "full"  # or "incremental": only what changed since the mirror's newest record
    since: str | None = None  # the day an incremental fetch asked from
    status: str = "ok"
    rows: int = 0  # rows the entity has now
    fetched: int = 0  # rows this sync read
    inserted: int = 0
    updated: int = 0
    removed: int = 0  # gone from the API, found by a full fetch; marked in the mirror
    unchanged: int = 0
    pages: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    repairs: int = 0
    seconds: float = 0.0
    stubs: int = 0  # restricted-pipeline records the key may not see in full
    soft_deleted: int = 0  # records with deleted = 1, kept for users to filter
    new_columns: list[str] = field(default_factory=list)  # fields the catalog does not know
    exact_fallbacks: int = 0  # batches typed from dicts because Arrow could not read them exactly
    text_columns: dict[str, str] = field(default_factory=dict)  # kept as text, and why
    extra_fields: int = 0  # unknown fields past columns.MAX_NEW_COLUMNS, kept as JSON in _extra_fields
    extra_left_out: int = 0  # their values past columns.EXTRA_BYTES in a record: not kept
    incomplete: str | None = None  # why records may be missing (the read looped or ended short); status "incomplete"
    error: str | None = None


@dataclass
class SyncSummary:
    account: str
    mirror: str
    run_id: str
    zone: str  # the account's zone, that naive timestamps were read in
    zone_source: str = "learnt"  # set (acflow.yaml / --account-timezone) | learnt (from its dates) | guessed
    zone_confidence: str = "sure"  # set | sure | likely | guess (see zones.AccountZone.confidence)
    zone_note: str | None = None  # where the zone deserves a word: a guess, other zones that fit
    seconds: float = 0.0
    entities: list[EntityResult] = field(default_factory=list)
    requests: int = 0  # all of the run's requests, the account check included

    @property
    def ok(self) -> bool:
        return all(e.status == "ok" for e in self.entities)

    def result(self, entity: str) -> EntityResult:
        return next(e for e in self.entities if e.entity == entity)

    def advice(self) -> list[str]:
        notes = [f"time zone {self.zone} ({self.zone_confidence}): {self.zone_note}"] if self.zone_note else []
        for e in self.entities:
            if e.stubs:
                notes.append(
                    f"{e.entity}: {e.stubs} records came back restricted (isDisabled = 1: pipelines this "
                    "key's user may not manage); use an admin user's API key for complete data"
                )
            for name, why in e.text_columns.items():
                notes.append(f"{e.entity}.{name} kept as text: {why}")
            if e.extra_fields:
                notes.append(f"{e.entity}: records carry more unknown fields than acflow makes columns of; "
                             f"{e.extra_fields:,} of them are kept together as JSON in _extra_fields"
                             + (f", and {e.extra_left_out:,} values past its size per record were left out"
                                if e.extra_left_out else ""))
            if e.incomplete:
                notes.append(f"{e.entity}: records may be missing, so this read was not kept (the mirror holds "
                             "the previous sync's rows); run again later, and if it repeats, report the server")
        return notes

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(ok=self.ok, advice=self.advice())
        return out


@dataclass
class FlowResult:
    flow: str
    destination: str
    mode: str
    status: str = "ok"  # ok | unchanged | failed
    rows: int = 0
    seconds: float = 0.0
    error: str | None = None
    notes: list[str] = field(default_factory=list)  # custom fields renamed or deleted (custom_fields.py)


@dataclass
class RunSummary:
    config: str
    mirror: str
    run_id: str
    seconds: float = 0.0
    syncs: list[SyncSummary] = field(default_factory=list)
    flows: list[FlowResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.status != "failed" for f in self.flows) and all(s.ok for s in self.syncs)

    def result(self, flow: str) -> FlowResult:
        return next(f for f in self.flows if f.flow == flow)

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config, "mirror": self.mirror, "run_id": self.run_id, "ok": self.ok,
                "seconds": self.seconds, "syncs": [s.to_dict() for s in self.syncs],
                "flows": [asdict(f) for f in self.flows]}
