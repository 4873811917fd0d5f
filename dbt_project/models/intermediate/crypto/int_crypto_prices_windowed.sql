{{
    config(
        unique_key=['venue', 'coin_id', 'vs_currency', 'window_grain', 'window_start'],
    )
}}

{#-
    Per venue, coin, quote currency and UTC window (one row per grain in var crypto_window_grains):
    OHLC, average, observation count and realized volatility (sample stddev of the log returns
    between consecutive prices inside the window). One series per venue: a return between a
    Kraken trade and a Coinbase trade would be the spread between two markets, not a price move.
    Incremental: windows touched by newly landed rows are recomputed whole from all their rows
    (see landed_since_last_run).
-#}
{%- set grains = var('crypto_window_grains') -%}

with

prices as (

    select * from {{ ref('stg_crypto__prices') }}

),

windowed as (

    {% for grain in grains %}
    select
        prices.*,
        '{{ grain }}' as window_grain,
        {{ window_start(grain, 'priced_at') }} as window_start
    from prices
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

{% if is_incremental() %}
touched_windows as (

    select distinct venue, coin_id, vs_currency, window_grain, window_start
    from windowed
    where {{ landed_since_last_run('ingested_at') }}

),
{% endif %}

in_scope as (

    select windowed.*
    from windowed
    {% if is_incremental() %}
    inner join touched_windows
        on windowed.venue = touched_windows.venue
        and windowed.coin_id = touched_windows.coin_id
        and windowed.vs_currency = touched_windows.vs_currency
        and windowed.window_grain = touched_windows.window_grain
        and windowed.window_start = touched_windows.window_start
    {% endif %}

),

deduplicated as (

    {#- Every copy of a key has the same price time, so all copies are in scope together. -#}
    select * from {{ deduplicated('in_scope', key='natural_key, window_grain') }} as unique_prices

),

sequenced as (

    select
        venue,
        coin_id,
        vs_currency,
        symbol,
        window_grain,
        window_start,
        price,
        priced_at,
        ingested_at,
        row_number() over window_ascending as position_ascending,
        row_number() over (
            partition by venue, coin_id, vs_currency, window_grain, window_start
            order by priced_at desc, ingest_seq desc
        ) as position_descending,
        {{ log_return('price', 'lag(price) over window_ascending') }} as log_return
    from deduplicated
    window window_ascending as (
        partition by venue, coin_id, vs_currency, window_grain, window_start
        order by priced_at, ingest_seq
    )

),

aggregated as (

    select
        venue,
        coin_id,
        vs_currency,
        window_grain,
        window_start,
        max(symbol) as symbol,
        max(case when position_ascending = 1 then price end) as open_price,
        max(price) as high_price,
        min(price) as low_price,
        max(case when position_descending = 1 then price end) as close_price,
        cast(avg(price) as float8) as avg_price,
        count(*) as observation_count,
        count(log_return) as return_count,
        {{ round_float('stddev_samp(log_return)', 8) }} as realized_volatility,
        min(priced_at) as first_priced_at,
        max(priced_at) as last_priced_at,
        max(ingested_at) as last_ingested_at
    from sequenced
    group by venue, coin_id, vs_currency, window_grain, window_start

)

select * from aggregated
