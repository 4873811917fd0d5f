"""The three raw tables, upstream of every dbt model: the sink writes them, Dagster only observes.

An observation records what a user asks first (how many rows, how recent) and a data version (the
newest `ingest_seq`), so the UI marks downstream assets stale when new rows land.
"""

import warnings
from collections.abc import Iterator

import dagster as dg
from psycopg import sql

from dagster_code.lib import groups
from dagster_code.lib.metadata import cell, number
from dagster_code.lib.resources import PostgresResource
from services.contract import STREAMS, Stream


def raw_spec(stream: Stream) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=stream.raw_table,
        group_name=groups.INGESTION,
        description=(
            f"Raw `{stream.payload_model.__name__}` rows landed exactly once by `datastack sink` from "
            f"the Kafka topic `{stream.base_topic}` (invalid messages go to `{stream.dlq()}`). "
            "Append-only; the producers run continuously as services."
        ),
        kinds={"postgres", "kafka"},
        metadata={"kafka_topic": stream.base_topic, "dead_letter_topic": stream.dlq()},
    )


RAW_SPECS = [raw_spec(stream) for stream in STREAMS.values()]
RAW_KEYS = [spec.key for spec in RAW_SPECS]


def observe(postgres: PostgresResource, table: str) -> dg.ObserveResult:
    row = postgres.query(
        sql.SQL(
            "SELECT count(*) AS row_count, max(ingested_at) AS newest_ingested_at, "
            "max(observed_at) AS newest_observed_at, max(ingest_seq) AS max_ingest_seq FROM {}"
        ).format(sql.Identifier(table))
    )[0]
    return dg.ObserveResult(
        asset_key=table,
        metadata={
            "row_count": number(int(row["row_count"])),
            "newest_ingested_at": cell(row["newest_ingested_at"]) or "-",
            "newest_observed_at": cell(row["newest_observed_at"]) or "-",
            "max_ingest_seq": number(int(row["max_ingest_seq"] or 0)),
        },
        data_version=dg.DataVersion(str(row["max_ingest_seq"] or 0)),
    )


with warnings.catch_warnings():
    # Observable sources are marked beta; they are the documented way to observe external tables.
    warnings.simplefilter("ignore", dg.BetaWarning)

    @dg.multi_observable_source_asset(  # type: ignore[untyped-decorator]
        specs=RAW_SPECS, can_subset=True, name="raw_tables"
    )
    def raw_tables(
        context: dg.AssetExecutionContext, postgres: PostgresResource
    ) -> Iterator[dg.ObserveResult]:
        """Row count, newest landing and observation time, newest ingest_seq per raw table."""
        for key in sorted(context.selected_asset_keys):
            yield observe(postgres, key.path[-1])
