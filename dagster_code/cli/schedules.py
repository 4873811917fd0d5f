"""`datastack schedules [--url URL]`, `datastack schedules start|stop NAME`: the schedules of a
running Dagster webserver, read and changed through its GraphQL API (what the UI itself uses).

The runs shown under a schedule are the last runs of its job, whoever launched them (the schedule,
the lag sensor, `datastack assets check`, a click in the UI), each labelled with its launcher: what
a user wants to know is whether the job works and how long it takes.

Plain httpx + GraphQL: a few small documents, no client library state, and a clear message when no
webserver answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
import httpx

DEFAULT_URL = "http://127.0.0.1:3000"

LIST = """
query DatastackSchedules {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes {
        name
        location { name }
        schedules {
          name
          cronSchedule
          executionTimezone
          pipelineName
          scheduleState { id status nextTick { timestamp } }
        }
      }
    }
    ... on Error { message }
  }
}
"""

JOB_RUNS = """
query DatastackJobRuns($job: String!, $limit: Int!) {
  runsOrError(filter: {pipelineName: $job}, limit: $limit) {
    __typename
    ... on Runs { results { runId status startTime endTime tags { key value } } }
    ... on Error { message }
  }
}
"""

RESULT = """
    __typename
    ... on ScheduleStateResult { scheduleState { name status } }
    ... on Error { message }
"""
START = (
    "mutation Start($selector: ScheduleSelector!) { startSchedule(scheduleSelector: $selector) {"
    + RESULT
    + "} }"
)
STOP = "mutation Stop($id: String!) { stopRunningSchedule(id: $id) {" + RESULT + "} }"


class DagsterUnreachableError(click.ClickException):
    exit_code = 1


@dataclass(frozen=True)
class Schedule:
    name: str
    cron: str
    timezone: str
    job: str
    status: str
    state_id: str
    repository: str
    location: str
    next_tick: float | None
    runs: list[dict[str, Any]]


def graphql(url: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    endpoint = url.rstrip("/") + "/graphql"
    try:
        response = httpx.post(endpoint, json={"query": query, "variables": variables}, timeout=30)
    except httpx.HTTPError as exc:
        raise DagsterUnreachableError(
            f"no Dagster webserver answers at {url} ({type(exc).__name__}): start it with `make dev`, "
            "or point --url (DAGSTER_WEBSERVER_URL) at one, e.g. a `kubectl port-forward`"
        ) from None
    if response.status_code != 200:
        raise DagsterUnreachableError(
            f"{endpoint} answered HTTP {response.status_code}: {response.text[:300]}"
        )
    body: dict[str, Any] = response.json()
    if body.get("errors"):
        raise click.ClickException(
            "GraphQL errors: " + "; ".join(e.get("message", "?") for e in body["errors"])
        )
    return body["data"]  # type: ignore[no-any-return]


def launcher(run: dict[str, Any]) -> str:
    """Who launched a run, from the tags Dagster and `datastack assets check` put on it."""
    tags = {t["key"]: t["value"] for t in run.get("tags", [])}
    if "dagster/schedule_name" in tags:
        return "schedule"
    if "dagster/sensor_name" in tags:
        return f"sensor {tags['dagster/sensor_name']}"
    return str(tags.get("datastack/launched-by", "manual"))


def job_runs(url: str, job: str, limit: int) -> list[dict[str, Any]]:
    if limit == 0:
        return []
    data = graphql(url, JOB_RUNS, {"job": job, "limit": limit})["runsOrError"]
    if data["__typename"] != "Runs":
        raise click.ClickException(f"Dagster could not list the runs of {job}: {data.get('message')}")
    return list(data["results"])


def list_schedules(url: str, runs: int = 5) -> list[Schedule]:
    data = graphql(url, LIST, {})["repositoriesOrError"]
    if data["__typename"] != "RepositoryConnection":
        raise click.ClickException(
            f"Dagster could not list repositories: {data.get('message', data['__typename'])}"
        )
    found = []
    for repo in data["nodes"]:
        for s in repo["schedules"]:
            state = s["scheduleState"]
            found.append(
                Schedule(
                    name=s["name"],
                    cron=s["cronSchedule"],
                    timezone=s["executionTimezone"] or "UTC",
                    job=s["pipelineName"],
                    status=state["status"],
                    state_id=state["id"],
                    repository=repo["name"],
                    location=repo["location"]["name"],
                    next_tick=(state.get("nextTick") or {}).get("timestamp"),
                    runs=job_runs(url, s["pipelineName"], runs),
                )
            )
    return sorted(found, key=lambda s: s.name)


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _duration(run: dict[str, Any]) -> str:
    start, end = run.get("startTime"), run.get("endTime")
    if start is None:
        return "not started"
    seconds = int((end or datetime.now(UTC).timestamp()) - start)
    text = f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
    return text if end else f"{text} so far"


def render(schedules: list[Schedule]) -> list[str]:
    if not schedules:
        return ["no schedules in this Dagster deployment"]
    width = max(len(s.name) for s in schedules)
    lines = []
    for s in schedules:
        lines.append(
            f"{s.name:<{width}}  {s.status:<7}  {s.cron} ({s.timezone})  job {s.job}  "
            f"next {_when(s.next_tick) if s.status == 'RUNNING' else '-'}"
        )
        if not s.runs:
            lines.append(f"    no runs of {s.job} yet")
        for run in s.runs:
            lines.append(
                f"    {run['status']:<9} {_when(run.get('startTime'))}  {_duration(run):>12}  "
                f"run {run['runId'][:8]}  ({launcher(run)})"
            )
    return lines


def _find(url: str, name: str) -> Schedule:
    schedules = list_schedules(url, runs=0)
    for s in schedules:
        if s.name == name:
            return s
    known = ", ".join(s.name for s in schedules) or "none"
    raise click.BadParameter(f"no schedule named {name!r} (known: {known})", param_hint="NAME")


def _mutation_result(result: dict[str, Any], name: str, verb: str) -> None:
    if result["__typename"] != "ScheduleStateResult":
        raise click.ClickException(f"could not {verb} {name}: {result.get('message', result['__typename'])}")
    click.echo(f"{name}: {result['scheduleState']['status']}")


url_option = click.option(
    "--url",
    envvar="DAGSTER_WEBSERVER_URL",
    default=DEFAULT_URL,
    show_default=True,
    help="The Dagster webserver (env DAGSTER_WEBSERVER_URL).",
)


@click.group("schedules", invoke_without_command=True)
@url_option
@click.option("--runs", type=click.IntRange(0, 50), default=5, show_default=True, help="Last runs shown.")
@click.pass_context
def schedules(ctx: click.Context, url: str, runs: int) -> None:
    """List the schedules: cron, state, next tick and last runs (status, duration)."""
    ctx.obj = url
    if ctx.invoked_subcommand is None:
        for line in render(list_schedules(url, runs)):
            click.echo(line)


@schedules.command("start")
@click.argument("name")
@click.pass_obj
def start(url: str, name: str) -> None:
    """Start schedule NAME."""
    s = _find(url, name)
    selector = {"repositoryName": s.repository, "repositoryLocationName": s.location, "scheduleName": s.name}
    _mutation_result(graphql(url, START, {"selector": selector})["startSchedule"], name, "start")


@schedules.command("stop")
@click.argument("name")
@click.pass_obj
def stop(url: str, name: str) -> None:
    """Stop schedule NAME."""
    s = _find(url, name)
    _mutation_result(graphql(url, STOP, {"id": s.state_id})["stopRunningSchedule"], name, "stop")
