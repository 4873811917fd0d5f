with

source as (

    select * from {{ source('weather', 'raw_weather_data') }}

),

renamed as (

    select

        ----------  ids
        ingest_seq,
        natural_key,
        city_id,
        city_name,
        country,
        cast(weather_code as integer) as weather_code,
        condition,
        source as data_source,

        ----------  numerics
        cast(latitude as float8) as latitude,
        cast(longitude as float8) as longitude,
        cast(temperature_c as float8) as temperature_c,
        cast(apparent_temperature_c as float8) as apparent_temperature_c,
        cast(humidity_pct as float8) as humidity_pct,
        cast(pressure_hpa as float8) as pressure_hpa,
        cast(wind_speed_ms as float8) as wind_speed_ms,
        cast(rain_mm as float8) as rain_mm,

        ----------  timestamps
        observed_at,
        produced_at,
        ingested_at

    from source

)

select * from renamed
