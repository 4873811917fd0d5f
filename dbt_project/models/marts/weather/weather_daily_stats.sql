{#-
    Per city and UTC day: min/max/average temperature and humidity, rain, and the change of each
    against the previous calendar day (NULL when that day has no observations).
-#}

with

hourly as (

    select * from {{ ref('int_weather_observations_hourly') }}

),

latest_names as (

    select
        city_id,
        city_name,
        country,
        row_number() over (partition by city_id order by observed_hour desc) as recency_rank
    from hourly

),

daily as (

    select
        city_id,
        cast(observed_hour as date) as observed_date,
        cast(sum(observation_count) as bigint) as observation_count,
        min(min_temperature_c) as min_temperature_c,
        max(max_temperature_c) as max_temperature_c,
        {{ safe_divide('sum(temperature_sum_c)', 'sum(temperature_count)') }} as avg_temperature_c,
        min(min_humidity_pct) as min_humidity_pct,
        max(max_humidity_pct) as max_humidity_pct,
        {{ safe_divide('sum(humidity_sum_pct)', 'sum(humidity_count)') }} as avg_humidity_pct,
        max(max_wind_speed_ms) as max_wind_speed_ms,
        cast(sum(total_rain_mm) as float8) as total_rain_mm
    from hourly
    group by city_id, cast(observed_hour as date)

),

final as (

    select
        daily.city_id,
        daily.observed_date,
        latest_names.city_name,
        latest_names.country,
        daily.observation_count,
        daily.min_temperature_c,
        daily.max_temperature_c,
        {{ round_float('daily.avg_temperature_c', 2) }} as avg_temperature_c,
        daily.min_humidity_pct,
        daily.max_humidity_pct,
        {{ round_float('daily.avg_humidity_pct', 2) }} as avg_humidity_pct,
        daily.max_wind_speed_ms,
        daily.total_rain_mm,
        {{ round_float('daily.avg_temperature_c - previous_day.avg_temperature_c', 2) }}
            as avg_temperature_change_c,
        {{ round_float('daily.max_temperature_c - previous_day.max_temperature_c', 2) }}
            as max_temperature_change_c,
        {{ round_float('daily.min_temperature_c - previous_day.min_temperature_c', 2) }}
            as min_temperature_change_c,
        {{ round_float('daily.avg_humidity_pct - previous_day.avg_humidity_pct', 2) }}
            as avg_humidity_change_pct
    from daily
    inner join latest_names
        on daily.city_id = latest_names.city_id
        and latest_names.recency_rank = 1
    left join daily as previous_day
        on daily.city_id = previous_day.city_id
        and previous_day.observed_date = daily.observed_date - 1

)

select * from final
