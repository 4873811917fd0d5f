{#-
    The deduplicated GitHub events behind a daily per-entity model (per actor, per repository), one
    row per natural key, with `activity_date` (UTC day of created_at), `event_category` and
    `latest_name`: `name_column` on the entity's last event of that day (by created_at, then
    ingest_seq). Incremental runs keep only the (entity, day) windows touched by events that landed
    since the last run, and recompute those whole. The two models share this; each keeps its own
    measures.
-#}
{% macro github_daily_events(entity_key, name_column) -%}
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

        select distinct {{ entity_key }}, activity_date
        from events_windowed
        where {{ landed_since_last_run('ingested_at') }}

    ),
    {% endif %}

    in_scope as (

        select events_windowed.*
        from events_windowed
        {% if is_incremental() %}
        inner join touched_days
            on events_windowed.{{ entity_key }} = touched_days.{{ entity_key }}
            and events_windowed.activity_date = touched_days.activity_date
        {% endif %}

    )

    {#- All copies of a key share its event time, so they are in scope together. -#}
    select
        unique_events.*,
        first_value({{ name_column }}) over (
            partition by {{ entity_key }}, activity_date
            order by created_at desc, ingest_seq desc
        ) as latest_name
    from {{ deduplicated('in_scope') }} as unique_events
{%- endmacro %}


{#- `count(case when event_category = '<family>' then 1 end) as <family>_count` per family. -#}
{% macro github_family_counts(families) -%}
    {%- for family in families %}
        count(case when event_category = '{{ family }}' then 1 end) as {{ family }}_count
        {%- if not loop.last %},{% endif %}
    {%- endfor %}
{%- endmacro %}
