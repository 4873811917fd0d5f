"""Schedules and sensors, evaluated with Dagster's build contexts against real databases: each
schedule requests its job with the original cadence, the lag sensor requests exactly the domains
whose raw table moved past their last materialization, and the failure sensor records a real
failed run on the assets it did not refresh."""

import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
import pytest
from dagster._utils.schedules import cron_string_iterator

from dagster_code.lib import groups
from dagster_code.lib.resources import postgres_from_env
from services.config import PostgresSettings
from services.infra.local import LocalInfra
from services.sink.schema import migrate
from tests.dbt import rawdata
from tests.support.databases import fresh_database, postgres_env, settings_for

SCHEDULES = {
    # name: (cron, job, groups its runs materialize)
    "realtime_analytics_schedule": (
        "*/5 * * * *",
        "realtime_analytics",
        {groups.CRYPTO, groups.DEVELOPER, groups.WEATHER},
    ),
    "data_quality_schedule": ("2-59/15 * * * *", "data_quality", {groups.DATA_QUALITY}),
    "ingestion_audit_schedule": ("4-59/30 * * * *", "ingestion_audit", {groups.INGESTION, groups.LAKE}),
}


PERIOD_MINUTES = {
    "realtime_analytics_schedule": 5,
    "data_quality_schedule": 15,
    "ingestion_audit_schedule": 30,
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedules_request_their_job_at_the_original_cadence(defs: dg.Definitions, name: str) -> None:
    cron, job_name, job_groups = SCHEDULES[name]
    schedule = defs.get_repository_def().get_schedule_def(name)
    assert schedule.cron_schedule == cron
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
        )
        result = schedule.evaluate_tick(context)
    assert [r.job_name or schedule.job_name for r in result.run_requests or []] == [job_name]
    graph = defs.get_repository_def().asset_graph
    selected = defs.resolve_job_def(job_name).asset_layer.selected_asset_keys
    assert {graph.get(k).group_name for k in selected} == job_groups
    # Minutes between ticks: 5, 15 and 30, as the original stack ran them.
    ticks = cron_string_iterator(datetime(2026, 3, 1, tzinfo=UTC).timestamp(), cron, "UTC")
    first, second, third = next(ticks), next(ticks), next(ticks)
    assert second - first == third - second == timedelta(minutes=PERIOD_MINUTES[name])


@pytest.fixture
def raw_database(infra: LocalInfra, monkeypatch: pytest.MonkeyPatch) -> Iterator[PostgresSettings]:
    """Fresh raw tables holding rows that landed in the last minutes, pointed at by the env."""
    with fresh_database(infra, "t_sensors") as name:
        pg = settings_for(infra, name)
        with psycopg.connect(pg.conninfo()) as conn:
            migrate(conn)
            rawdata.insert(conn, rawdata.generate(datetime.now(UTC)))
        for var, value in {
            **postgres_env(pg),
            "DBT_SCHEMA": "analytics",
        }.items():
            monkeypatch.setenv(var, value)
        yield pg


def evaluate_lag_sensor(defs: dg.Definitions, instance: dg.DagsterInstance) -> dg.RunRequest | dg.SkipReason:
    repo = defs.get_repository_def()
    sensor = repo.get_sensor_def("raw_data_lag_sensor")
    with dg.build_sensor_context(
        instance=instance, repository_def=repo, resources={"postgres": postgres_from_env()}
    ) as context:
        result = sensor(context)
    gc.collect()
    assert isinstance(result, dg.RunRequest | dg.SkipReason), result
    return result


def group_keys(defs: dg.Definitions, *names: str) -> set[dg.AssetKey]:
    return set(dg.AssetSelection.groups(*names).resolve(defs.get_repository_def().asset_graph))


@pytest.mark.integration
def test_lag_sensor_requests_the_domains_behind_their_raw_table(
    defs: dg.Definitions, raw_database: PostgresSettings
) -> None:
    with dg.instance_for_test() as instance:
        never = evaluate_lag_sensor(defs, instance)
        assert isinstance(never, dg.RunRequest)
        assert set(never.asset_selection or []) == group_keys(
            defs, groups.CRYPTO, groups.DEVELOPER, groups.WEATHER
        )
        assert never.tags["datastack/lagging"] == "crypto,developer,weather"

        # All three refreshed just now; then a weather row lands more than the tolerance (10
        # minutes) after that refresh (its ingested_at set ahead, so no waiting).
        for key in ("crypto_market_summary", "developer_insights", "weather_analytics"):
            instance.report_runless_asset_event(dg.AssetMaterialization(key))
        assert isinstance(evaluate_lag_sensor(defs, instance), dg.SkipReason)
        late = rawdata.weather_row(
            rawdata.CITIES[1], 20.0, 50.0, datetime.now(UTC), 99, rawdata.random.Random(3)
        )
        late["ingested_at"] = datetime.now(UTC) + timedelta(minutes=11)
        with psycopg.connect(raw_database.conninfo()) as conn:
            rawdata.insert(conn, {"raw_weather_data": [late]})
        partial = evaluate_lag_sensor(defs, instance)
        assert isinstance(partial, dg.RunRequest)
        assert set(partial.asset_selection or []) == group_keys(defs, groups.WEATHER)
        assert partial.run_key
        assert partial.run_key.startswith("weather@")

        # A larger tolerance (DQ_LAG_TOLERANCE) forgives the same lag.
        with pytest.MonkeyPatch.context() as env:
            env.setenv("DQ_LAG_TOLERANCE", "15m")
            fresh = evaluate_lag_sensor(defs, instance)
        assert isinstance(fresh, dg.SkipReason)
        assert "within DQ_LAG_TOLERANCE" in (fresh.skip_message or "")


@pytest.mark.integration
def test_lag_sensor_waits_for_a_run_in_flight(defs: dg.Definitions, raw_database: PostgresSettings) -> None:
    with dg.instance_for_test() as instance:
        job = defs.resolve_job_def("realtime_analytics")
        instance.create_run_for_job(job_def=job, status=dg.DagsterRunStatus.STARTED)
        skipped = evaluate_lag_sensor(defs, instance)
        assert isinstance(skipped, dg.SkipReason)
        assert "queued or running" in (skipped.skip_message or "")


@pytest.mark.integration
def test_failure_sensor_records_a_failed_run_on_the_assets_it_missed(
    defs: dg.Definitions, infra: LocalInfra, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An empty database: the report's marts do not exist, so its step fails for real.
    with fresh_database(infra, "t_failure") as name, dg.instance_for_test() as instance:
        pg = settings_for(infra, name)
        for var, value in {
            "POSTGRES_HOST": pg.host,
            "POSTGRES_PORT": str(pg.port),
            "POSTGRES_DB": pg.db,
            "POSTGRES_USER": pg.user,
            "POSTGRES_PASSWORD": pg.password.get_secret_value(),
        }.items():
            monkeypatch.setenv(var, value)
        key = dg.AssetKey("weather_analytics")
        result = defs.resolve_job_def("realtime_analytics").execute_in_process(
            instance=instance, asset_selection=[key], raise_on_error=False
        )
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        assert run is not None
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
        sensor = defs.get_repository_def().get_sensor_def("run_failure_recorder")
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name, dagster_instance=instance, dagster_run=run, dagster_event=failure
        ).for_run_failure()
        sensor(context)  # type: ignore[operator]

        records = instance.fetch_observations(key, limit=5).records
        assert len(records) == 1
        observation = records[0].asset_observation
        assert observation is not None
        metadata = observation.metadata
        assert metadata["failed_run_id"].value == result.run_id
        assert metadata["failed_job"].value == "realtime_analytics"
        assert "weather_analytics" in str(metadata["failed_steps"].value)
        assert "does not exist" in str(metadata["error"].value)
