{#-
    Per city, UTC day and reported condition ('Unknown' when none): observations and their share of
    the city's observations that day.
-#}

with

observations as (

    select * from {{ ref('stg_weather__observations') }}

),

counted as (

    select
        city_id,
        {{ utc_date('observed_at') }} as observed_date,
        coalesce(condition, 'Unknown') as condition,
        count(distinct natural_key) as observation_count
    from observations
    group by city_id, {{ utc_date('observed_at') }}, coalesce(condition, 'Unknown')

),

final as (

    select
        city_id,
        observed_date,
        condition,
        observation_count,
        {{ round_float(
            safe_divide('observation_count', 'sum(observation_count) over (partition by city_id, observed_date)')
            ~ ' * 100', 4
        ) }} as observation_share_pct
    from counted

)

select * from final
