{#- Per city and UTC hour: temperature and humidity statistics, wind and rain. -#}

with

hourly as (

    select * from {{ ref('int_weather_observations_hourly') }}

),

final as (

    select
        city_id,
        observed_hour,
        {{ window_end('hour', 'observed_hour') }} as observed_hour_end,
        city_name,
        country,
        observation_count,
        {{ round_float('avg_temperature_c', 2) }} as avg_temperature_c,
        min_temperature_c,
        max_temperature_c,
        {{ round_float('median_temperature_c', 2) }} as median_temperature_c,
        {{ round_float('avg_humidity_pct', 2) }} as avg_humidity_pct,
        min_humidity_pct,
        max_humidity_pct,
        max_wind_speed_ms,
        total_rain_mm
    from hourly

)

select * from final
