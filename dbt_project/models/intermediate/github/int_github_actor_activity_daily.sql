{{
    config(
        unique_key=['actor_id', 'activity_date'],
    )
}}

{#-
    Per actor and UTC day: event counts by family, distinct repositories and the login used last
    that day. Incremental: days touched by newly landed events are recomputed whole.
-#}

with

events as (

    select * from {{ ref('stg_github__events') }}

),

events_windowed as (

    select
        events.*,
        {{ utc_date('created_at') }} as activity_date,
        {{ github_event_category('event_type') }} as event_category
    from events

),

{% if is_incremental() %}
touched_days as (

    select distinct actor_id, activity_date
    from events_windowed
    where {{ landed_since_last_run('ingested_at') }}

),
{% endif %}

in_scope as (

    select events_windowed.*
    from events_windowed
    {% if is_incremental() %}
    inner join touched_days
        on events_windowed.actor_id = touched_days.actor_id
        and events_windowed.activity_date = touched_days.activity_date
    {% endif %}

),

deduplicated as (

    {#- All copies of a key share its event time, so they are in scope together. -#}
    select
        unique_events.*,
        first_value(actor_login) over (
            partition by actor_id, activity_date
            order by created_at desc, ingest_seq desc
        ) as latest_login
    from {{ deduplicated('in_scope') }} as unique_events

),

aggregated as (

    select
        actor_id,
        activity_date,
        max(latest_login) as actor_login,
        count(*) as event_count,
        count(case when event_category = 'push' then 1 end) as push_count,
        count(case when event_category = 'pull_request' then 1 end) as pull_request_count,
        count(case when event_category = 'issues' then 1 end) as issues_count,
        count(distinct repo_id) as repo_count,
        min(created_at) as first_event_at,
        max(created_at) as last_event_at,
        max(ingested_at) as last_ingested_at
    from deduplicated
    group by actor_id, activity_date

)

select * from aggregated
