{#- Numeric helpers whose SQL differs between PostgreSQL and DuckDB. -#}

{#-
    Round a double to `digits` decimals and keep it a double. PostgreSQL has round(numeric, int)
    only (round(double precision, int) does not exist), DuckDB rounds doubles directly. Results are
    the double nearest the decimal value on both, so unit tests can compare them exactly.
-#}
{% macro round_float(expression, digits) -%}
    {{ return(adapter.dispatch('round_float', 'datastack')(expression, digits)) }}
{%- endmacro %}

{% macro default__round_float(expression, digits) -%}
    cast(round(cast({{ expression }} as numeric), {{ digits }}) as float8)
{%- endmacro %}

{% macro duckdb__round_float(expression, digits) -%}
    round(cast({{ expression }} as double), {{ digits }})
{%- endmacro %}


{#-
    Division as doubles, null when the denominator is 0 or null. PostgreSQL divides integers as
    integers (7 / 2 = 3) while DuckDB's `/` always returns a double, so both sides are cast.
-#}
{% macro safe_divide(numerator, denominator) -%}
    {{ return(adapter.dispatch('safe_divide', 'datastack')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__safe_divide(numerator, denominator) -%}
    (cast({{ numerator }} as float8) / nullif(cast({{ denominator }} as float8), 0))
{%- endmacro %}


{#- Continuous median as a double; PostgreSQL has no median(), only the ordered-set aggregate. -#}
{% macro median(expression) -%}
    {{ return(adapter.dispatch('median', 'datastack')(expression)) }}
{%- endmacro %}

{% macro default__median(expression) -%}
    cast(percentile_cont(0.5) within group (order by {{ expression }}) as float8)
{%- endmacro %}


{#-
    Natural-log return between two positive values, NULL otherwise: ln() of a non-positive number
    raises on PostgreSQL but returns NULL/-inf on DuckDB, so the guard keeps both the same.
-#}
{% macro log_return(current_value, previous_value) -%}
    {{ return(adapter.dispatch('log_return', 'datastack')(current_value, previous_value)) }}
{%- endmacro %}

{% macro default__log_return(current_value, previous_value) -%}
    case
        when {{ current_value }} > 0 and {{ previous_value }} > 0
            then ln(cast({{ current_value }} as float8) / cast({{ previous_value }} as float8))
    end
{%- endmacro %}
