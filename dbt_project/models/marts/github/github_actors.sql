{#- One row per GitHub actor: when first and last seen, and lifetime activity. -#}

with

activity as (

    select * from {{ ref('int_github_actor_activity_daily') }}

),

latest_login as (

    select
        actor_id,
        actor_login,
        row_number() over (partition by actor_id order by activity_date desc) as recency_rank
    from activity

),

aggregated as (

    select
        actor_id,
        min(first_event_at) as first_seen_at,
        max(last_event_at) as last_seen_at,
        min(activity_date) as first_seen_date,
        count(*) as active_days,
        cast(sum(event_count) as bigint) as event_count,
        cast(sum(push_count) as bigint) as push_count,
        cast(sum(pull_request_count) as bigint) as pull_request_count,
        cast(sum(issues_count) as bigint) as issues_count
    from activity
    group by actor_id

),

final as (

    select
        aggregated.actor_id,
        latest_login.actor_login,
        aggregated.first_seen_at,
        aggregated.last_seen_at,
        aggregated.first_seen_date,
        aggregated.active_days,
        aggregated.event_count,
        aggregated.push_count,
        aggregated.pull_request_count,
        aggregated.issues_count
    from aggregated
    inner join latest_login
        on aggregated.actor_id = latest_login.actor_id
        and latest_login.recency_rank = 1

)

select * from final
