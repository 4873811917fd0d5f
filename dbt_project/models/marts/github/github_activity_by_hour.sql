{#-
    Activity profile by UTC hour of day (all 24 hours, zeros where nothing happened): events,
    the average per observed day, and the share of all events.
-#}

with

hourly as (

    select * from {{ ref('int_github_events_hourly') }}

),

hours as (

    select * from {{ integer_series(0, 23, 'hour_of_day') }} as all_hours

),

per_hour as (

    select
        cast(extract(hour from activity_hour) as integer) as hour_of_day,
        cast(sum(event_count) as bigint) as event_count,
        count(distinct cast(activity_hour as date)) as active_days
    from hourly
    group by cast(extract(hour from activity_hour) as integer)

),

observed_days as (

    select count(distinct cast(activity_hour as date)) as day_count
    from hourly

),

final as (

    select
        hours.hour_of_day,
        coalesce(per_hour.event_count, 0) as event_count,
        coalesce(per_hour.active_days, 0) as active_days,
        coalesce(
            {{ round_float(safe_divide('per_hour.event_count', 'observed_days.day_count'), 4) }}, 0
        ) as avg_events_per_day,
        coalesce(
            {{ round_float(
                safe_divide('per_hour.event_count', 'sum(per_hour.event_count) over ()') ~ ' * 100', 4
            ) }}, 0
        ) as event_share_pct
    from hours
    cross join observed_days
    left join per_hour
        on hours.hour_of_day = per_hour.hour_of_day

)

select * from final
