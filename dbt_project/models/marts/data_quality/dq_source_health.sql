{#-
    Data-quality figures per raw source and UTC landing window (ingested_at; hour and day): rows
    landed, duplicate natural keys, rows missing required fields, rows breaking contract ranges,
    ingest delay (ingested_at - observed_at), and how long ago the window's newest row landed as of
    `checked_at` (the build time, or var dq_as_of). Dagster's checks and UI read this table.
-#}

with

windows as (

    select * from {{ ref('int_dq_source_windows') }}

),

final as (

    select
        source_name,
        window_grain,
        window_start,
        {{ window_end_by_grain('window_grain', 'window_start', var('dq_window_grains')) }} as window_end,
        row_count,
        duplicate_key_count,
        null_required_count,
        out_of_range_count,
        {{ round_float(safe_divide('duplicate_key_count', 'row_count'), 6) }} as duplicate_key_rate,
        {{ round_float(safe_divide('null_required_count', 'row_count'), 6) }} as null_required_rate,
        {{ round_float(safe_divide('out_of_range_count', 'row_count'), 6) }} as out_of_range_rate,
        first_ingested_at,
        last_ingested_at,
        last_observed_at,
        {{ round_float('avg_ingest_delay_seconds', 3) }} as avg_ingest_delay_seconds,
        {{ round_float('max_ingest_delay_seconds', 3) }} as max_ingest_delay_seconds,
        {{ dq_checked_at() }} as checked_at,
        {{ round_float(seconds_between('last_ingested_at', dq_checked_at()), 3) }} as freshness_lag_seconds,
        (duplicate_key_count + null_required_count + out_of_range_count) = 0 as is_clean
    from windows

)

select * from final
