"""Faults: kill -9 mid-batch, PostgreSQL going away, the broker restarting. Always exactly N rows.

PostgreSQL and Kafka faults use private servers (own ports, own data under tmp_path) so stopping
them cannot disturb other tests sharing the session's servers.
"""

from __future__ import annotations

import os
import shutil
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql

from services.config import KafkaSettings, PostgresSettings
from services.infra.kafka import LocalKafka
from services.infra.paths import state_dir
from services.infra.postgres import LocalPostgres
from services.infra.topics import ensure_topics
from services.sink.committer import LANE_DEPTH
from tests.conftest import service_env
from tests.sink.conftest import total_rows
from tests.support import messages
from tests.support.proc import ServiceProcess, free_port
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration

PARTITIONS = 9
"""Three topics of three partitions (ensure_topics' default)."""


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_kill_9_mid_stream_three_times_still_exactly_n(
    kafka_settings: KafkaSettings,
    pg_settings: PostgresSettings,
    sink_env: dict[str, str],
    wait_for_rows: Callable[..., int],
    wait_caught_up: Callable[[], None],
) -> None:
    n = 40_000
    messages.produce(kafka_settings, messages.mixed(n))
    env = {**sink_env, "SINK_BATCH_MAX_MESSAGES": "250"}
    killed_at = []
    for _ in range(3):
        with ServiceProcess(["sink"], env) as sink:
            target = total_rows(pg_settings) + 2000
            wait_for_rows(target)
            sink.kill9()
            killed_at.append(total_rows(pg_settings))
    assert killed_at[-1] < n, f"the sink finished before the last kill: {killed_at}"
    with ServiceProcess(["sink"], env) as sink:
        wait_for_rows(n)
        wait_caught_up()
        assert total_rows(pg_settings) == n
        assert sink.metric("datastack_sink_dead_lettered_total") == 0
        assert sink.stop() == 0
    with psycopg.connect(pg_settings.conninfo()) as conn:
        dupes = conn.execute(
            "SELECT (SELECT count(*) - count(DISTINCT natural_key) FROM raw_crypto_prices)"
            " + (SELECT count(*) - count(DISTINCT natural_key) FROM raw_github_events)"
            " + (SELECT count(*) - count(DISTINCT natural_key) FROM raw_weather_data)"
        ).fetchone()
        assert dupes == (0,)


def test_hung_write_holds_bounded_memory_times_out_and_retries(
    kafka_settings: KafkaSettings,
    pg_settings: PostgresSettings,
    sink_env: dict[str, str],
    wait_for_rows: Callable[..., int],
    wait_caught_up: Callable[[], None],
) -> None:
    """A write that hangs without an error (here: a lock held by another session) must neither let
    consumption run ahead without bound nor stall the sink forever."""
    batch = 250
    writers = 2
    env = {
        **sink_env,
        "SINK_BATCH_MAX_MESSAGES": str(batch),
        "SINK_WRITERS": str(writers),
        "SINK_STATEMENT_TIMEOUT_MS": "1500",
    }
    first = messages.mixed(30)
    rest = messages.mixed(20_000, start=len(first))
    with ServiceProcess(["sink"], env) as sink:
        messages.produce(kafka_settings, first)
        wait_for_rows(len(first))
        consumed_before = sink.metric("datastack_sink_messages_consumed_total")
        with psycopg.connect(pg_settings.conninfo()) as locker:
            # All three tables (a batch may hold one topic only); SHARE mode blocks INSERT but not
            # SELECT, so the row counts below still work.
            locker.execute("LOCK TABLE raw_crypto_prices, raw_github_events, raw_weather_data IN SHARE MODE")
            messages.produce(kafka_settings, rest)
            wait_until(
                lambda: sink.metric("datastack_sink_db_errors_total", kind="QueryCanceled"),
                lambda v: v >= 2,
                what="hung writes cancelled by the statement timeout",
            )
            held = sink.metric("datastack_sink_messages_consumed_total") - consumed_before
            # In memory at most: LANE_DEPTH batches per writer process (one being written, one
            # decoded, one on its way), and per partition what waits for it (paused at a batch's
            # worth; one consume() call may overshoot that by less than a batch).
            bound = (LANE_DEPTH * writers + 2 * PARTITIONS) * batch
            assert bound < len(rest)
            assert 0 < held <= bound, sink.logs()[-5000:]
            assert sink.alive()
            locker.rollback()
        wait_for_rows(len(first) + len(rest), timeout=120)
        wait_caught_up()
        assert total_rows(pg_settings) == len(first) + len(rest)
        assert sink.stop() == 0


def private_pg_env(
    kafka: KafkaSettings, pg: PostgresSettings, sink_env: dict[str, str], **extra: str
) -> dict[str, str]:
    """The sink's environment for a private PostgreSQL server, in the test's consumer group."""
    return {
        **service_env(kafka, pg),
        "SINK_GROUP_ID": sink_env["SINK_GROUP_ID"],
        "SINK_BATCH_MAX_MESSAGES": "250",
        **extra,
    }


@pytest.fixture
def private_pg() -> Iterator[tuple[LocalPostgres, PostgresSettings]]:
    # Under the state dir, not pytest's tmp: the server runs as `postgres`, which cannot enter
    # root's private /tmp/pytest-of-root.
    root = state_dir() / "scratch" / uuid.uuid4().hex[:8]
    server = LocalPostgres(port=free_port(), root=root)
    info = server.up()
    yield (
        server,
        PostgresSettings(
            host=info.host,
            port=info.port,
            db="datastack",
            user=info.user,
            password=info.password,
            sslmode="disable",
        ),
    )  # type: ignore[arg-type]
    server.down()
    shutil.rmtree(root, ignore_errors=True)


def test_postgres_outage_pauses_then_resumes_with_nothing_lost(
    kafka_settings: KafkaSettings,
    private_pg: tuple[LocalPostgres, PostgresSettings],
    wait_caught_up: Callable[[], None],
    sink_env: dict[str, str],
) -> None:
    server, pg = private_pg
    n = 20_000
    messages.produce(kafka_settings, messages.mixed(n))
    env = private_pg_env(kafka_settings, pg, sink_env, SINK_RETRY_MAX_S="1")
    with ServiceProcess(["sink"], env) as sink:
        wait_until(lambda: total_rows(pg), lambda c: c >= 2000, what="first rows", interval=0.05)
        server.stop("immediate")  # a crash, not a polite shutdown
        wait_until(lambda: sink.metric("datastack_sink_paused"), lambda v: v == 1, what="sink paused")
        errors_while_down = wait_until(
            lambda: sink.metric("datastack_sink_db_errors_total"), lambda v: v >= 3, what="retries"
        )
        assert sink.alive()
        assert _rss_mb(sink.proc.pid) < 300
        server.start()
        wait_until(lambda: total_rows(pg), lambda c: c >= n, timeout=120, what=f"{n} rows")
        wait_caught_up()
        assert total_rows(pg) == n
        assert sink.metric("datastack_sink_paused") == 0
        # Backoff, not a busy loop: a few retries per second at most.
        assert errors_while_down < 50
        assert sink.stop() == 0


def test_postgres_down_at_start_up_then_up_the_sink_becomes_ready_and_writes(
    kafka_settings: KafkaSettings,
    private_pg: tuple[LocalPostgres, PostgresSettings],
    wait_caught_up: Callable[[], None],
    sink_env: dict[str, str],
) -> None:
    """Kubernetes starts the sink before PostgreSQL accepts connections (a fresh cluster, a node
    restart): once the database is there, the sink is Ready and consumes, not paused for good."""
    server, pg = private_pg
    n = 2000
    messages.produce(kafka_settings, messages.mixed(n))
    server.stop("immediate")
    env = private_pg_env(kafka_settings, pg, sink_env, SINK_RETRY_MAX_S="1")
    with ServiceProcess(["sink"], env) as sink:
        wait_until(
            lambda: sink.metric("datastack_sink_db_errors_total"), lambda v: v >= 2, what="start-up retries"
        )
        assert _readyz(sink) == 503
        server.start()
        wait_until(lambda: total_rows(pg), lambda c: c >= n, timeout=120, what=f"{n} rows")
        wait_caught_up()
        assert total_rows(pg) == n
        assert sink.metric("datastack_sink_paused") == 0
        assert _readyz(sink) == 200
        assert sink.stop() == 0


def _readyz(sink: ServiceProcess) -> int:
    return httpx.get(f"http://127.0.0.1:{sink.metrics_port}/readyz", timeout=2).status_code


def test_sigterm_while_postgres_is_down_exits_in_time_and_loses_nothing(
    kafka_settings: KafkaSettings,
    private_pg: tuple[LocalPostgres, PostgresSettings],
    wait_caught_up: Callable[[], None],
    sink_env: dict[str, str],
) -> None:
    server, pg = private_pg
    n = 6000
    messages.produce(kafka_settings, messages.mixed(n))
    env = private_pg_env(kafka_settings, pg, sink_env, SINK_SESSION_TIMEOUT_MS="6000", SHUTDOWN_TIMEOUT_S="8")
    with ServiceProcess(["sink"], env) as sink:
        wait_until(lambda: total_rows(pg), lambda c: c >= 500, what="first rows", interval=0.05)
        server.stop("immediate")
        wait_until(lambda: sink.metric("datastack_sink_paused"), lambda v: v == 1, what="sink paused")
        code, seconds = sink.stopped_within(signal.SIGTERM, timeout=30)
        assert code == 0, sink.logs()[-3000:]
        # SHUTDOWN_TIMEOUT_S bounds the flush; a little slack for leaving the group and exiting.
        assert seconds < 8 + 3, f"took {seconds:.1f}s to stop with the database down"
    server.start()
    written = total_rows(pg)
    assert written < n
    with ServiceProcess(["sink"], env) as sink:  # the abandoned batches are redelivered
        wait_until(lambda: total_rows(pg), lambda c: c >= n, timeout=120, what=f"{n} rows")
        wait_caught_up()
        assert total_rows(pg) == n
        assert sink.stop() == 0


@pytest.fixture
def private_kafka(tmp_path: Path) -> Iterator[tuple[LocalKafka, KafkaSettings]]:
    broker = LocalKafka(port=free_port(), root=tmp_path)
    settings = KafkaSettings(bootstrap_servers=broker.up(), topic_namespace="")
    ensure_topics(settings)
    yield broker, settings
    broker.down()


def test_broker_restart_resumes(
    private_kafka: tuple[LocalKafka, KafkaSettings],
    pg_settings: PostgresSettings,
    wait_for_rows: Callable[..., int],
) -> None:
    broker, kafka = private_kafka
    env = service_env(kafka, pg_settings, SINK_GROUP_ID=f"sink-{uuid.uuid4().hex[:8]}")
    with ServiceProcess(["sink"], env) as sink:
        messages.produce(kafka, messages.mixed(3000))
        wait_for_rows(3000)
        broker.restart()
        messages.produce(kafka, messages.mixed(3000, start=3000))
        wait_for_rows(6000, timeout=120)
        topics = ["crypto_prices", "github_events", "weather_data"]
        wait_until(
            lambda: messages.group_caught_up(kafka, env["SINK_GROUP_ID"], topics),
            timeout=60,
            what="offsets committed after the restart",
        )
        assert total_rows(pg_settings) == 6000
        assert sink.alive()
        assert sink.stop() == 0
    with psycopg.connect(pg_settings.conninfo()) as conn:
        assert conn.execute(
            sql.SQL("SELECT count(DISTINCT natural_key) FROM raw_github_events")
        ).fetchone() == (2000,)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return found


def test_a_killed_writer_process_stops_the_sink_and_loses_nothing(
    kafka_settings: KafkaSettings,
    pg_settings: PostgresSettings,
    sink_env: dict[str, str],
    wait_for_rows: Callable[..., int],
    wait_caught_up: Callable[[], None],
) -> None:
    """A writer process that dies (OOM kill, crash) takes its uncommitted batches with it: the sink
    exits non-zero at once, so its supervisor restarts it, rather than run on without them."""
    n = 20_000
    messages.produce(kafka_settings, messages.mixed(n))
    env = {**sink_env, "SINK_BATCH_MAX_MESSAGES": "250", "SINK_WRITERS": "2"}
    with ServiceProcess(["sink"], env) as sink:
        wait_for_rows(2000)
        writers = _children(sink.proc.pid)
        assert len(writers) == 2, writers
        os.kill(writers[0], signal.SIGKILL)
        assert sink.wait(timeout=30) != 0
        assert "exited unexpectedly" in sink.logs()
        # The other writer went with it (no orphan keeps writing).
        wait_until(lambda: [p for p in writers if Path(f"/proc/{p}").exists()], lambda alive: not alive)
    assert total_rows(pg_settings) < n, "the sink finished before the kill"
    with ServiceProcess(["sink"], env) as sink:
        wait_for_rows(n)
        wait_caught_up()
        assert total_rows(pg_settings) == n
        assert sink.stop() == 0
    with psycopg.connect(pg_settings.conninfo()) as conn:
        for table in ("raw_crypto_prices", "raw_github_events", "raw_weather_data"):
            dupes = conn.execute(
                sql.SQL("SELECT count(*) - count(DISTINCT natural_key) FROM {}").format(sql.Identifier(table))
            ).fetchone()
            assert dupes == (0,), table
