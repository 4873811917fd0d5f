"""The chart-to-code contract: each rendered service Deployment runs, as a local process, with the
command and environment Kubernetes would give its container, and moves data end to end.

What is mapped, and why (everything else comes from the manifests unchanged):
- Service names -> local servers: `datastack-kafka-bootstrap:9092` -> the local Kafka,
  `postgres-rw:5432` -> a private PostgreSQL bootstrapped from the rendered CNPG Cluster
  (CnpgStandIn: the same databases, roles, grants and, from the rendered Secrets, passwords;
  with TLS, so POSTGRES_SSLMODE=require stays as rendered).
- Kafka security: the local broker has no SASL listener, so KAFKA_SECURITY_PROTOCOL becomes
  PLAINTEXT and the SASL settings are dropped, after checking that they name a rendered KafkaUser
  and its Secret. ACLs are checked against the topics the code uses instead.
- Isolation from other tests on the shared broker: a private KAFKA_TOPIC_NAMESPACE and consumer
  group; the metrics port as rendered unless another process holds it.
- Volumes -> local directories (the scratch emptyDir, the lake claim).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from pydantic import SecretStr

from services.config import KafkaSettings, PostgresSettings
from services.contract import STREAMS
from services.infra.local import LocalInfra
from services.infra.paths import state_dir
from services.infra.postgres import LocalPostgres
from services.infra.topics import ensure_topics
from services.lake.settings import LakeSettings
from services.sink.settings import SinkSettings
from tests.charts.contract import CnpgStandIn, ProcessSpec, container_process_spec, find, secret_data
from tests.charts.tools import Manifest
from tests.lake.helpers import lake_rows
from tests.support.proc import free_port
from tests.support.wait import wait_until

SERVICES = ("producer-crypto", "producer-github", "producer-weather", "sink", "syncer")


@pytest.fixture(scope="module")
def cluster_pg(stack: list[Manifest]) -> Iterator[tuple[LocalPostgres, dict[str, dict[str, str]]]]:
    """A private PostgreSQL set up as CloudNativePG would set up the rendered Cluster."""
    secrets = {d["metadata"]["name"]: secret_data(d) for d in stack if d["kind"] == "Secret"}
    root = state_dir() / "scratch" / f"charts-{uuid.uuid4().hex[:8]}"
    server = LocalPostgres(port=free_port(), root=root)
    server.up()
    try:
        stand_in = CnpgStandIn(server)
        stand_in.enable_tls()
        stand_in.bootstrap(find(stack, "Cluster", "postgres"), secrets)
        yield server, secrets
    finally:
        server.down()
        shutil.rmtree(root, ignore_errors=True)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))  # noqa: S104 - the services bind METRICS_HOST=0.0.0.0
        except OSError:
            return False
    return True


def _localize(
    spec: ProcessSpec, stack: list[Manifest], infra: LocalInfra, pg_port: int, namespace: str, group: str
) -> ProcessSpec:
    env = spec.env
    kafka = find(stack, "Kafka", "datastack")
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    if "KAFKA_BOOTSTRAP_SERVERS" in env:
        assert (
            env["KAFKA_BOOTSTRAP_SERVERS"]
            == f"{kafka['metadata']['name']}-kafka-bootstrap:{listener['port']}"
        )
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
        assert listener["tls"] is False
        assert env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512" == listener["authentication"]["type"].upper()
        find(stack, "KafkaUser", env["KAFKA_SASL_USERNAME"])  # its Secret is named like it
        env.update(KAFKA_BOOTSTRAP_SERVERS=infra.kafka_bootstrap, KAFKA_SECURITY_PROTOCOL="PLAINTEXT")
        for key in ("KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"):
            env.pop(key)
    if "POSTGRES_HOST" in env:
        cluster = find(stack, "Cluster", "postgres")
        assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"]) == (f"{cluster['metadata']['name']}-rw", "5432")
        env.update(POSTGRES_HOST="127.0.0.1", POSTGRES_PORT=str(pg_port))
    env.update(KAFKA_TOPIC_NAMESPACE=namespace, SINK_GROUP_ID=group, METRICS_HOST="0.0.0.0")  # noqa: S104
    assert env["METRICS_PORT"] == str(spec.probe_port), "the probes must ask the port the service binds"
    if not _port_free(spec.probe_port):
        spec.probe_port = free_port()
        env["METRICS_PORT"] = str(spec.probe_port)
    return spec


def _probe(spec: ProcessSpec, kind: str) -> bool:
    """What the kubelet's httpGet probe would see: 200 on the probe's path and port."""
    try:
        url = f"http://127.0.0.1:{spec.probe_port}{spec.probe_paths[kind]}"
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _ready(spec: ProcessSpec) -> bool:
    return _probe(spec, "readiness")


def _raw_counts(pg: PostgresSettings) -> dict[str, int]:
    counts = {}
    with psycopg.connect(pg.conninfo()) as conn:
        for stream in STREAMS.values():
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(stream.raw_table))
            row = conn.execute(query).fetchone()
            counts[stream.raw_table] = row[0] if row else 0
    return counts


def _settings_from(env: dict[str, str], model: type[Any]) -> Any:
    keys = {k.lower().removeprefix("postgres_"): v for k, v in env.items() if k.startswith("POSTGRES_")}
    return model(**keys)


def test_acls_cover_what_the_code_uses(stack: list[Manifest]) -> None:
    """Each KafkaUser may do exactly what its service's code does with the contract's topics."""
    acls = {
        doc["metadata"]["name"]: {
            (a["resource"]["type"], a["resource"].get("name"), op)
            for a in doc["spec"]["authorization"]["acls"]
            for op in a["operations"]
        }
        for doc in stack
        if doc["kind"] == "KafkaUser"
    }
    for name, stream in (
        ("producer-crypto", "crypto"),
        ("producer-github", "github"),
        ("producer-weather", "weather"),
    ):
        topic = next(s for s in STREAMS.values() if s.name == stream).topic()
        assert acls[name] == {("topic", topic, "Write"), ("topic", topic, "Describe")}
    sink = acls["sink"]
    for s in STREAMS.values():
        assert {("topic", s.topic(), "Read"), ("topic", s.dlq(), "Write")} <= sink
    assert ("group", SinkSettings().group_id, "Read") in sink
    assert not {op for kind, _, op in sink if kind == "topic" and op not in {"Read", "Write", "Describe"}}
    topics = {doc["spec"]["topicName"] for doc in stack if doc["kind"] == "KafkaTopic"}
    assert topics == {t for s in STREAMS.values() for t in (s.topic(), s.dlq())}


def test_rendered_services_run_and_move_data(
    stack: list[Manifest],
    infra: LocalInfra,
    cluster_pg: tuple[LocalPostgres, dict[str, dict[str, str]]],
    tmp_path: Path,
) -> None:
    server, secrets = cluster_pg
    namespace = f"t{uuid.uuid4().hex[:10]}."
    ensure_topics(KafkaSettings(bootstrap_servers=infra.kafka_bootstrap, topic_namespace=namespace))
    kafka_secrets = {
        doc["metadata"]["name"]: {"password": "not-used-locally", "sasl.jaas.config": "-"}
        for doc in stack
        if doc["kind"] == "KafkaUser"
    }
    specs: dict[str, ProcessSpec] = {}
    for name in SERVICES:
        volumes = {"scratch": tmp_path / name / "scratch", "lake": tmp_path / "lake"}
        for path in volumes.values():
            path.mkdir(parents=True, exist_ok=True)
        spec = container_process_spec(
            find(stack, "Deployment", name), stack, {**secrets, **kafka_secrets}, volumes
        )
        specs[name] = _localize(spec, stack, infra, server.port, namespace, f"charts-{uuid.uuid4().hex[:8]}")

    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs = tmp_path / "logs"
    logs.mkdir()

    def start(name: str) -> None:
        spec = specs[name]
        with (logs / f"{name}.log").open("wb") as out:
            procs[name] = subprocess.Popen(
                spec.argv, env=spec.env, cwd=spec.cwd, stdout=out, stderr=subprocess.STDOUT
            )

    def tail(name: str) -> str:
        return (logs / f"{name}.log").read_text(errors="replace")[-3000:]

    sink_env = specs["sink"].env
    sink_pg = _settings_from(sink_env, PostgresSettings)
    try:
        for name in ("sink", "producer-crypto", "producer-github", "producer-weather"):
            start(name)
        for name in ("sink", "producer-crypto", "producer-github", "producer-weather"):
            wait_until(
                lambda n=name: _ready(specs[n]) or procs[n].poll() is not None,
                timeout=120,
                what=f"{name} ready",
            )
            assert procs[name].poll() is None, tail(name)
            assert _probe(specs[name], "liveness"), name
            assert _probe(specs[name], "startup"), name
        counts = wait_until(
            lambda: _raw_counts(sink_pg),
            lambda c: all(c.values()),
            timeout=120,
            what="rows from every producer",
        )
        # The syncer copies what is there at its first cycle; ready = a cycle succeeded.
        start("syncer")
        wait_until(
            lambda: _ready(specs["syncer"]) or procs["syncer"].poll() is not None,
            timeout=180,
            what="syncer ready",
        )
        assert procs["syncer"].poll() is None, tail("syncer")
        syncer_env = specs["syncer"].env
        lake = LakeSettings(
            data_path=syncer_env["DATA_PATH"], ducklake_catalog_db=syncer_env["DUCKLAKE_CATALOG_DB"]
        )
        # Read the lake back as Dagster's role (it owns the catalog together with the syncer).
        dagster_pg = sink_pg.model_copy(
            update={"user": "dagster", "password": SecretStr(secrets["pg-dagster"]["password"])}
        )
        for stream in STREAMS.values():
            rows = lake_rows(lake, dagster_pg, f"SELECT count(*) FROM main.{stream.raw_table}")  # noqa: S608
            assert rows[0][0] >= counts[stream.raw_table] > 0, stream.raw_table
    finally:
        codes = _stop(procs, {name: spec.grace_period_s for name, spec in specs.items()})
    # SIGTERM, as the kubelet sends it: each exits 0 within its terminationGracePeriodSeconds.
    assert codes == dict.fromkeys(procs, 0), {name: tail(name) for name, code in codes.items() if code}


def _stop(procs: dict[str, subprocess.Popen[bytes]], grace_s: dict[str, int]) -> dict[str, int | None]:
    """Terminate every process we started; None for one that outlived its grace period (killed)."""
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
    codes: dict[str, int | None] = {}
    for name, proc in procs.items():
        try:
            codes[name] = proc.wait(timeout=grace_s[name])
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            codes[name] = None
    return codes


def test_roles_have_only_the_grants_they_need(
    cluster_pg: tuple[LocalPostgres, dict[str, dict[str, str]]],
) -> None:
    server, secrets = cluster_pg

    def connect(role: str, db: str) -> psycopg.Connection[Any]:
        pg = PostgresSettings(
            host="127.0.0.1",
            port=server.port,
            db=db,
            user=role,
            password=secrets[f"pg-{role}"]["password"],
            sslmode="require",
        )  # type: ignore[arg-type]
        return psycopg.connect(pg.conninfo(), autocommit=True)

    with connect("sink", "datastack") as conn:
        conn.execute("CREATE TABLE raw_probe (id int)")
        conn.execute("INSERT INTO raw_probe VALUES (1)")
    with connect("syncer", "datastack") as conn:
        assert conn.execute("SELECT count(*) FROM raw_probe").fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO raw_probe VALUES (2)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE syncer_probe (id int)")
    with connect("dagster", "datastack") as conn:
        conn.execute("CREATE TABLE analytics.dagster_probe AS SELECT * FROM raw_probe")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE public.dagster_probe (id int)")
    with connect("dagster", "dagster") as conn:
        conn.execute("CREATE TABLE run_probe (id int)")
    for role, db in (("sink", "ducklake"), ("sink", "dagster"), ("syncer", "dagster")):
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            connect(role, db).close()
    with connect("syncer", "ducklake") as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("ducklake_owner",)
        conn.execute("CREATE TABLE catalog_probe (id int)")
    with connect("dagster", "ducklake") as conn:
        conn.execute("INSERT INTO catalog_probe VALUES (1)")
