{{
    config(
        unique_key=['source_name', 'window_grain', 'window_start'],
    )
}}

{#-
    Per raw source and UTC landing window (ingested_at; grains in var dq_window_grains): rows
    landed, duplicate natural keys, rows missing a required field, rows breaking a contract range,
    and the ingest delay (ingested_at - observed_at). Duplicates count every copy of a key beyond
    the first landed one, wherever the first copy landed. Incremental per source: windows touched
    by newly landed rows are recomputed whole.
-#}
{%- set checks = dq_source_checks() -%}
{%- set grains = var('dq_window_grains') -%}

with

{% for check in checks %}
{{ check.source_name }}_rows as (

    select
        '{{ check.source_name }}' as source_name,
        natural_key,
        ingested_at,
        observed_at,
        case
            when {{ check.required | join(' is null or ') }} is null then 1
            else 0
        end as has_null_required,
        case
            when ({{ check.out_of_range | join(') or (') }}) then 1
            else 0
        end as is_out_of_range
    from {{ ref(check.model) }}

),

{% endfor %}
landed_rows as (

    {% for check in checks %}
    select * from {{ check.source_name }}_rows
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

windowed as (

    {% for grain in grains %}
    select
        landed_rows.*,
        '{{ grain }}' as window_grain,
        {{ window_start(grain, 'ingested_at') }} as window_start
    from landed_rows
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

{% if is_incremental() %}
touched_windows as (

    {% for check in checks %}
    select distinct source_name, window_grain, window_start
    from windowed
    where source_name = '{{ check.source_name }}'
        and {{ landed_since_last_run(
            'ingested_at', watermark_where="source_name = '" ~ check.source_name ~ "'"
        ) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),
{% endif %}

in_scope as (

    select windowed.*
    from windowed
    {% if is_incremental() %}
    inner join touched_windows
        on windowed.source_name = touched_windows.source_name
        and windowed.window_grain = touched_windows.window_grain
        and windowed.window_start = touched_windows.window_start
    {% endif %}

),

first_landings as (

    {#- When each natural key in scope first landed, looking at all of the source's rows. -#}
    select
        landed_rows.source_name,
        landed_rows.natural_key,
        min(landed_rows.ingested_at) as first_ingested_at
    from landed_rows
    {% if is_incremental() %}
    inner join (select distinct source_name, natural_key from in_scope) as scoped_keys
        on landed_rows.source_name = scoped_keys.source_name
        and landed_rows.natural_key = scoped_keys.natural_key
    {% endif %}
    group by landed_rows.source_name, landed_rows.natural_key

),

aggregated as (

    select
        in_scope.source_name,
        in_scope.window_grain,
        in_scope.window_start,
        count(*) as row_count,
        count(in_scope.natural_key) - count(distinct case
            when in_scope.ingested_at = first_landings.first_ingested_at then in_scope.natural_key
        end) as duplicate_key_count,
        cast(sum(in_scope.has_null_required) as bigint) as null_required_count,
        cast(sum(in_scope.is_out_of_range) as bigint) as out_of_range_count,
        min(in_scope.ingested_at) as first_ingested_at,
        max(in_scope.ingested_at) as last_ingested_at,
        max(in_scope.observed_at) as last_observed_at,
        cast(avg({{ seconds_between('in_scope.observed_at', 'in_scope.ingested_at') }}) as float8)
            as avg_ingest_delay_seconds,
        max({{ seconds_between('in_scope.observed_at', 'in_scope.ingested_at') }})
            as max_ingest_delay_seconds
    from in_scope
    left join first_landings
        on in_scope.source_name = first_landings.source_name
        and in_scope.natural_key = first_landings.natural_key
    group by in_scope.source_name, in_scope.window_grain, in_scope.window_start

)

select * from aggregated
