{{
    config(
        unique_key=['city_id', 'observed_hour'],
    )
}}

{#-
    Per city and UTC hour: temperature and humidity statistics plus the sums and counts that let
    daily figures be rolled up exactly (daily average = sum / count, not an average of averages).
    Incremental: hours touched by newly landed observations are recomputed whole.
-#}

with

observations as (

    select * from {{ ref('stg_weather__observations') }}

),

observations_windowed as (

    select
        observations.*,
        {{ window_start('hour', 'observed_at') }} as observed_hour
    from observations

),

{% if is_incremental() %}
touched_hours as (

    select distinct city_id, observed_hour
    from observations_windowed
    where {{ landed_since_last_run('ingested_at') }}

),
{% endif %}

in_scope as (

    select observations_windowed.*
    from observations_windowed
    {% if is_incremental() %}
    inner join touched_hours
        on observations_windowed.city_id = touched_hours.city_id
        and observations_windowed.observed_hour = touched_hours.observed_hour
    {% endif %}

),

deduplicated as (

    {#- All copies of a key share its event time, so they are in scope together. -#}
    select
        unique_observations.*,
        first_value(city_name) over (
            partition by city_id, observed_hour
            order by observed_at desc, ingest_seq desc
        ) as latest_city_name,
        first_value(country) over (
            partition by city_id, observed_hour
            order by observed_at desc, ingest_seq desc
        ) as latest_country
    from {{ deduplicated('in_scope') }} as unique_observations

),

aggregated as (

    select
        city_id,
        observed_hour,
        max(latest_city_name) as city_name,
        max(latest_country) as country,
        count(*) as observation_count,
        count(temperature_c) as temperature_count,
        cast(sum(temperature_c) as float8) as temperature_sum_c,
        cast(avg(temperature_c) as float8) as avg_temperature_c,
        min(temperature_c) as min_temperature_c,
        max(temperature_c) as max_temperature_c,
        {{ median('temperature_c') }} as median_temperature_c,
        count(humidity_pct) as humidity_count,
        cast(sum(humidity_pct) as float8) as humidity_sum_pct,
        cast(avg(humidity_pct) as float8) as avg_humidity_pct,
        min(humidity_pct) as min_humidity_pct,
        max(humidity_pct) as max_humidity_pct,
        max(wind_speed_ms) as max_wind_speed_ms,
        cast(sum(rain_mm) as float8) as total_rain_mm,
        max(ingested_at) as last_ingested_at
    from deduplicated
    group by city_id, observed_hour

)

select * from aggregated
