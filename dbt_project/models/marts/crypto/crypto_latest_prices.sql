{#-
    The latest price snapshot per venue, coin and quote currency, with the venue's own 24-hour
    figures, its best bid and ask, and the change against the venue's most recent snapshot at least
    an hour older (one venue's price against another's would be the spread, not a change).
-#}

with

prices as (

    select * from {{ ref('stg_crypto__prices') }}

),

ranked as (

    select
        prices.*,
        row_number() over (
            partition by venue, coin_id, vs_currency
            order by priced_at desc, ingest_seq desc
        ) as recency_rank
    from prices

),

latest as (

    select * from ranked where recency_rank = 1

),

hour_ago as (

    {#- The newest snapshot at least an hour older than the latest one, per venue and coin. -#}
    select
        ranked.venue,
        ranked.coin_id,
        ranked.vs_currency,
        ranked.price,
        row_number() over (
            partition by ranked.venue, ranked.coin_id, ranked.vs_currency
            order by ranked.priced_at desc, ranked.ingest_seq desc
        ) as age_rank
    from ranked
    inner join latest
        on ranked.venue = latest.venue
        and ranked.coin_id = latest.coin_id
        and ranked.vs_currency = latest.vs_currency
    where ranked.priced_at <= latest.priced_at - interval '1 hour'

),

final as (

    select
        latest.venue,
        latest.coin_id,
        latest.vs_currency,
        latest.symbol,
        latest.coin_name,
        latest.price,
        latest.bid,
        latest.ask,
        latest.market_cap,
        latest.volume_24h,
        latest.base_volume_24h,
        latest.high_24h,
        latest.low_24h,
        latest.change_pct_24h,
        hour_ago.price as price_1h_ago,
        {{ round_float(safe_divide('latest.price - hour_ago.price', 'hour_ago.price') ~ ' * 100', 4) }}
            as change_pct_1h,
        latest.priced_at,
        latest.ingested_at
    from latest
    left join hour_ago
        on latest.venue = hour_ago.venue
        and latest.coin_id = hour_ago.coin_id
        and latest.vs_currency = hour_ago.vs_currency
        and hour_ago.age_rank = 1

)

select * from final
