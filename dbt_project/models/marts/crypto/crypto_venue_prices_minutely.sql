{#-
    Per venue, coin, quote currency and UTC minute: the minute's last price, best bid and ask at
    the venue, and the venue's own bid/ask spread in basis points of the mid.
-#}

with

minutes as (

    select * from {{ ref('int_crypto_venue_prices_minutely') }}

),

final as (

    select
        venue,
        coin_id,
        vs_currency,
        symbol,
        minute_start,
        {{ crypto_is_exchange('venue') }} as is_exchange,
        price,
        bid,
        ask,
        {{ round_float(safe_divide('ask - bid', '(ask + bid) / 2') ~ ' * 10000', 4) }} as bid_ask_spread_bps,
        observation_count,
        last_priced_at,
        last_ingested_at
    from minutes

)

select * from final
