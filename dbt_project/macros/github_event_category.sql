{#- Coarse family of a GitHub event type, for the event-type mix and per-actor/repo counters. -#}
{% macro github_event_category(event_type) -%}
    case
        when {{ event_type }} = 'PushEvent' then 'push'
        when {{ event_type }} in (
            'PullRequestEvent', 'PullRequestReviewEvent', 'PullRequestReviewCommentEvent',
            'PullRequestReviewThreadEvent'
        ) then 'pull_request'
        when {{ event_type }} in ('IssuesEvent', 'IssueCommentEvent') then 'issues'
        when {{ event_type }} = 'WatchEvent' then 'star'
        when {{ event_type }} = 'ForkEvent' then 'fork'
        when {{ event_type }} in ('CreateEvent', 'DeleteEvent') then 'branch_or_tag'
        when {{ event_type }} = 'ReleaseEvent' then 'release'
        else 'other'
    end
{%- endmacro %}
