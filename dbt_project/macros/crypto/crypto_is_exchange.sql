{#-
    True when `venue` is an exchange (a market with a book), false for the aggregates listed in
    var crypto_aggregate_venues (CoinGecko): an aggregate's price is not one a trader could get.
-#}
{% macro crypto_is_exchange(venue) -%}
    {%- set aggregates = var('crypto_aggregate_venues') -%}
    {%- if aggregates -%}
        ({{ venue }} not in ({% for v in aggregates %}'{{ v }}'{% if not loop.last %}, {% endif %}{% endfor %}))
    {%- else -%}
        (1 = 1)
    {%- endif -%}
{%- endmacro %}
