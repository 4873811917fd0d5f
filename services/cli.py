"""The `datastack` command: one entrypoint, one subcommand per service or tool.

Subcommand modules are imported lazily so `datastack infra status` does not pay for DuckDB or dbt.
"""

from __future__ import annotations

import json
import sys

import click

from services.config import ConfigError


class LazyGroup(click.Group):
    """A click group whose subcommands live in other modules ("module:attr"), loaded on use."""

    def __init__(self, *args: object, lazy: dict[str, str] | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._lazy:
            import importlib

            module, attr = self._lazy[cmd_name].split(":")
            return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    lazy={
        "produce": "services.producers.cli:produce",
        "sink": "services.sink.cli:sink",
        "sync": "services.lake.cli:sync",
        "lake": "services.lake.cli:lake",
        "dev": "services.devstack:dev",
        "assets": "dagster_code.cli.assets:assets",
        "schedules": "dagster_code.cli.schedules:schedules",
    },
)
def cli() -> None:
    """datastack: producers -> Kafka -> PostgreSQL -> DuckLake -> dbt."""


@cli.group()
def infra() -> None:
    """Local PostgreSQL + Kafka for development and tests (state in .local/)."""


@infra.command("up")
def infra_up() -> None:
    """Start (or reuse) PostgreSQL and Kafka, create topics, print `export` lines."""
    from services.infra import local

    click.echo(local.up().exports())


@infra.command("down")
def infra_down() -> None:
    """Stop the local servers (data is kept)."""
    from services.infra import local

    local.down()


@infra.command("status")
def infra_status() -> None:
    """Print which local servers are running; exit 1 unless all are."""
    from services.infra import local

    state = local.status()
    click.echo(json.dumps(state))
    sys.exit(0 if all(state.values()) else 1)


@infra.command("env")
def infra_env() -> None:
    """Print the connection settings again as `export` lines."""
    from services.infra import local

    click.echo(local.current().exports())


@cli.group()
def contract() -> None:
    """The data contract (JSON Schemas per topic)."""


@contract.command("export")
def contract_export() -> None:
    """Regenerate services/contract/schemas/*.schema.json from the models."""
    from services.contract import export

    for path in export.write_all():
        click.echo(str(path))


def main() -> None:
    try:
        cli(standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"datastack: {exc}", err=True)
        sys.exit(2)
