-- Every window's open, close and average lie between its low and high.
select venue, coin_id, vs_currency, window_grain, window_start
from {{ ref('crypto_price_summary') }}
where low_price > high_price
   or open_price not between low_price and high_price
   or close_price not between low_price and high_price
   or avg_price < low_price * (1 - 1e-12)
   or avg_price > high_price * (1 + 1e-12)
