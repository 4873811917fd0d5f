{{
    config(
        unique_key=['venue', 'coin_id', 'vs_currency', 'minute_start'],
    )
}}

{#-
    Per venue, coin, quote currency and UTC minute: the minute's last snapshot (by price time) —
    its price, and its bid and ask, the top of the venue's book as the minute closed — with how many
    snapshots the minute had. Incremental like the other windowed models: minutes touched by newly
    landed rows are recomputed whole from all their rows.
-#}

with

prices as (

    select * from {{ ref('stg_crypto__prices') }}

),

windowed as (

    select
        prices.*,
        {{ window_start('minute', 'priced_at') }} as minute_start
    from prices

),

{% if is_incremental() %}
touched_minutes as (

    select distinct venue, coin_id, vs_currency, minute_start
    from windowed
    where {{ landed_since_last_run('ingested_at') }}

),
{% endif %}

in_scope as (

    select windowed.*
    from windowed
    {% if is_incremental() %}
    inner join touched_minutes
        on windowed.venue = touched_minutes.venue
        and windowed.coin_id = touched_minutes.coin_id
        and windowed.vs_currency = touched_minutes.vs_currency
        and windowed.minute_start = touched_minutes.minute_start
    {% endif %}

),

deduplicated as (

    {#- Every copy of a key has the same price time, so all copies are in scope together. -#}
    select * from {{ deduplicated('in_scope') }} as unique_prices

),

ranked as (

    select
        deduplicated.*,
        row_number() over (
            partition by venue, coin_id, vs_currency, minute_start
            order by priced_at desc, ingest_seq desc
        ) as recency_rank
    from deduplicated

),

aggregated as (

    select
        venue,
        coin_id,
        vs_currency,
        minute_start,
        max(symbol) as symbol,
        max(case when recency_rank = 1 then price end) as price,
        max(case when recency_rank = 1 then bid end) as bid,
        max(case when recency_rank = 1 then ask end) as ask,
        count(*) as observation_count,
        max(priced_at) as last_priced_at,
        max(ingested_at) as last_ingested_at
    from ranked
    group by venue, coin_id, vs_currency, minute_start

)

select * from aggregated
