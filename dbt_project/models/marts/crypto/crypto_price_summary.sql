{#-
    Per venue, coin, quote currency and window (hour and day): OHLC, average, % change, realized
    volatility and a moving-average trend signal. The grain includes the venue because OHLC,
    returns and volatility describe one price series: across venues they would measure the spread
    between markets (see the model's YAML). CoinGecko's aggregate is the series of venue
    'coingecko', the whole content of this mart before exchanges were added. Moving averages run over the window closes of the
    same grain, the short one over var trend_short_periods windows and the long one over
    var trend_long_periods (fewer at the start of the series). The trend is 'up' when the short
    average is more than var trend_flat_threshold_pct percent above the long one, 'down' when it is
    that far below, 'flat' otherwise, and NULL until the long average spans its full window count.
-#}
{%- set short_periods = var('trend_short_periods') | int -%}
{%- set long_periods = var('trend_long_periods') | int -%}
{%- set flat_threshold = var('trend_flat_threshold_pct') | float / 100 -%}

with

windows as (

    select * from {{ ref('int_crypto_prices_windowed') }}

),

with_history as (

    select
        windows.*,
        lag(close_price) over series as previous_close_price,
        avg(close_price) over (series rows between {{ short_periods - 1 }} preceding and current row)
            as ma_short,
        avg(close_price) over (series rows between {{ long_periods - 1 }} preceding and current row)
            as ma_long,
        count(*) over (series rows between {{ long_periods - 1 }} preceding and current row)
            as ma_long_periods
    from windows
    window series as (partition by venue, coin_id, vs_currency, window_grain order by window_start)

),

final as (

    select
        venue,
        coin_id,
        vs_currency,
        symbol,
        window_grain,
        window_start,
        {{ window_end_by_grain('window_grain', 'window_start', var('crypto_window_grains')) }} as window_end,
        open_price,
        high_price,
        low_price,
        close_price,
        avg_price,
        observation_count,
        {{ round_float(safe_divide('close_price - open_price', 'open_price') ~ ' * 100', 4) }} as change_pct,
        previous_close_price,
        {{ round_float(safe_divide('close_price - previous_close_price', 'previous_close_price') ~ ' * 100', 4) }}
            as change_vs_previous_pct,
        realized_volatility,
        return_count,
        cast(ma_short as float8) as ma_short,
        cast(ma_long as float8) as ma_long,
        ma_long_periods,
        case
            when ma_long_periods < {{ long_periods }} then null
            when ma_short > ma_long * (1 + {{ flat_threshold }}) then 'up'
            when ma_short < ma_long * (1 - {{ flat_threshold }}) then 'down'
            else 'flat'
        end as trend,
        first_priced_at,
        last_priced_at,
        last_ingested_at
    from with_history

)

select * from final
