"""`datastack infra up|down|status|env`: the local PostgreSQL + Kafka pair used by dev and tests."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from services.config import KafkaSettings
from services.infra.kafka import LocalKafka
from services.infra.paths import state_dir
from services.infra.postgres import LocalPostgres, PostgresInfo
from services.infra.topics import ensure_topics


@dataclass(frozen=True)
class LocalInfra:
    postgres: PostgresInfo
    kafka_bootstrap: str

    def env(self) -> dict[str, str]:
        """The settings every service reads, pointing at the local servers."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "POSTGRES_HOST": self.postgres.host,
            "POSTGRES_PORT": str(self.postgres.port),
            "POSTGRES_DB": "datastack",
            "POSTGRES_USER": self.postgres.user,
            "POSTGRES_PASSWORD": self.postgres.password,
            "DUCKLAKE_CATALOG_DB": "ducklake",
            "DATA_PATH": str(state_dir() / "lake"),
        }

    def exports(self) -> str:
        return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in self.env().items())


def up() -> LocalInfra:
    pg = LocalPostgres().up()
    bootstrap = LocalKafka().up()
    ensure_topics(KafkaSettings(bootstrap_servers=bootstrap))
    return LocalInfra(pg, bootstrap)


def current() -> LocalInfra:
    """Connection settings of the (possibly running) local infra, without starting anything."""
    return LocalInfra(LocalPostgres().info(), LocalKafka().bootstrap)


def down() -> None:
    LocalKafka().down()
    LocalPostgres().down()


def status() -> dict[str, bool]:
    return {"postgres": LocalPostgres().is_running(), "kafka": LocalKafka().is_running()}
