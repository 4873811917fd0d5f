{#-
    Per UTC day, the most extreme observation of each kind across all cities: hottest, coldest,
    most and least humid, windiest and wettest. Ties go to the earliest observation.
-#}

{%- set extremes = [
    {'name': 'hottest', 'metric': 'temperature_c', 'direction': 'desc'},
    {'name': 'coldest', 'metric': 'temperature_c', 'direction': 'asc'},
    {'name': 'most_humid', 'metric': 'humidity_pct', 'direction': 'desc'},
    {'name': 'least_humid', 'metric': 'humidity_pct', 'direction': 'asc'},
    {'name': 'windiest', 'metric': 'wind_speed_ms', 'direction': 'desc'},
    {'name': 'wettest', 'metric': 'rain_mm', 'direction': 'desc'},
] -%}

with

observations as (

    select
        weather_observations.*,
        {{ utc_date('observed_at') }} as observed_date
    from {{ ref('stg_weather__observations') }} as weather_observations

),

ranked as (

    {% for extreme in extremes %}
    select
        observed_date,
        '{{ extreme.name }}' as extreme,
        '{{ extreme.metric }}' as metric,
        city_id,
        city_name,
        cast({{ extreme.metric }} as float8) as metric_value,
        observed_at,
        row_number() over (
            partition by observed_date
            order by {{ extreme.metric }} {{ extreme.direction }}, observed_at, city_id
        ) as extreme_rank
    from observations
    where {{ extreme.metric }} is not null
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        observed_date,
        extreme,
        metric,
        city_id,
        city_name,
        metric_value,
        observed_at
    from ranked
    where extreme_rank = 1

)

select * from final
