-- The hourly and daily landing windows of each source count the same rows and issues per day.
with

windows as (

    select * from {{ ref('dq_source_health') }}

),

hourly as (

    select
        source_name,
        cast(window_start as date) as landing_date,
        sum(row_count) as row_count,
        sum(duplicate_key_count + null_required_count + out_of_range_count) as issue_count
    from windows
    where window_grain = 'hour'
    group by source_name, cast(window_start as date)

),

daily as (

    select
        source_name,
        cast(window_start as date) as landing_date,
        sum(row_count) as row_count,
        sum(duplicate_key_count + null_required_count + out_of_range_count) as issue_count
    from windows
    where window_grain = 'day'
    group by source_name, cast(window_start as date)

)

select
    coalesce(hourly.source_name, daily.source_name) as source_name,
    coalesce(hourly.landing_date, daily.landing_date) as landing_date
from hourly
full outer join daily
    on hourly.source_name = daily.source_name
    and hourly.landing_date = daily.landing_date
where hourly.row_count is distinct from daily.row_count
   or hourly.issue_count is distinct from daily.issue_count
