{#-
    Per UTC day: active actors split into new ones (first seen that day, across all history) and
    returning ones (first seen on an earlier day).
-#}

with

activity as (

    select * from {{ ref('int_github_actor_activity_daily') }}

),

with_first_seen as (

    select
        activity_date,
        actor_id,
        min(activity_date) over (partition by actor_id) as first_seen_date
    from activity

),

final as (

    select
        activity_date,
        count(*) as active_actors,
        count(case when activity_date = first_seen_date then 1 end) as new_actors,
        count(case when activity_date > first_seen_date then 1 end) as returning_actors,
        {{ round_float(
            safe_divide('count(case when activity_date = first_seen_date then 1 end)', 'count(*)') ~ ' * 100',
            4
        ) }} as new_actor_share_pct
    from with_first_seen
    group by activity_date

)

select * from final
