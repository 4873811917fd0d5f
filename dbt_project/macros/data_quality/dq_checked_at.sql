{#-
    The "now" that data-quality freshness figures are measured against: the build's current
    timestamp, or the `dq_as_of` var (an ISO timestamp with zone) for reproducible runs and unit
    tests, e.g. --vars '{dq_as_of: "2026-01-01T12:00:00+00:00"}'.
-#}
{% macro dq_checked_at() -%}
    {%- if var('dq_as_of', none) -%}
        cast('{{ var("dq_as_of") }}' as timestamptz)
    {%- else -%}
        cast(current_timestamp as timestamptz)
    {%- endif -%}
{%- endmacro %}
