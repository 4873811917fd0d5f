"""Two sensors: one refreshes a domain whose raw table has moved past its last materialization
(missed or failed schedule ticks, or a fresh `make dev` that has not reached its first tick), one
records failed runs where a user looks: on the assets the run did not refresh.
"""

from datetime import UTC, datetime

import dagster as dg
from psycopg import sql

from dagster_code.defs.automation.jobs import realtime_analytics_job
from dagster_code.lib import groups
from dagster_code.lib.errors import root_cause
from dagster_code.lib.resources import PostgresResource
from dagster_code.lib.settings import QualitySettings
from services.config import load

DOMAIN_SOURCES: dict[str, tuple[str, dg.AssetKey]] = {
    groups.CRYPTO: ("raw_crypto_prices", dg.AssetKey("crypto_market_summary")),
    groups.DEVELOPER: ("raw_github_events", dg.AssetKey("developer_insights")),
    groups.WEATHER: ("raw_weather_data", dg.AssetKey("weather_analytics")),
}
"""Group -> (its raw table, the asset its runs materialize last: the domain's report)."""

IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def newest_landed(postgres: PostgresResource) -> dict[str, datetime | None]:
    """max(ingested_at) of each raw table (an index lookup each)."""
    query = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {} AS raw_table, max(ingested_at) AS newest FROM {}").format(
            sql.Literal(table), sql.Identifier(table)
        )
        for table, _ in DOMAIN_SOURCES.values()
    )
    return {r["raw_table"]: r["newest"] for r in postgres.query(query)}


def lagging_groups(
    instance: dg.DagsterInstance, newest: dict[str, datetime | None], settings: QualitySettings
) -> list[str]:
    """Groups whose raw table has rows landed more than DQ_LAG_TOLERANCE after the group's last
    materialization (or that were never materialized although their raw table has rows)."""
    lagging = []
    for group, (table, marker) in DOMAIN_SOURCES.items():
        landed = newest.get(table)
        if landed is None:
            continue
        event = instance.get_latest_materialization_event(marker)
        if event is None or landed - datetime.fromtimestamp(event.timestamp, UTC) > settings.dq_lag_tolerance:
            lagging.append(group)
    return lagging


@dg.sensor(
    name="raw_data_lag_sensor",
    job=realtime_analytics_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Requests a domain's assets when its raw table has rows landed more than DQ_LAG_TOLERANCE "
        "(10 minutes) after the domain's last materialization; at most once per tolerance window."
    ),
)
def raw_data_lag_sensor(
    context: dg.SensorEvaluationContext, postgres: PostgresResource
) -> dg.RunRequest | dg.SkipReason:
    in_flight = context.instance.get_runs(
        filters=dg.RunsFilter(job_name=realtime_analytics_job.name, statuses=IN_FLIGHT), limit=1
    )
    if in_flight:
        return dg.SkipReason(
            f"run {in_flight[0].run_id} of {realtime_analytics_job.name} is queued or running"
        )
    settings = load(QualitySettings)
    lagging = lagging_groups(context.instance, newest_landed(postgres), settings)
    if not lagging:
        return dg.SkipReason("every domain is within DQ_LAG_TOLERANCE of its raw table")
    assert context.repository_def is not None, "sensors are evaluated within their code location"
    keys = dg.AssetSelection.groups(*lagging).resolve(context.repository_def.asset_graph)
    # One request per lagging set per tolerance window: a failing domain is retried, not hammered.
    window = int(datetime.now(UTC).timestamp() // settings.dq_lag_tolerance.total_seconds())
    return dg.RunRequest(
        run_key=f"{'+'.join(lagging)}@{window}",
        asset_selection=sorted(keys),
        tags={"datastack/requested-by": "raw_data_lag_sensor", "datastack/lagging": ",".join(lagging)},
    )


@dg.run_failure_sensor(
    name="run_failure_recorder",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Records every failed run: an error log line, and an observation with the run id, the failed "
        "steps and the error on each asset the run meant to refresh but did not."
    ),
)
def run_failure_recorder(context: dg.RunFailureSensorContext) -> None:
    run = context.dagster_run
    failed_steps = sorted({e.step_key for e in context.get_step_failure_events() if e.step_key})
    error = context.failure_event.message or "run failed"
    step_errors = [
        root_cause(e.event_specific_data.error)  # type: ignore[union-attr]
        for e in context.get_step_failure_events()
        if getattr(e.event_specific_data, "error", None) is not None
    ]
    detail = "; ".join(step_errors)[:2000] or error
    context.log.error(f"run {run.run_id} of {run.job_name} failed in {failed_steps or 'no step'}: {detail}")
    materialized = {
        record.asset_key
        for record in context.instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
        if record.asset_key is not None
    }
    for key in sorted(set(run.asset_selection or ()) - materialized):
        context.instance.report_runless_asset_event(
            dg.AssetObservation(
                asset_key=key,
                metadata={
                    "failed_run_id": dg.MetadataValue.dagster_run(run.run_id),
                    "failed_job": dg.MetadataValue.text(run.job_name),
                    "failed_steps": dg.MetadataValue.text(", ".join(failed_steps) or "-"),
                    "error": dg.MetadataValue.text(detail),
                },
            )
        )
