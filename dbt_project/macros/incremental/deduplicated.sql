{#-
    `relation` with one row per natural key: the first copy landed (lowest ingest_seq). The raw
    PostgreSQL tables are unique on natural_key already; in the lake a replayed sync batch could
    copy a row twice, and the data-quality marts count such copies instead of hiding them.
-#}
{% macro deduplicated(relation, key='natural_key', order_by='ingest_seq, ingested_at') -%}
    (
        select *
        from (
            select
                numbered_source.*,
                row_number() over (partition by {{ key }} order by {{ order_by }}) as copy_number
            from {{ relation }} as numbered_source
        ) as numbered
        where copy_number = 1
    )
{%- endmacro %}
