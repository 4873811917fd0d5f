"""Developer insights: the most active repositories and developers of the newest day, the event mix,
and how many developers were new."""

import dagster as dg
from psycopg import sql

from dagster_code.defs.developer import queries
from dagster_code.lib import groups
from dagster_code.lib.metadata import markdown_table, number, text
from dagster_code.lib.resources import PostgresResource


@dg.asset(
    group_name=groups.DEVELOPER,
    deps=list(queries.MODELS),
    kinds={"python", "postgres"},
    description=(
        "Developer insights (the original's second asset): for the newest UTC day, the most active "
        "repositories and developers, the event-type mix and new versus returning developers."
    ),
)
def developer_insights(postgres: PostgresResource) -> dg.MaterializeResult[None]:
    relations = {
        "top_repos": postgres.relation(queries.TOP_REPOS_MODEL),
        "top_actors": postgres.relation(queries.TOP_ACTORS_MODEL),
        "mix": postgres.relation(queries.MIX_MODEL),
        "cohort": postgres.relation(queries.COHORT_MODEL),
    }

    def rows(query: str, day: object) -> list[dict[str, object]]:
        return postgres.query(sql.SQL(query).format(**relations), (day,))

    day = postgres.query(sql.SQL(queries.NEWEST_DAY).format(**relations))[0]["day"]
    repos = rows(queries.TOP_REPOS, day)
    actors = rows(queries.TOP_ACTORS, day)
    mix = rows(queries.EVENT_MIX, day)
    cohort = next(iter(rows(queries.COHORT, day)), {})
    top_repo = repos[0] if repos else {}
    top_actor = actors[0] if actors else {}
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": number(len(repos)),
            "activity_date": text(day),
            "events": number(sum(int(m["event_count"]) for m in mix)),  # type: ignore[call-overload]
            "active_developers": number(cohort.get("active_actors")),
            "new_developers": number(cohort.get("new_actors")),
            "most_active_repo": text(top_repo.get("repo_name")),
            "most_active_repo_events": number(top_repo.get("event_count")),
            "most_active_developer": text(top_actor.get("actor_login")),
            "event_types": number(len(mix)),
            "top_repositories": markdown_table(
                repos,
                [
                    ("repo_rank", "#"),
                    ("repo_name", "repository"),
                    ("event_count", "events"),
                    ("actor_count", "developers"),
                    ("star_count", "stars"),
                    ("event_share_pct", "share %"),
                ],
            ),
            "top_developers": markdown_table(
                actors[:5],
                [
                    ("actor_rank", "#"),
                    ("actor_login", "developer"),
                    ("event_count", "events"),
                    ("repo_count", "repos"),
                ],
            ),
            "event_mix": markdown_table(
                mix, [("event_type", "event"), ("event_count", "events"), ("event_share_pct", "share %")]
            ),
        }
    )
