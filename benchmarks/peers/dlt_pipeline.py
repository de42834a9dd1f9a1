"""dlt's generic rest_api source configured for ActiveCampaign API v3, into DuckDB.

There is no verified ActiveCampaign source, so this is what a dlt user writes:
the Api-Token header, an offset paginator (limit 100) that stops on meta.total,
one resource per entity, replace mode. dlt's defaults otherwise (retries,
normalisation of nested objects into child tables).

usage: dlt_pipeline.py API_URL API_KEY DUCKDB_PATH WORK_DIR
"""

import sys

import dlt
from dlt.sources.rest_api import rest_api_source

ENTITIES = ["campaigns", "contacts", "lists", "deals", "segments", "forms"]


def main() -> None:
    api_url, api_key, duckdb_path, work_dir = sys.argv[1:5]
    source = rest_api_source({
        "client": {
            "base_url": f"{api_url}/api/3/",
            "auth": {"type": "api_key", "name": "Api-Token", "api_key": api_key, "location": "header"},
            "paginator": {"type": "offset", "limit": 100, "total_path": "meta.total"},
        },
        "resource_defaults": {"write_disposition": "replace", "primary_key": "id"},
        "resources": [{"name": e, "endpoint": {"path": e, "data_selector": e}} for e in ENTITIES],
    })
    pipeline = dlt.pipeline(pipeline_name="activecampaign", pipelines_dir=work_dir,
                            destination=dlt.destinations.duckdb(duckdb_path), dataset_name="activecampaign")
    print(pipeline.run(source))


if __name__ == "__main__":
    main()
