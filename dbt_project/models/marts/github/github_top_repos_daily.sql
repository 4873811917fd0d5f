{#-
    The var github_top_n most active repositories per UTC day by event count. `repo_rank` is the
    position (1 = most events; ties broken by name, so ranks are unique per day).
-#}

with

activity as (

    select * from {{ ref('int_github_repo_activity_daily') }}

),

ranked as (

    select
        activity.*,
        row_number() over (
            partition by activity_date
            order by event_count desc, repo_name, repo_id
        ) as repo_rank,
        sum(event_count) over (partition by activity_date) as day_event_count
    from activity

),

final as (

    select
        activity_date,
        cast(repo_rank as integer) as repo_rank,
        repo_id,
        repo_name,
        event_count,
        {{ round_float(safe_divide('event_count', 'day_event_count') ~ ' * 100', 4) }} as event_share_pct,
        actor_count,
        push_count,
        pull_request_count,
        issues_count,
        star_count,
        fork_count
    from ranked
    where repo_rank <= {{ var('github_top_n') | int }}

)

select * from final
