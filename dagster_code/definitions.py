"""The code location: `dagster api grpc -m dagster_code.definitions` (Kubernetes, port 4000)
or `datastack dev` locally. Thin on purpose: each domain's folder under defs/ holds its assets,
checks, schedules and sensors; only global concerns live here.

Runs execute in process (one process per run, steps in sequence): the dbt step dominates every job,
so parallel steps would gain nothing, and one process keeps a run pod's memory predictable.
"""

import dagster as dg

from dagster_code.defs import automation, crypto, data_quality, dbt, developer, ingestion, lake, weather
from dagster_code.lib.resources import resources

defs = dg.Definitions.merge(
    ingestion.defs,
    dbt.defs,
    crypto.defs,
    developer.defs,
    weather.defs,
    data_quality.defs,
    lake.defs,
    automation.defs,
    dg.Definitions(resources=resources(), executor=dg.in_process_executor),
)
