-- The cross-exchange mart against the per-venue mart it summarises: per coin and minute, the same
-- number of exchanges, the cheapest and dearest prices are theirs and in order, and the named
-- venues quote those prices.
with

exchanges as (

    select coin_id, vs_currency, minute_start, count(*) as venue_count,
        min(price) as cheapest_price, max(price) as dearest_price
    from {{ ref('crypto_venue_prices_minutely') }}
    where is_exchange
    group by coin_id, vs_currency, minute_start

),

named as (

    select cross_exchange.coin_id, cross_exchange.vs_currency, cross_exchange.minute_start,
        cheapest.price as cheapest_venue_price, dearest.price as dearest_venue_price
    from {{ ref('crypto_cross_exchange_minutely') }} as cross_exchange
    left join {{ ref('crypto_venue_prices_minutely') }} as cheapest
        on cheapest.venue = cross_exchange.cheapest_venue
        and cheapest.coin_id = cross_exchange.coin_id
        and cheapest.vs_currency = cross_exchange.vs_currency
        and cheapest.minute_start = cross_exchange.minute_start
    left join {{ ref('crypto_venue_prices_minutely') }} as dearest
        on dearest.venue = cross_exchange.dearest_venue
        and dearest.coin_id = cross_exchange.coin_id
        and dearest.vs_currency = cross_exchange.vs_currency
        and dearest.minute_start = cross_exchange.minute_start

)

select cross_exchange.coin_id, cross_exchange.vs_currency, cross_exchange.minute_start
from {{ ref('crypto_cross_exchange_minutely') }} as cross_exchange
full outer join exchanges
    on exchanges.coin_id = cross_exchange.coin_id
    and exchanges.vs_currency = cross_exchange.vs_currency
    and exchanges.minute_start = cross_exchange.minute_start
left join named
    on named.coin_id = cross_exchange.coin_id
    and named.vs_currency = cross_exchange.vs_currency
    and named.minute_start = cross_exchange.minute_start
where cross_exchange.coin_id is null
   or exchanges.coin_id is null
   or cross_exchange.venue_count <> exchanges.venue_count
   or cross_exchange.cheapest_price <> exchanges.cheapest_price
   or cross_exchange.dearest_price <> exchanges.dearest_price
   or cross_exchange.cheapest_price > cross_exchange.dearest_price
   or named.cheapest_venue_price is distinct from cross_exchange.cheapest_price
   or named.dearest_venue_price is distinct from cross_exchange.dearest_price
