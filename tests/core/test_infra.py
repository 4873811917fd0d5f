"""`datastack infra`: the local servers are real, reusable, and described by `infra env`."""

from __future__ import annotations

import json
import subprocess

import psycopg
import pytest
from confluent_kafka.admin import AdminClient

from services.contract import STREAMS
from services.infra.local import LocalInfra
from tests.support.proc import DATASTACK

pytestmark = pytest.mark.integration


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DATASTACK, "infra", *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_up_is_idempotent_and_env_matches(infra: LocalInfra) -> None:
    up = _run("up")
    assert up.returncode == 0, up.stderr
    env = dict(line.removeprefix("export ").split("=", 1) for line in up.stdout.splitlines() if line)
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == infra.kafka_bootstrap
    assert env["POSTGRES_PORT"] == str(infra.postgres.port)
    again = _run("env")
    assert again.stdout == up.stdout
    status = _run("status")
    assert status.returncode == 0
    assert json.loads(status.stdout) == {"postgres": True, "kafka": True}


def test_servers_are_real_and_topics_exist(infra: LocalInfra) -> None:
    with psycopg.connect(infra.postgres.conninfo("datastack")) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
        assert version is not None
        assert int(version[0]) >= 150000
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(infra.postgres.conninfo("datastack").replace("password=", "password=wrong"))
    topics = AdminClient({"bootstrap.servers": infra.kafka_bootstrap}).list_topics(timeout=10).topics
    for stream in STREAMS.values():
        assert stream.topic() in topics
        assert stream.dlq() in topics
        assert len(topics[stream.topic()].partitions) == 3
