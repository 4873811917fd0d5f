"""Data end to end inside the cluster: the replay producers -> Kafka (the stand-in, SCRAM and ACLs)
-> the sink -> PostgreSQL's raw tables -> the syncer -> the lake on its volume; a poison message to
the dead-letter topic; a restart of the sink that loses and duplicates nothing; the services' JSON
logs through `kubectl logs`."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from typing import Any

import pytest
from psycopg import sql

from services.contract import STREAMS
from services.producers.venues import VENUES
from tests.cluster.kube import ROOT, ClusterPostgres, Connect, Kube, json_lines
from tests.support.proc import DATASTACK

TABLES = {s.base_topic: s.raw_table for s in STREAMS.values()}
"""topic -> raw table (crypto_prices -> raw_crypto_prices, ...)."""
SERVICES = ("producer-crypto", "producer-github", "producer-weather", "sink", "syncer")
DATA_WAIT_S = 600


def _counts(connect: Connect) -> dict[str, int]:
    counts = {}
    with connect() as conn:
        for table in TABLES.values():
            exists = conn.execute("SELECT to_regclass(%s)", (f"public.{table}",)).fetchone()
            if exists and exists[0]:
                row = conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
                ).fetchone()
                counts[table] = int(row[0]) if row else 0
            else:
                counts[table] = 0
    return counts


def test_rows_arrive_in_the_raw_tables_from_every_producer(kube: Kube, pg: ClusterPostgres) -> None:
    connect = pg.connect
    kube.wait(
        lambda: _counts(connect),
        lambda counts: all(n > 0 for n in counts.values()),
        timeout=DATA_WAIT_S,
        what="rows in every raw table",
    )

    def venues() -> set[str]:
        with connect() as conn:
            return {v for (v,) in conn.execute("SELECT DISTINCT venue FROM raw_crypto_prices").fetchall()}

    kube.wait(
        venues,
        lambda found: found >= set(VENUES),
        timeout=DATA_WAIT_S,
        what=f"prices of all venues {sorted(VENUES)}",
    )


def test_rows_arrive_in_the_lake(kube: Kube, pg: ClusterPostgres) -> None:
    """The syncer's copy in the lake, read from the host as charts/README.md shows it: the lake's
    volume under .local/kind/volumes, the catalog through the port-forward. (The syncer's small
    batches are inlined into the catalog, SYNC_INLINE_ROW_LIMIT; the Parquet files on the volume
    come with the lake job's flush, which test_dagster runs in the cluster and checks.)"""
    claim = kube.lake_volume()
    env = {
        **os.environ,
        "DUCKLAKE_CATALOG_DB": "ducklake",
        "DUCKLAKE_OVERRIDE_DATA_PATH": "true",
        "DATA_PATH": f"{claim}/data/",
        "HOME": str(claim.parent.parent),  # DuckDB's extension copies: not the user's home
    }

    def lake_counts() -> dict[str, int] | str:
        # DuckDB SQL for the CLI; the table names are the contract's constants.
        query = " UNION ALL ".join(
            f"SELECT '{t}' AS t, count(*) AS n FROM {t}"  # noqa: S608
            for t in TABLES.values()
        )
        result = subprocess.run(
            [DATASTACK, "lake", "shell", "--format", "json", "--sql", query],
            env={**env, **pg.settings()},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            return result.stderr[-500:]  # the syncer has not created the lake tables yet
        return {row["t"]: row["n"] for row in json_lines(result.stdout)}

    kube.wait(
        lake_counts,
        lambda counts: isinstance(counts, dict) and len(counts) == len(TABLES) and all(counts.values()),
        timeout=DATA_WAIT_S,
        interval=10,
        what="rows of every raw table in the lake",
        pods=[_pod_of(kube, "syncer")],
    )


def _pod_of(kube: Kube, deployment: str) -> str:
    pods = kube.get("pods", "-l", f"app.kubernetes.io/instance={deployment}")["items"]
    return str(pods[0]["metadata"]["name"]) if pods else deployment


# A probe pod that reads topics as Kafka UI's user (Read on every topic, its own consumer groups):
# the NetworkPolicies let `kafka-ui` pods reach Kafka.
KAFKA_UI_ENV: list[dict[str, Any]] = [
    {"name": "KAFKA_BOOTSTRAP_SERVERS", "value": "datastack-kafka-bootstrap:9092"},
    {"name": "KAFKA_SECURITY_PROTOCOL", "value": "SASL_PLAINTEXT"},
    {"name": "KAFKA_SASL_MECHANISM", "value": "SCRAM-SHA-512"},
    {"name": "KAFKA_SASL_USERNAME", "value": "kafka-ui"},
    {"name": "KAFKA_SASL_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "kafka-ui", "key": "password"}}},
]
READ_TOPICS = """
import json, sys
from confluent_kafka import Consumer, TopicPartition
from services.config import KafkaSettings, load
conf = {**load(KafkaSettings).client_config(), "group.id": "kafka-ui-cluster-test",
        "enable.auto.commit": False}
consumer = Consumer(conf)
for topic in sys.argv[1:] or %(topics)r:
    parts = consumer.list_topics(topic, timeout=30).topics[topic].partitions
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in parts}
    todo = {p for p, end in ends.items() if end > 0}
    consumer.assign([TopicPartition(topic, p, 0) for p in todo])
    while todo:
        msg = consumer.poll(30)
        if msg is None:
            raise SystemExit(f"no message from {topic} within 30 s; still waiting for {sorted(todo)}")
        if msg.error():
            raise SystemExit(str(msg.error()))
        if msg.offset() < ends[msg.partition()]:
            print(json.dumps({
                "topic": topic, "partition": msg.partition(), "offset": msg.offset(),
                "key": (msg.key() or b"").decode("utf-8", "replace"),
                "value": (msg.value() or b"").decode("utf-8", "replace")[:200],
                "headers": {k: (v or b"").decode("utf-8", "replace") for k, v in msg.headers() or []},
            }))
        if msg.offset() >= ends[msg.partition()] - 1:
            todo.discard(msg.partition())
            consumer.incremental_unassign([TopicPartition(topic, msg.partition())])
    print(json.dumps({"topic": topic, "ends": ends}))
consumer.close()
"""


def read_topics(kube: Kube, topics: list[str]) -> tuple[list[dict[str, Any]], dict[str, dict[int, int]]]:
    """Every message of `topics` up to their current end offsets, and those end offsets."""
    phase, logs = kube.run_pod(
        READ_TOPICS % {"topics": topics},
        labels={"datastack.io/component": "kafka-ui"},
        env=KAFKA_UI_ENV,
        name="read-topics",
    )
    lines = json_lines(logs)
    assert phase == "Succeeded", f"reading {topics} failed:\n{logs[-3000:]}"
    ends = {line["topic"]: {int(p): e for p, e in line["ends"].items()} for line in lines if "ends" in line}
    assert set(ends) == set(topics), logs[-3000:]
    return [line for line in lines if "offset" in line], ends


def test_a_poison_message_reaches_the_dead_letter_topic_with_its_headers(kube: Kube) -> None:
    """Produced with the crypto producer's own identity (its Secret, its ACL) from inside its pod."""
    key = f"poison-{uuid.uuid4().hex[:8]}"
    produce = (
        "from confluent_kafka import Producer\n"
        "from services.config import KafkaSettings, load\n"
        "p = Producer(load(KafkaSettings).client_config())\n"
        "errors = []\n"
        f"p.produce('crypto_prices', value=b'{{not json', key={key!r}.encode(),\n"
        "          on_delivery=lambda e, m: errors.append(e))\n"
        "assert p.flush(30) == 0 and errors == [None], errors\n"
    )
    kube.run("exec", "deploy/producer-crypto", "--", "python", "-c", produce)

    def dead_letter() -> dict[str, Any] | None:
        messages, _ = read_topics(kube, ["crypto_prices.dlq"])
        return next((m for m in messages if m["key"] == key), None)

    letter = kube.wait(
        dead_letter, timeout=300, interval=5, what=f"{key} in crypto_prices.dlq", pods=[_pod_of(kube, "sink")]
    )
    assert letter is not None
    assert letter["value"] == "{not json"
    headers = letter["headers"]
    assert headers["dlq.original.topic"] == "crypto_prices"
    assert headers["dlq.error.class"], headers
    assert headers["dlq.error.reason"], headers


def test_a_sink_restart_loses_and_duplicates_nothing(kube: Kube, pg: ClusterPostgres) -> None:
    """`kubectl rollout restart deploy/sink` while the producers keep producing. Afterwards every
    message up to the topics' end offsets (taken once the new sink runs) is in its raw table exactly
    once, per natural key; dead-lettered ones are in the dead-letter topics instead."""
    connect = pg.connect
    kube.wait(
        lambda: _counts(connect),
        lambda c: all(c.values()),
        timeout=DATA_WAIT_S,
        what="rows before the restart",
    )
    kube.run("rollout", "restart", "deploy/sink")
    kube.wait_rollout("sink", timeout=300)
    messages, ends = read_topics(kube, [*TABLES, *(f"{topic}.dlq" for topic in TABLES)])
    dead = {
        (
            m["headers"]["dlq.original.topic"],
            int(m["headers"]["dlq.original.partition"]),
            int(m["headers"]["dlq.original.offset"]),
        )
        for m in messages
        if m["topic"].endswith(".dlq")
    }
    produced: dict[str, set[str]] = {topic: set() for topic in TABLES}
    for m in messages:
        if m["topic"] in TABLES and (m["topic"], m["partition"], m["offset"]) not in dead:
            produced[m["topic"]].add(m["key"])
    assert all(produced.values()), {t: len(k) for t, k in produced.items()}

    def stored() -> dict[str, dict[str, int]]:
        """Per table: natural key -> rows, for the rows of the messages below the end offsets."""
        found: dict[str, dict[str, int]] = {}
        with connect() as conn:
            for topic, table in TABLES.items():
                bounds = sql.SQL(" OR ").join(
                    sql.SQL("(kafka_partition = {} AND kafka_offset < {})").format(
                        sql.Literal(p), sql.Literal(end)
                    )
                    for p, end in ends[topic].items()
                )
                rows = conn.execute(
                    sql.SQL("SELECT natural_key, count(*) FROM {} WHERE {} GROUP BY natural_key").format(
                        sql.Identifier(table), bounds
                    )
                ).fetchall()
                found[table] = {key: int(n) for key, n in rows}
        return found

    def missing(found: dict[str, dict[str, int]]) -> dict[str, int]:
        return {TABLES[t]: len(keys - found[TABLES[t]].keys()) for t, keys in produced.items()}

    found = kube.wait(
        stored,
        lambda f: not any(missing(f).values()),
        timeout=300,
        interval=5,
        what="every produced message in its raw table",
        pods=[_pod_of(kube, "sink")],
    )
    for topic, keys in produced.items():
        table = TABLES[topic]
        assert set(found[table]) == keys, f"{table}: rows whose message is not in Kafka below its end offsets"
        assert [k for k, n in found[table].items() if n != 1] == [], (
            f"{table}: natural keys stored more than once"
        )


@pytest.mark.parametrize("deployment", SERVICES)
def test_kubectl_logs_shows_the_services_json_lines(kube: Kube, deployment: str) -> None:
    """charts/README.md's recipe: `kubectl -n datastack logs deploy/<service>`, JSON lines."""
    logs = kube.run("logs", f"deploy/{deployment}", "--tail=200").stdout
    lines = [line for line in json_lines(logs) if "message" in line]
    assert lines, f"no JSON log line from deploy/{deployment}:\n{logs[-2000:]}"
    assert all({"ts", "level", "logger", "message", "service"} <= line.keys() for line in lines), lines[:3]
    print(json.dumps(lines[-1]))
