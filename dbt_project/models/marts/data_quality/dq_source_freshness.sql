{#-
    One row per raw source (all of them, even with no rows yet): totals, when the newest row landed
    and was observed, the freshness lag as of `checked_at`, and a status against
    var dq_freshness_warn_after_minutes / dq_freshness_error_after_minutes ('ok', 'warn', 'error',
    or 'no_data'). Rows landed in the last hour and day come from the hourly windows that started
    within that span.
-#}
{%- set warn_seconds = var('dq_freshness_warn_after_minutes') | int * 60 -%}
{%- set error_seconds = var('dq_freshness_error_after_minutes') | int * 60 -%}

with

windows as (

    select * from {{ ref('int_dq_source_windows') }}
    where window_grain = 'hour'

),

sources as (

    {% for check in dq_source_checks() %}
    select cast('{{ check.source_name }}' as text) as source_name
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

checked as (

    select {{ dq_checked_at() }} as checked_at

),

per_source as (

    select
        windows.source_name,
        cast(sum(windows.row_count) as bigint) as row_count,
        cast(sum(windows.duplicate_key_count) as bigint) as duplicate_key_count,
        cast(sum(windows.null_required_count) as bigint) as null_required_count,
        cast(sum(windows.out_of_range_count) as bigint) as out_of_range_count,
        cast(sum(case
            when windows.window_start >= {{ window_start('hour', 'checked.checked_at') }} - interval '1 hour'
                then windows.row_count
            else 0
        end) as bigint) as rows_last_hour,
        cast(sum(case
            when windows.window_start >= {{ window_start('hour', 'checked.checked_at') }} - interval '24 hours'
                then windows.row_count
            else 0
        end) as bigint) as rows_last_day,
        max(windows.last_ingested_at) as last_ingested_at,
        max(windows.last_observed_at) as last_observed_at
    from windows
    cross join checked
    group by windows.source_name

),

final as (

    select
        sources.source_name,
        coalesce(per_source.row_count, 0) as row_count,
        coalesce(per_source.duplicate_key_count, 0) as duplicate_key_count,
        coalesce(per_source.null_required_count, 0) as null_required_count,
        coalesce(per_source.out_of_range_count, 0) as out_of_range_count,
        coalesce(per_source.rows_last_hour, 0) as rows_last_hour,
        coalesce(per_source.rows_last_day, 0) as rows_last_day,
        per_source.last_ingested_at,
        per_source.last_observed_at,
        checked.checked_at,
        {{ round_float(seconds_between('per_source.last_ingested_at', 'checked.checked_at'), 3) }}
            as freshness_lag_seconds,
        {{ warn_seconds }} as warn_after_seconds,
        {{ error_seconds }} as error_after_seconds,
        case
            when per_source.last_ingested_at is null then 'no_data'
            when {{ seconds_between('per_source.last_ingested_at', 'checked.checked_at') }} > {{ error_seconds }}
                then 'error'
            when {{ seconds_between('per_source.last_ingested_at', 'checked.checked_at') }} > {{ warn_seconds }}
                then 'warn'
            else 'ok'
        end as freshness_status
    from sources
    cross join checked
    left join per_source
        on sources.source_name = per_source.source_name

)

select * from final
