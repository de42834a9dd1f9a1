"""The catalog checks itself: every row must be usable as it stands."""

from operator import attrgetter

import duckdb
import pyarrow as pa
import pytest

from acflow.catalog import CATALOG, SEED_ENTITIES, ColType, Paging, find
from acflow.columns import BatchBuilder

ENTITIES = list(CATALOG.values())

# The field tables of the product description we build from (shared/seeds): the minimum.
SEED_FIELDS = {
    "campaigns": "id name type status cdate mdate sdate ldate send_amt total_amt opens uniqueopens linkclicks "
                 "uniquelinkclicks hardbounces softbounces unsubscribes forwards replies userid",
    "contacts": "id email firstName lastName phone orgid cdate udate adate edate bounced_hard bounced_soft "
                "bounced_date sentcnt deleted",
    "lists": "id name stringid cdate udate userid private optinoptout sender_name sender_addr1 sender_city "
             "sender_country p_use_tracking p_use_analytics_read p_use_analytics_link",
    "deals": "id title description value currency status owner contact organization group stage percent "
             "winProbability cdate mdate edate nextdate activitycount",
    "segments": "id name logic hidden created_timestamp updated_timestamp",
    "forms": "id name action actiondata cdate userid",
}


def test_the_six_seed_entities():
    assert SEED_ENTITIES == ("campaigns", "contacts", "lists", "deals", "segments", "forms")


@pytest.mark.parametrize("entity", ENTITIES, ids=attrgetter("name"))
def test_row_is_consistent(entity):
    assert entity.columns.get("id") is ColType.ID
    for column in (entity.cursor, entity.cursor_fallback, entity.stub_flag, entity.deleted_flag):
        assert column is None or column in entity.columns
    assert (entity.cursor is None) == (entity.since is None)
    if entity.paging is Paging.PER_PARENT:  # read under each record of its parent
        assert entity.parent in CATALOG and entity.parent_key in entity.columns
        assert entity.path.count("{id}") == 1 and not entity.since
    else:
        assert entity.paging is Paging.OFFSET or entity.name == "contacts"  # only /contacts has id_greater
        assert entity.parent is None and "{id}" not in entity.path


@pytest.mark.parametrize("entity", ENTITIES, ids=attrgetter("name"))
def test_column_names_differ_beyond_case(entity):
    """SQL engines (DuckDB, the mirror) fold names' case: two that differ only there cannot both be kept."""
    names = [n.lower() for n in (*entity.columns, *entity.derived)]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("entity", ENTITIES, ids=attrgetter("name"))
def test_derived_sql_runs_on_the_typed_table(entity):
    con = duckdb.connect()
    con.register("t", pa.Table.from_batches([], schema=BatchBuilder(entity).schema()))
    for name, sql in entity.derived.items():
        con.execute(f"SELECT {sql} AS {name} FROM t").fetchall()


@pytest.mark.parametrize("name", SEED_FIELDS)
def test_seed_fields_are_known(name):
    missing = [f for f in SEED_FIELDS[name].split() if f not in CATALOG[name].columns]
    assert missing == []


def test_aliases_find_their_entity():
    assert find("pipelines").name == "dealGroups"
    assert find("STAGES").name == "dealStages"
    assert find("deal") is None
    names = [n.lower() for e in ENTITIES for n in (e.name, *e.aliases)]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("entity", [e for e in ENTITIES if e.lookups], ids=attrgetter("name"))
def test_lookups_point_at_real_columns(entity):
    con = duckdb.connect()
    for lookup in entity.lookups.values():
        assert lookup.column in entity.columns
        target = CATALOG[lookup.entity]
        con.register(lookup.entity, pa.Table.from_batches([], schema=BatchBuilder(target).schema()))
        con.execute(f"SELECT {lookup.value} AS {lookup.name} FROM {lookup.entity}").fetchall()
