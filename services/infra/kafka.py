"""A private Apache Kafka broker (KRaft, one combined controller+broker) from Maven Central jars.

The jars are fetched once with Maven through `kafka-pom.xml` into the user cache and shared by every
clone; the broker's data, config and logs live under the state dir.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from services.infra.paths import cache_dir, state_dir

log = logging.getLogger(__name__)

KAFKA_VERSION = "4.3.1"  # Strimzi 1.2.0's default
POM = Path(__file__).with_name("kafka-pom.xml")

LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = warn
logger.org.name = org.apache.kafka
logger.org.level = warn
"""


def libs_dir() -> Path:
    return cache_dir() / f"kafka-{KAFKA_VERSION}" / "libs"


def fetch_kafka() -> Path:
    """Download the broker's classpath once (idempotent, atomic rename)."""
    target = libs_dir()
    if (target / ".complete").exists():
        return target
    if not shutil.which("mvn"):
        raise FileNotFoundError("Maven (mvn) is needed to fetch Kafka; run `make setup`")
    tmp = target.with_name(f"libs.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    log.info("fetching Apache Kafka %s from Maven Central", KAFKA_VERSION)
    # Maven's output goes to a log, not stdout: `datastack infra up` stdout is `export` lines only.
    result = subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-Dstyle.color=never",
            "-f",
            str(POM),
            f"-Dkafka.version={KAFKA_VERSION}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={tmp}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"fetching Kafka with Maven failed:\n{result.stdout}\n{result.stderr}")
    (tmp / ".complete").write_text(KAFKA_VERSION)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


class LocalKafka:
    def __init__(self, port: int | None = None, root: Path | None = None) -> None:
        self.port = port or int(os.environ.get("DATASTACK_KAFKA_PORT", "59092"))
        self.controller_port = self.port + 1
        self.root = (root or state_dir()) / "kafka"
        self.data = self.root / "data"
        self.props = self.root / "server.properties"
        self.pidfile = self.root / "kafka.pid"
        self.logfile = self.root / "kafka.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def up(self, timeout: float = 120.0) -> str:
        libs = fetch_kafka()
        if self.is_running():
            return self.bootstrap
        self.root.mkdir(parents=True, exist_ok=True)
        self._write_config()
        if not (self.data / "meta.properties").exists():
            self._java(
                libs,
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                _cluster_id(),
                "-c",
                str(self.props),
                wait=True,
            )
        self._start(libs)
        self._wait_ready(timeout)
        return self.bootstrap

    def down(self, timeout: float = 60.0) -> None:
        pid = self._pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)

    def restart(self) -> None:
        self.down()
        self.up()

    def is_running(self) -> bool:
        pid = self._pid()
        return pid is not None and _alive(pid) and _port_open(self.port)

    # -- internals -------------------------------------------------------------------------------
    def _pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _write_config(self) -> None:
        c = self.controller_port
        self.props.write_text(
            "process.roles=broker,controller\nnode.id=1\n"
            f"controller.quorum.bootstrap.servers=127.0.0.1:{c}\n"
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{c}\n"
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}\n"
            "controller.listener.names=CONTROLLER\ninter.broker.listener.name=PLAINTEXT\n"
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
            f"log.dirs={self.data}\n"
            # Single node: every internal topic has one replica.
            "offsets.topic.replication.factor=1\noffsets.topic.num.partitions=10\n"
            "transaction.state.log.replication.factor=1\ntransaction.state.log.min.isr=1\n"
            "share.coordinator.state.topic.replication.factor=1\n"
            "share.coordinator.state.topic.min.isr=1\n"
            # Topics are created explicitly (datastack infra up); typos must fail, not auto-create.
            "auto.create.topics.enable=false\nnum.partitions=3\n"
            # Consumers in tests and dev join at once instead of waiting 3 s for more members.
            "group.initial.rebalance.delay.ms=0\n"
        )
        (self.root / "log4j2.properties").write_text(LOG4J2.format(log=self.root / "server.log"))

    def _java(self, libs: Path, main: str, *args: str, wait: bool = False) -> subprocess.Popen[bytes]:
        java = shutil.which("java")
        if not java:
            raise FileNotFoundError("java (17+) is needed to run Kafka; run `make setup`")
        cmd = [
            java,
            "-Xms256m",
            "-Xmx1g",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.root / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",
            main,
            *args,
        ]
        with self.logfile.open("ab") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        if wait and proc.wait() != 0:
            raise RuntimeError(f"{main} failed; see {self.logfile}")
        return proc

    def _start(self, libs: Path) -> None:
        log.info("starting Kafka broker", extra={"bootstrap": self.bootstrap})
        proc = self._java(libs, "kafka.Kafka", str(self.props))
        self.pidfile.write_text(str(proc.pid))

    def _wait_ready(self, timeout: float) -> None:
        from confluent_kafka.admin import AdminClient

        deadline = time.monotonic() + timeout
        pid = self._pid()
        while time.monotonic() < deadline:
            if pid is not None and not _alive(pid):
                raise RuntimeError(f"Kafka exited during start-up; see {self.logfile}")
            if _port_open(self.port):
                try:
                    md = AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(timeout=5)
                    if md.brokers:
                        return
                except Exception:  # noqa: S110 - not ready yet; polled until the deadline
                    pass
            time.sleep(0.3)
        raise TimeoutError(f"Kafka not ready on {self.bootstrap} after {timeout}s; see {self.logfile}")


def _cluster_id() -> str:
    """Kafka cluster ids are 16 random bytes, base64url without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; treat it as dead.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
