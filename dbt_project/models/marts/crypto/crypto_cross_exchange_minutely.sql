{#-
    Per coin, quote currency and UTC minute, across the exchanges that reported a price in that
    minute (var crypto_aggregate_venues, CoinGecko, excluded: not a market): how many reported, the
    cheapest and the dearest venue by last price and the spread between them in basis points of the
    cheaper, the best bid and best ask across venues (and whether they cross), and the aggregate's
    price of the same minute as a reference. Ties go to the venue first in alphabetical order.
-#}
{%- set aggregates = var('crypto_aggregate_venues') -%}
{%- set coin_minute = 'partition by coin_id, vs_currency, minute_start' -%}

with

minutes as (

    select * from {{ ref('int_crypto_venue_prices_minutely') }}

),

exchanges as (

    select
        minutes.*,
        row_number() over ({{ coin_minute }} order by price, venue) as cheapest_rank,
        row_number() over ({{ coin_minute }} order by price desc, venue) as dearest_rank,
        row_number() over ({{ coin_minute }} order by bid desc nulls last, venue) as bid_rank,
        row_number() over ({{ coin_minute }} order by ask nulls last, venue) as ask_rank
    from minutes
    where {{ crypto_is_exchange('venue') }}

),

across_venues as (

    select
        coin_id,
        vs_currency,
        minute_start,
        max(symbol) as symbol,
        count(*) as venue_count,
        max(case when cheapest_rank = 1 then venue end) as cheapest_venue,
        min(price) as cheapest_price,
        max(case when dearest_rank = 1 then venue end) as dearest_venue,
        max(price) as dearest_price,
        max(case when bid_rank = 1 and bid is not null then venue end) as best_bid_venue,
        max(bid) as best_bid,
        max(case when ask_rank = 1 and ask is not null then venue end) as best_ask_venue,
        min(ask) as best_ask,
        max(last_priced_at) as last_priced_at,
        max(last_ingested_at) as last_ingested_at
    from exchanges
    group by coin_id, vs_currency, minute_start

),

reference as (

    select coin_id, vs_currency, minute_start, price as reference_price
    from minutes
    {% if aggregates %}
    where venue = '{{ aggregates[0] }}'
    {% else %}
    where 1 = 0
    {% endif %}

),

final as (

    select
        across_venues.coin_id,
        across_venues.vs_currency,
        across_venues.symbol,
        across_venues.minute_start,
        across_venues.venue_count,
        across_venues.cheapest_venue,
        across_venues.cheapest_price,
        across_venues.dearest_venue,
        across_venues.dearest_price,
        case
            when across_venues.venue_count >= 2
                then {{ round_float(safe_divide('across_venues.dearest_price - across_venues.cheapest_price', 'across_venues.cheapest_price') ~ ' * 10000', 4) }}
        end as spread_bps,
        across_venues.best_bid_venue,
        across_venues.best_bid,
        across_venues.best_ask_venue,
        across_venues.best_ask,
        across_venues.best_bid > across_venues.best_ask as is_crossed,
        reference.reference_price,
        across_venues.last_priced_at,
        across_venues.last_ingested_at
    from across_venues
    left join reference
        on across_venues.coin_id = reference.coin_id
        and across_venues.vs_currency = reference.vs_currency
        and across_venues.minute_start = reference.minute_start

)

select * from final
