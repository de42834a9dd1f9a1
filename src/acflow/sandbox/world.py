"""The sandbox account's data: one Table per catalog entity, generated from a seed.

Generated records end at the clock's reference date (2026-01-01, account-local),
so the same seed and sizes always give the same bytes; mutations (the control
endpoint, churn) stamp records with the wall clock so incremental syncs can be
tested against fresh changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import orjson

from acflow.catalog import CATALOG, find
from acflow.sandbox import customdata, ecommerce, mailing, memberships, sales, settings
from acflow.sandbox.clock import DEFAULT_ZONE, Clock
from acflow.sandbox.crm import DealGroups, Deals, DealStages
from acflow.sandbox.edits import Edits
from acflow.sandbox.gen import Rand, salt_of
from acflow.sandbox.marketing import Campaigns, Forms, Segments
from acflow.sandbox.people import Accounts, Contacts, Fields, FieldValues, Lists, Tags, Users
from acflow.sandbox.profile import Profile
from acflow.sandbox.table import Table

# In generation order: an entity whose records read another's (aux_of) comes after it.
PROFILES: Mapping[str, Profile] = MappingProxyType({p.name: p for p in (
    Users(), Accounts(), Lists(), Tags(), Fields(), FieldValues(), Segments(), Forms(), Campaigns(),
    Contacts(), DealGroups(), DealStages(), Deals(),
    memberships.ContactLists(), memberships.ContactTags(), memberships.Automations(),
    memberships.ContactAutomations(), memberships.AutomationBlocks(), memberships.Goals(), memberships.Scores(),
    memberships.ScoreValues(), memberships.ContactData(), memberships.AccountContacts(),
    mailing.Messages(), mailing.Templates(), mailing.Links(), mailing.LinkData(), mailing.CampaignLists(),
    mailing.CampaignMessages(),
    mailing.BounceLogs(), mailing.ContactEmails(), mailing.Activities(), mailing.EmailActivities(), mailing.Sms(),
    mailing.SiteMessages(),
    sales.DealTaskTypes(), sales.DealTasks(), sales.Notes(), sales.DealActivities(), sales.DealGroupUsers(),
    sales.ContactDeals(), sales.Calendars(), sales.SavedResponses(),
    customdata.DealCustomFieldMeta(), customdata.DealCustomFieldData(), customdata.AccountCustomFieldMeta(),
    customdata.AccountCustomFieldData(),
    ecommerce.Connections(), ecommerce.EcomCustomers(), ecommerce.EcomOrders(), ecommerce.EcomOrderProducts(),
    ecommerce.EcomOrderActivities(),
    settings.Groups(), settings.Brandings(), settings.Webhooks(), settings.Addresses(), settings.Configs(),
    settings.Conversions(), settings.ConversionTriggers(), settings.ContactConversions(),
)})
missing = set(CATALOG) ^ set(PROFILES)
assert not missing, f"catalog entities and sandbox profiles differ: {sorted(missing)}"


def entity_name(name: str) -> str:
    """The catalog name of an entity given by name or alias (`pipelines` -> `dealGroups`)."""
    entity = find(name)
    if entity is None:
        raise ValueError(f"unknown entity {name!r}; known: {', '.join(PROFILES)}")
    return entity.name


def resolve_sizes(sizes: Mapping[str, int] | None) -> dict[str, int]:
    """Defaults overridden by `sizes`, within each entity's bounds (at least 2 users, at most one
    field value per contact and field); an entity not given that scales with another (list
    memberships with contacts) follows it. Refuses unknown entity names and negative sizes."""
    out = {name: p.default_size for name, p in PROFILES.items()}
    given = set()
    for name, n in (sizes or {}).items():
        if name not in out:
            raise ValueError(f"unknown entity {name!r} in sizes; known: {', '.join(out)}")
        if int(n) < 0:
            raise ValueError(f"size of {name} must be >= 0, got {n}")
        out[name] = int(n)
        given.add(name)
    for name, profile in PROFILES.items():
        if profile.scale and name not in given:
            base, per, cap = profile.scale
            out[name] = min(cap, round(out[base] * per))
    for name, profile in PROFILES.items():
        least, most = profile.size_bounds(out)
        out[name] = max(least, out[name] if most is None else min(out[name], most))
    return out


DEFAULT_SIZES: Mapping[str, int] = MappingProxyType(resolve_sizes(None))


class World:
    def __init__(self, seed: int = 1, sizes: Mapping[str, int] | None = None, zone: str = DEFAULT_ZONE,
                 base_url: str = "http://127.0.0.1", cache_mb: int = 256, user_zone: str | None = None) -> None:
        self.seed = seed
        self.sizes = resolve_sizes(sizes)
        self.clock = Clock(zone)
        self.user_zone = user_zone or zone  # the admin user's localZoneid; the others' is the account's
        self.base_url = base_url.rstrip("/")
        self.cache_bytes = cache_mb * 2**20
        self._rands: dict[str, Rand] = {}
        self._templates: dict[str, bytes] = {}
        self._mutations = 0
        self.edits = Edits()  # records set to given values (edits.py)
        self.tables: dict[str, Table] = {
            name: profile.generate(self, self.sizes[name]) for name, profile in PROFILES.items()
        }

    def rand(self, name: str) -> Rand:
        r = self._rands.get(name)
        if r is None:
            r = self._rands[name] = Rand(self.seed, name)
        return r

    def set_base_url(self, url: str) -> None:
        """Links point at this server; set once the port is known."""
        self.base_url = url.rstrip("/")
        self._templates.clear()
        for table in self.tables.values():
            table.changed()

    def link_template(self, profile: Profile) -> bytes:
        """The record's `links` object as JSON with `{ID}` where the id goes."""
        t = self._templates.get(profile.name)
        if t is None:
            resource = profile.entity.path.rsplit("/", 1)[-1]  # links/{id}/linkData: linkData/17/...
            base = f"{self.base_url}/api/3/{resource}/{{ID}}/"
            links = {}
            for name in profile.links or ():
                query = profile.link_query.get(name)
                links[name] = base + name + (f"?{query}" if query else "")
            t = self._templates[profile.name] = orjson.dumps(links)
        return t

    def render(self, name: str, rows: np.ndarray) -> list[bytes]:
        table, profile = self.tables[name], PROFILES[name]
        return table.render(rows.tolist(), lambda want: self.edits.apply(
            name, table.ids[want].tolist(), profile.render(self, table, want)))

    # ---- changes -------------------------------------------------------------------------------
    def mutate(self, name: str, create: int = 0, update: int = 0, delete: int = 0, soft_delete: int = 0,
               now: int | None = None) -> dict[str, object]:
        """Create, update, hard-delete and soft-delete records; returns the ids of each."""
        name = entity_name(name)
        profile, table = PROFILES[name], self.tables[name]
        flag = profile.entity.deleted_flag
        if soft_delete and not flag:
            soft = [n for n, p in PROFILES.items() if p.entity.deleted_flag]
            raise ValueError(f"{name} have no soft-delete flag; soft_delete works on: {', '.join(soft)}")
        if min(create, update, delete, soft_delete) < 0:
            raise ValueError("mutation counts must be >= 0")
        now = self.clock.now() if now is None else now
        rng = np.random.default_rng([self.seed, salt_of(name), self._mutations])
        self._mutations += 1
        alive = table.alive_rows()
        softs = alive[table.deleted[alive] == 0]
        soft_rows = _sample(rng, softs, soft_delete)
        rest = np.setdiff1d(alive, soft_rows, assume_unique=True)
        picked = _sample(rng, rest, update + delete)
        upd_rows, del_rows = picked[:update], picked[update:]
        out: dict[str, object] = {"entity": name}
        created = table.append(create, now, lambda ids: profile.aux(self, ids)) if create else np.array([])
        if len(upd_rows):
            profile.on_update(self, table, upd_rows)
            table.touch(upd_rows, now)
        if len(soft_rows):
            table.soft_delete(soft_rows, now)
        out.update(created=created.tolist(), updated=table.ids[upd_rows].tolist(),
                   deleted=table.ids[del_rows].tolist(), soft_deleted=table.ids[soft_rows].tolist())
        if len(del_rows):
            table.remove(del_rows)
        for other, p in PROFILES.items():
            if name in p.depends:
                self.tables[other].changed()
        return out

    # ---- ground truth ----------------------------------------------------------------------------
    def snapshot(self, name: str) -> list[dict[str, object]]:
        """Every record that exists now: int id and update time (UTC ISO, null if never sent)."""
        table = self.tables[entity_name(name)]
        rows = table.alive_rows()
        stamps = np.datetime_as_string(table.utime[rows].astype("datetime64[s]")).tolist()
        nulls = table.unull[rows].tolist()
        return [{"id": i, "updated": None if z else s + "+00:00"}
                for i, s, z in zip(table.ids[rows].tolist(), stamps, nulls, strict=True)]


def _sample(rng: np.random.Generator, pool: np.ndarray, k: int) -> np.ndarray:
    k = min(k, len(pool))
    if k <= 0:
        return np.array([], dtype=np.int64)
    return np.sort(pool[rng.choice(len(pool), size=k, replace=False)])
