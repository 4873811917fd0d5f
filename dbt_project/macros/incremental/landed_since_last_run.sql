{#-
    Late-arrival-safe incremental filter, used by every intermediate per-window model.

    True for rows that landed (ingested_at) after the newest landing time the model has already
    processed, minus `incremental_lookback_minutes`. The lookback catches rows whose transaction
    committed after a newer row had become visible (ingested_at is the inserting transaction's
    start time, so commit order and ingested_at order can differ) and rows the lake syncer copies
    out of order. The models do not aggregate only these rows: they use them to find the windows
    they touch and then recompute those whole windows from all their rows (delete+insert on the
    window key), so a late row for an old window re-aggregates that window exactly once.

    `this` must carry the max ingested_at of each window in `watermark_column`. A model that mixes
    several sources passes `watermark_where` so each source keeps its own watermark (one lagging
    source must not be judged against another source's newer rows).
-#}
{% macro landed_since_last_run(column='ingested_at', watermark_column='last_ingested_at', watermark_where=none) -%}
    {{ column }} > (
        select coalesce(max({{ watermark_column }}), cast('1900-01-01 00:00:00+00' as timestamptz))
        from {{ this }}
        {%- if watermark_where %}
        where {{ watermark_where }}
        {%- endif %}
    ) - interval '{{ var("incremental_lookback_minutes") | int }} minutes'
{%- endmacro %}
