{{
    config(
        unique_key=['activity_hour', 'event_type'],
    )
}}

{#-
    Per UTC hour and event type: events, distinct actors and repositories. Feeds the event-type mix
    and the hour-of-day profile. Incremental: hours touched by newly landed events are recomputed
    whole (every event type of a touched hour).
-#}

with

events as (

    select * from {{ ref('stg_github__events') }}

),

events_windowed as (

    select
        events.*,
        {{ window_start('hour', 'created_at') }} as activity_hour
    from events

),

{% if is_incremental() %}
touched_hours as (

    select distinct activity_hour
    from events_windowed
    where {{ landed_since_last_run('ingested_at') }}

),
{% endif %}

in_scope as (

    select events_windowed.*
    from events_windowed
    {% if is_incremental() %}
    inner join touched_hours
        on events_windowed.activity_hour = touched_hours.activity_hour
    {% endif %}

),

deduplicated as (

    {#- All copies of a key share its event time, so they are in scope together. -#}
    select
        unique_events.*
    from {{ deduplicated('in_scope') }} as unique_events

),

aggregated as (

    select
        activity_hour,
        event_type,
        max({{ github_event_category('event_type') }}) as event_category,
        count(*) as event_count,
        count(distinct actor_id) as actor_count,
        count(distinct repo_id) as repo_count,
        max(ingested_at) as last_ingested_at
    from deduplicated
    group by activity_hour, event_type

)

select * from aggregated
