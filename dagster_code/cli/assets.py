"""`datastack assets check [crypto|developer|weather|quality]...`: materialize the analytics groups in
process against the configured databases and print one line per report asset.

It materializes the groups' assets with the same definitions, resources, checks and dbt tests as
the scheduled runs (for `quality` also the raw tables' freshness and volume checks), so a ✅ here
means the scheduled run would succeed. With DAGSTER_HOME set the run is recorded in that instance
(it shows in the UI); otherwise in a throwaway one.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import click

from dagster_code.lib import groups
from dagster_code.lib.errors import root_cause

REPORTS = {
    groups.CRYPTO: (
        "crypto_market_summary",
        ("coins", "top_gainer", "top_gainer_change_pct", "max_volatility"),
    ),
    groups.DEVELOPER: ("developer_insights", ("events", "active_developers", "most_active_repo")),
    groups.WEATHER: (
        "weather_analytics",
        ("cities", "hottest_city", "hottest_temperature_c", "coldest_city"),
    ),
    groups.DATA_QUALITY: ("data_quality_report", ("sources", "sources_fresh", "issues", "clean_window_pct")),
}
"""Group -> (its report asset, the metadata keys shown on its line)."""


@dataclass
class GroupOutcome:
    group: str
    report: str
    metadata: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    checks_passed: int = 0
    assets_materialized: int = 0

    @property
    def ok(self) -> bool:
        return self.metadata is not None and not self.failed_checks


def _first_lines(message: str, limit: int = 400) -> str:
    text = " ".join(line.strip() for line in message.strip().splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _value(metadata: Any) -> str:
    from dagster_code.lib.metadata import cell

    raw = getattr(metadata, "value", metadata)
    if isinstance(raw, float) and raw != raw:  # NaN: no value
        return "-"
    return cell(raw)


def _selection(names: Sequence[str]) -> list[str]:
    return [groups.CLI_NAMES[n] for n in (names or groups.CLI_NAMES)]


@contextlib.contextmanager
def _instance() -> Iterator[Any]:
    import dagster as dg

    if os.environ.get("DAGSTER_HOME"):
        with dg.DagsterInstance.get() as instance:
            yield instance
    else:
        with dg.DagsterInstance.ephemeral() as instance:
            yield instance


def run_groups(names: Sequence[str], out: io.StringIO) -> list[GroupOutcome]:
    """Materialize the chosen groups in one in-process run; dbt's and Dagster's console output
    goes to `out`. One run means one dbt invocation (dbt's start and parse cost more CPU than
    building these models), with the tags of a postgres-analytics writer so the run queue holds a
    scheduled run meanwhile."""
    import dagster as dg

    from dagster_code.definitions import defs
    from dagster_code.defs.ingestion.assets import RAW_KEYS
    from dagster_code.lib import run_tags

    chosen = _selection(names)
    graph = defs.get_repository_def().asset_graph
    outcomes = {g: GroupOutcome(g, REPORTS[g][0]) for g in chosen}
    group_of: dict[Any, str | None] = {key: graph.get(key).group_name for key in graph.get_all_asset_keys()}
    selection: dg.AssetSelection = dg.AssetSelection.groups(*chosen)
    if groups.DATA_QUALITY in chosen:
        # The raw tables' observations and their freshness and volume checks, as the scheduled
        # data-quality and audit runs do.
        selection = selection | dg.AssetSelection.assets(*RAW_KEYS)
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    with _instance() as instance, contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        result = defs.get_implicit_global_asset_job_def().execute_in_process(
            instance=instance,
            asset_selection=sorted(selection.resolve(graph)),
            raise_on_error=False,
            run_config=quiet,
            tags={
                run_tags.WRITES_TAG: run_tags.POSTGRES_ANALYTICS,
                "datastack/launched-by": "datastack assets check",
            },
        )
    _collect(result.all_events, outcomes, group_of)
    return list(outcomes.values())


def _collect(
    events: Sequence[Any], outcomes: dict[str, GroupOutcome], group_of: dict[Any, str | None]
) -> None:
    step_errors: list[str] = []
    for event in events:
        kind = event.event_type_value
        if kind == "ASSET_MATERIALIZATION":
            group = group_of.get(event.asset_key)
            if group in outcomes:
                outcome = outcomes[group]
                outcome.assets_materialized += 1
                if event.asset_key.path[-1] == outcome.report:
                    outcome.metadata = dict(event.event_specific_data.materialization.metadata)
        elif kind == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            group = group_of.get(data.asset_key)
            group = group if group in outcomes else groups.DATA_QUALITY  # raw tables' checks
            if group not in outcomes:
                continue
            if data.passed:
                outcomes[group].checks_passed += 1
            else:
                reason = data.metadata.get("reason")
                outcomes[group].failed_checks.append(
                    f"{data.asset_key.to_user_string()}:{data.check_name}"
                    + (f" ({_first_lines(str(reason.value), 200)})" if reason is not None else "")
                )
        elif kind == "STEP_FAILURE":
            error = event.event_specific_data.error
            step_errors.append(f"{event.step_key}: {_first_lines(root_cause(error) if error else 'failed')}")
    for outcome in outcomes.values():
        if outcome.metadata is None:
            outcome.errors = step_errors or [
                "not materialized (an upstream asset or a blocking check failed)"
            ]


def render(outcome: GroupOutcome) -> list[str]:
    lines = []
    if outcome.metadata is not None:
        keys = REPORTS[outcome.group][1]
        figures = "  ".join(f"{k}={_value(outcome.metadata[k])}" for k in keys if k in outcome.metadata)
        mark = "✅" if outcome.ok else "❌"
        lines.append(
            f"{mark} {outcome.report:<22} {figures}  "
            f"({outcome.assets_materialized} assets, {outcome.checks_passed} checks passed)"
        )
    else:
        lines.append(f"❌ {outcome.report:<22} {outcome.errors[0]}")
        lines += [f"   {error}" for error in outcome.errors[1:]]
    lines += [f"   ❌ check {check}" for check in outcome.failed_checks]
    return lines


@click.group("assets")
def assets() -> None:
    """The Dagster assets of the code location (dagster_code)."""


@assets.command("check")
@click.argument("names", nargs=-1, type=click.Choice(sorted(groups.CLI_NAMES)))
@click.option("-v", "--verbose", is_flag=True, help="Also print dbt's and Dagster's output.")
def check(names: tuple[str, ...], verbose: bool) -> None:
    """Materialize the analytics groups (default: all four) in process and report each one."""
    out = io.StringIO()
    try:
        outcomes = run_groups(names, out)
    finally:
        if verbose:
            click.echo(out.getvalue())
    for outcome in outcomes:
        for line in render(outcome):
            click.echo(line)
    good = sum(o.ok for o in outcomes)
    checks_failed = sum(len(o.failed_checks) for o in outcomes)
    rate = 100 * good / len(outcomes)
    click.echo(
        f"{good}/{len(outcomes)} assets succeeded ({rate:.0f}%), "
        f"{sum(o.checks_passed for o in outcomes)} checks passed, {checks_failed} failed"
    )
    if good < len(outcomes):
        if not verbose:
            click.echo("details: datastack assets check -v", err=True)
        sys.exit(1)
