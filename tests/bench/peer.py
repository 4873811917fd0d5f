"""The peer of the sink benchmark: Debezium's JDBC sink connector in Kafka Connect standalone.

Where it comes from: Maven Central, fetched at bench time into the user cache (~/.cache/datastack,
outside the repository), never committed or shipped:
- the connector: `io.debezium:debezium-connector-jdbc:3.6.0.Final`, classifier `plugin`, type
  `tar.gz` (Debezium's own plugin archive, JDBC drivers included; resolving the plain POM fails,
  its BOM names an artifact Central does not have);
- Kafka Connect at the broker's version (services/infra/kafka.py), through connect-pom.xml.
Tuned as issue 12 measured it: 3 tasks, batch.size 2000 (with max.poll.records 2000 so one poll
fills a batch), `reWriteBatchedInserts=true` on the JDBC URL, upsert on the natural key, into a
database of its own on the same PostgreSQL server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from services.config import KafkaSettings, PostgresSettings
from services.infra.kafka import KAFKA_VERSION
from services.infra.paths import cache_dir
from tests.support.proc import free_port

DEBEZIUM_VERSION = "3.6.0.Final"
PLUGIN_ARTIFACT = f"io.debezium:debezium-connector-jdbc:{DEBEZIUM_VERSION}:tar.gz:plugin"
CONNECT_POM = Path(__file__).with_name("connect-pom.xml")
TASKS = 3
BATCH_SIZE = 2000
TUNING = f"tasks.max={TASKS} batch.size={BATCH_SIZE} insert.mode=upsert reWriteBatchedInserts=true"

LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
"""


def _mvn(*args: str) -> None:
    if not shutil.which("mvn"):
        raise FileNotFoundError("Maven (mvn) is needed to fetch the peer; run `make setup`")
    result = subprocess.run(
        ["mvn", "-q", "-B", "-Dstyle.color=never", *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"mvn {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def _fetch_once(target: Path, fill: Callable[[Path], None]) -> Path:
    """Fill `target` once (idempotent; built in a temporary sibling and renamed into place)."""
    if (target / ".complete").exists():
        return target
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    fill(tmp)
    (tmp / ".complete").write_text("ok")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def fetch_plugin() -> Path:
    """Kafka Connect `plugin.path` holding the Debezium JDBC sink connector."""

    def fill(tmp: Path) -> None:
        with tempfile.TemporaryDirectory() as download:
            _mvn("dependency:copy", f"-Dartifact={PLUGIN_ARTIFACT}", f"-DoutputDirectory={download}")
            (archive,) = Path(download).glob("*.tar.gz")
            with tarfile.open(archive) as tar:
                tar.extractall(tmp / "plugins", filter="data")

    return _fetch_once(cache_dir() / f"debezium-connector-jdbc-{DEBEZIUM_VERSION}", fill) / "plugins"


def fetch_connect() -> Path:
    """The Kafka Connect worker's classpath at the broker's Kafka version."""

    def fill(tmp: Path) -> None:
        _mvn(
            "-f",
            str(CONNECT_POM),
            f"-Dkafka.version={KAFKA_VERSION}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={tmp / 'libs'}",
        )

    return _fetch_once(cache_dir() / f"kafka-connect-{KAFKA_VERSION}", fill) / "libs"


def _properties(values: dict[str, str | int]) -> str:
    return "".join(f"{key}={value}\n" for key, value in values.items())


@contextlib.contextmanager
def connect_standalone(kafka: KafkaSettings, topic: str, pg: PostgresSettings, table: str) -> Iterator[int]:
    """Run the tuned peer on `topic` into `table` of `pg`'s database; yields the JVM's pid."""
    libs, plugins = fetch_connect(), fetch_plugin()
    java = shutil.which("java")
    if not java:
        raise FileNotFoundError("java (17+) is needed to run Kafka Connect; run `make setup`")
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as tmp:
        root = Path(tmp)
        worker, connector = root / "worker.properties", root / "connector.properties"
        worker.write_text(
            _properties(
                {
                    "bootstrap.servers": kafka.bootstrap_servers,
                    "key.converter": "org.apache.kafka.connect.json.JsonConverter",
                    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                    "key.converter.schemas.enable": "true",
                    "value.converter.schemas.enable": "true",
                    "offset.storage.file.filename": str(root / "connect.offsets"),
                    "plugin.path": str(plugins),
                    "listeners": f"http://127.0.0.1:{free_port()}",
                    "consumer.max.poll.records": BATCH_SIZE,
                }
            )
        )
        url = f"jdbc:postgresql://{pg.host}:{pg.port}/{pg.db}?reWriteBatchedInserts=true&sslmode={pg.sslmode}"
        connector.write_text(
            _properties(
                {
                    "name": f"bench-peer-{root.name}",
                    "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector",
                    "tasks.max": TASKS,
                    "topics": topic,
                    "connection.url": url,
                    "connection.username": pg.user,
                    "connection.password": pg.password.get_secret_value(),
                    "insert.mode": "upsert",
                    "primary.key.mode": "record_value",
                    "primary.key.fields": "natural_key",
                    "schema.evolution": "basic",
                    "batch.size": BATCH_SIZE,
                    "collection.name.format": table,
                    "use.time.zone": "UTC",
                }
            )
        )
        connector.chmod(0o600)  # it holds the database password (deleted with the directory)
        log4j = root / "log4j2.properties"
        log4j.write_text(LOG4J2.format(log=root / "connect.log"))
        cmd = [
            java,
            "-Xms256m",
            "-Xmx2g",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            f"{libs}/*",
            "org.apache.kafka.connect.cli.ConnectStandalone",
            str(worker),
            str(connector),
        ]
        with (root / "stdout.log").open("ab") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield proc.pid
            if proc.poll() is not None:
                raise RuntimeError(f"Kafka Connect exited ({proc.returncode}): {_tail(root)}")
        except BaseException:
            print(_tail(root), flush=True)
            raise
        finally:
            _stop(proc)


def _tail(root: Path) -> str:
    text = "".join(
        p.read_text(errors="replace") for p in (root / "stdout.log", root / "connect.log") if p.exists()
    )
    return text[-4000:]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
