{#-
    Time windows. Every window is a UTC calendar window, returned as a timestamp WITHOUT time zone
    holding UTC wall-clock time, so the same row lands in the same window on both adapters whatever
    the session time zone is (PostgreSQL's date_trunc on timestamptz, and DuckDB's with ICU, truncate
    in the session zone; converting to UTC first removes that dependency).
-#}

{% macro window_start(grain, column) -%}
    {{ return(adapter.dispatch('window_start', 'datastack')(grain, column)) }}
{%- endmacro %}

{% macro default__window_start(grain, column) -%}
    cast(date_trunc('{{ grain }}', {{ column }} at time zone 'UTC') as timestamp)
{%- endmacro %}


{% macro window_end(grain, start_column) -%}
    {{ return(adapter.dispatch('window_end', 'datastack')(grain, start_column)) }}
{%- endmacro %}

{% macro default__window_end(grain, start_column) -%}
    cast({{ start_column }} + interval '1 {{ grain }}' as timestamp)
{%- endmacro %}


{#- The UTC calendar date of a timestamptz. -#}
{% macro utc_date(column) -%}
    {{ return(adapter.dispatch('utc_date', 'datastack')(column)) }}
{%- endmacro %}

{% macro default__utc_date(column) -%}
    cast({{ column }} at time zone 'UTC' as date)
{%- endmacro %}


{#- Seconds from `start` to `end` (both timestamptz) as a double. -#}
{% macro seconds_between(start, end) -%}
    {{ return(adapter.dispatch('seconds_between', 'datastack')(start, end)) }}
{%- endmacro %}

{% macro default__seconds_between(start, end) -%}
    cast(extract(epoch from ({{ end }} - {{ start }})) as float8)
{%- endmacro %}


{#- A subquery (alias it) of consecutive integers `start`..`stop` (inclusive) in column `column_name`. -#}
{% macro integer_series(start, stop, column_name) -%}
    {{ return(adapter.dispatch('integer_series', 'datastack')(start, stop, column_name)) }}
{%- endmacro %}

{% macro default__integer_series(start, stop, column_name) -%}
    (select cast(n as integer) as {{ column_name }} from generate_series({{ start }}, {{ stop }}) as series (n))
{%- endmacro %}


{#- window_end for a grain held in a column, over the grains the model uses. -#}
{% macro window_end_by_grain(grain_column, start_column, grains) -%}
    case {{ grain_column }}
        {%- for grain in grains %}
        when '{{ grain }}' then {{ window_end(grain, start_column) }}
        {%- endfor %}
    end
{%- endmacro %}
