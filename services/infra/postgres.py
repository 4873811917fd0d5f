"""A private PostgreSQL server for development and tests: initdb'd under the state dir, on loopback,
with SCRAM password auth and generated credentials."""

from __future__ import annotations

import json
import logging
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from services.infra.paths import state_dir

log = logging.getLogger(__name__)

# datastack: raw tables and the postgres-target models; ducklake: the lake catalog; dagster: the
# Dagster instance (runs, events, schedules), as the cluster keeps it in its own database.
APP_DATABASES = ("datastack", "ducklake", "dagster")
APP_ROLE = "datastack"
SUPERUSER = "postgres"


@dataclass(frozen=True)
class PostgresInfo:
    host: str
    port: int
    user: str
    password: str
    superuser_password: str
    databases: tuple[str, ...] = APP_DATABASES

    def conninfo(self, db: str = "datastack", *, superuser: bool = False) -> str:
        user, pw = (SUPERUSER, self.superuser_password) if superuser else (self.user, self.password)
        return f"host={self.host} port={self.port} dbname={db} user={user} password={pw}"


def _bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise FileNotFoundError(f"PostgreSQL server binary {name!r} not found; run `make setup`")


class LocalPostgres:
    def __init__(self, port: int | None = None, root: Path | None = None) -> None:
        self.port = port or int(os.environ.get("DATASTACK_PG_PORT", "55432"))
        self.root = (root or state_dir()) / "postgres"
        self.data = self.root / "data"
        self.logfile = self.root / "postgres.log"
        self.creds_file = self.root / "credentials.json"
        # The server refuses to run as root; CI and fresh machines run as root.
        self.run_as = "postgres" if os.geteuid() == 0 else None

    # -- lifecycle -------------------------------------------------------------------------------
    def up(self) -> PostgresInfo:
        creds = self._credentials()
        if not (self.data / "PG_VERSION").exists():
            self._initdb(creds["superuser_password"])
        if not self.is_running():
            self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.logfile))
        self._wait_accepting()
        info = self.info()
        self._bootstrap(info)
        return info

    def down(self) -> None:
        if (self.data / "PG_VERSION").exists() and self.is_running():
            self._pg_ctl("stop", "-m", "fast", "-w", "-t", "60")

    def restart(self) -> None:
        """Restart the server (fault-injection in tests)."""
        self._pg_ctl("restart", "-m", "fast", "-w", "-t", "60", "-l", str(self.logfile))
        self._wait_accepting()

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("stop", "-m", mode, "-w", "-t", "60")

    def start(self) -> None:
        self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.logfile))
        self._wait_accepting()

    def is_running(self) -> bool:
        if not (self.data / "PG_VERSION").exists():
            return False
        result = self._run([_bin("pg_ctl"), "status", "-D", str(self.data)], check=False)
        return result.returncode == 0

    def info(self) -> PostgresInfo:
        creds = self._credentials()
        return PostgresInfo(
            host="127.0.0.1",
            port=self.port,
            user=APP_ROLE,
            password=creds["password"],
            superuser_password=creds["superuser_password"],
        )

    # -- internals -------------------------------------------------------------------------------
    def _credentials(self) -> dict[str, str]:
        if self.creds_file.exists():
            return json.loads(self.creds_file.read_text())  # type: ignore[no-any-return]
        self.root.mkdir(parents=True, exist_ok=True)
        creds = {
            "password": secrets.token_urlsafe(18),
            "superuser_password": secrets.token_urlsafe(18),
        }
        fd = os.open(self.creds_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(creds, fh)
        return creds

    def _initdb(self, superuser_password: str) -> None:
        log.info("initialising PostgreSQL cluster", extra={"data": str(self.data)})
        self.data.mkdir(parents=True, exist_ok=True)
        self.data.chmod(0o700)
        pwfile = self.root / ".pwfile"
        pwfile.write_text(superuser_password)
        pwfile.chmod(0o600)
        if self.run_as:
            user = pwd.getpwnam(self.run_as)
            for path in (self.root, self.data, pwfile):
                os.chown(path, user.pw_uid, user.pw_gid)
        try:
            self._run(
                [
                    _bin("initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    SUPERUSER,
                    "--pwfile",
                    str(pwfile),
                    "--auth=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        conf = self.data / "postgresql.auto.conf"
        with conf.open("a") as fh:
            fh.write(
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.data}'\n"
                "max_connections = 200\nshared_buffers = '256MB'\n"
                "max_wal_size = '2GB'\nlog_min_messages = warning\n"
            )

    def _pg_ctl(self, *args: str) -> None:
        self._run([_bin("pg_ctl"), args[0], "-D", str(self.data), *args[1:]])

    def _run(self, cmd: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            cmd, user=self.run_as, capture_output=True, text=True, check=False, cwd=self.root
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:2])} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def _wait_accepting(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"PostgreSQL did not accept connections on port {self.port}")

    def _bootstrap(self, info: PostgresInfo) -> None:
        """Create the application role and databases (idempotent)."""
        with psycopg.connect(info.conninfo("postgres", superuser=True), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                    sql.SQL(verb), sql.Identifier(APP_ROLE), sql.Literal(info.password)
                )
            )
            for db in info.databases:
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone():
                    conn.execute(
                        sql.SQL("CREATE DATABASE {} OWNER {}").format(
                            sql.Identifier(db), sql.Identifier(APP_ROLE)
                        )
                    )
