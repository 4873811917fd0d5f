{{
    config(
        unique_key=['repo_id', 'activity_date'],
    )
}}

{#-
    Per repository and UTC day: events by family, distinct actors and the name used last that day.
    Incremental: days touched by newly landed events are recomputed whole (github_daily_events,
    shared with int_github_actor_activity_daily).
-#}

with

events as (

    {{ github_daily_events('repo_id', 'repo_name') }}

),

aggregated as (

    select
        repo_id,
        activity_date,
        max(latest_name) as repo_name,
        count(*) as event_count,
        count(distinct actor_id) as actor_count,
        {{ github_family_counts(['push', 'pull_request', 'issues', 'star', 'fork']) }},
        max(ingested_at) as last_ingested_at
    from events
    group by repo_id, activity_date

)

select * from aggregated
