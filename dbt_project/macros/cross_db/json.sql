{#-
    Text at a key path inside a JSON column (`path` is a list of keys), NULL when absent.
    PostgreSQL: jsonb #>> text[]; DuckDB: json_extract_string with a JSONPath whose keys are quoted,
    so keys with dots or dashes work. No portable default exists.
-#}
{% macro json_get_text(column, path) -%}
    {{ return(adapter.dispatch('json_get_text', 'datastack')(column, path)) }}
{%- endmacro %}

{% macro default__json_get_text(column, path) -%}
    {{ exceptions.raise_compiler_error("json_get_text has no implementation for adapter " ~ adapter.type()) }}
{%- endmacro %}

{% macro postgres__json_get_text(column, path) -%}
    ({{ column }} #>> '{ {{- path | join(',') -}} }')
{%- endmacro %}

{% macro duckdb__json_get_text(column, path) -%}
    {%- set parts = [] -%}
    {%- for key in path -%}{%- do parts.append('."' ~ key ~ '"') -%}{%- endfor -%}
    json_extract_string({{ column }}, '${{ parts | join('') }}')
{%- endmacro %}
