{{
    config(
        unique_key=['actor_id', 'activity_date'],
    )
}}

{#-
    Per actor and UTC day: event counts by family, distinct repositories and the login used last
    that day. Incremental: days touched by newly landed events are recomputed whole
    (github_daily_events, shared with int_github_repo_activity_daily).
-#}

with

events as (

    {{ github_daily_events('actor_id', 'actor_login') }}

),

aggregated as (

    select
        actor_id,
        activity_date,
        max(latest_name) as actor_login,
        count(*) as event_count,
        {{ github_family_counts(['push', 'pull_request', 'issues']) }},
        count(distinct repo_id) as repo_count,
        min(created_at) as first_event_at,
        max(created_at) as last_event_at,
        max(ingested_at) as last_ingested_at
    from events
    group by actor_id, activity_date

)

select * from aggregated
