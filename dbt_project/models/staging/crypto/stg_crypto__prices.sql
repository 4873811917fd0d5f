with

source as (

    select * from {{ source('crypto', 'raw_crypto_prices') }}

),

renamed as (

    select

        ----------  ids
        ingest_seq,
        natural_key,
        venue,
        coin_id,
        symbol,
        name as coin_name,
        vs_currency,
        source as data_source,

        ----------  numerics
        cast(price as float8) as price,
        cast(bid as float8) as bid,
        cast(ask as float8) as ask,
        cast(market_cap as float8) as market_cap,
        cast(volume_24h as float8) as volume_24h,
        cast(base_volume_24h as float8) as base_volume_24h,
        cast(high_24h as float8) as high_24h,
        cast(low_24h as float8) as low_24h,
        cast(change_pct_24h as float8) as change_pct_24h,

        ----------  timestamps
        source_updated_at as priced_at,
        observed_at,
        produced_at,
        ingested_at

    from source

)

select * from renamed
