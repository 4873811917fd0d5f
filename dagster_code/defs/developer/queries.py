"""The developer-insights queries: the newest UTC day of the GitHub marts."""

from typing import Final

TOP_REPOS_MODEL: Final = "github_top_repos_daily"
TOP_ACTORS_MODEL: Final = "github_top_actors_daily"
MIX_MODEL: Final = "github_event_type_mix_daily"
COHORT_MODEL: Final = "github_new_vs_returning_daily"
MODELS: Final = (TOP_REPOS_MODEL, TOP_ACTORS_MODEL, MIX_MODEL, COHORT_MODEL)

NEWEST_DAY: Final = "SELECT max(activity_date) AS day FROM {mix}"
TOP_REPOS: Final = """
SELECT repo_rank, repo_name, event_count, actor_count, push_count, star_count, event_share_pct
FROM {top_repos} WHERE activity_date = %s ORDER BY repo_rank
"""
TOP_ACTORS: Final = """
SELECT actor_rank, actor_login, event_count, push_count, repo_count
FROM {top_actors} WHERE activity_date = %s ORDER BY actor_rank
"""
EVENT_MIX: Final = """
SELECT event_type, event_category, event_count, event_share_pct
FROM {mix} WHERE activity_date = %s ORDER BY event_count DESC, event_type
"""
COHORT: Final = """
SELECT active_actors, new_actors, returning_actors, new_actor_share_pct
FROM {cohort} WHERE activity_date = %s
"""
