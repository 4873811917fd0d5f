{#- Per UTC day and event type: events and their share of the day's events. -#}

with

hourly as (

    select * from {{ ref('int_github_events_hourly') }}

),

daily as (

    select
        cast(activity_hour as date) as activity_date,
        event_type,
        max(event_category) as event_category,
        cast(sum(event_count) as bigint) as event_count
    from hourly
    group by cast(activity_hour as date), event_type

),

final as (

    select
        activity_date,
        event_type,
        event_category,
        event_count,
        {{ round_float(
            safe_divide('event_count', 'sum(event_count) over (partition by activity_date)') ~ ' * 100', 4
        ) }} as event_share_pct
    from daily

)

select * from final
