{#-
    The var github_top_n most active actors per UTC day by event count. `actor_rank` is the
    position (1 = most events; ties broken by login, so ranks are unique per day).
-#}

with

activity as (

    select * from {{ ref('int_github_actor_activity_daily') }}

),

ranked as (

    select
        activity.*,
        row_number() over (
            partition by activity_date
            order by event_count desc, actor_login, actor_id
        ) as actor_rank,
        sum(event_count) over (partition by activity_date) as day_event_count
    from activity

),

final as (

    select
        activity_date,
        cast(actor_rank as integer) as actor_rank,
        actor_id,
        actor_login,
        event_count,
        {{ round_float(safe_divide('event_count', 'day_event_count') ~ ' * 100', 4) }} as event_share_pct,
        push_count,
        pull_request_count,
        issues_count,
        repo_count,
        first_event_at,
        last_event_at
    from ranked
    where actor_rank <= {{ var('github_top_n') | int }}

)

select * from final
