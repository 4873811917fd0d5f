"""`datastack dev`: the whole local stack in one terminal, the Dagster UI included.

Starts (or reuses) the local PostgreSQL and Kafka, then runs each service as its own child process
(as Kubernetes would run each in its own pod): the three producers (replay), the sink, the lake
syncer, and Dagster as the cluster runs it: a code server for `dagster_code.definitions`, the
webserver (the UI) and the daemon (schedules, sensors, the run queue), with DAGSTER_HOME under
`.local/dagster` and its storage in the local PostgreSQL database `dagster`. It prefixes the
children's logs, prints row counts and Dagster run counts every --status-every seconds, and stops
everything on Ctrl-C.

Dagster's children start their own processes (the code server's gRPC worker, one process per run,
dbt under a run), so each Dagster child gets a process group of its own, and stopping signals the
whole group: nothing is left running or listening.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import click
import httpx
import psycopg
from psycopg import sql

from services.contract import STREAMS
from services.infra import local
from services.infra.local import LocalInfra
from services.infra.paths import state_dir
from services.runtime import StopFlag, install_signal_handlers

STOP_TIMEOUT_S = 30.0
UI_READY_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Child:
    name: str
    args: tuple[str, ...]
    metrics: bool = True
    """Serves /metrics on the next port of --metrics-port-base (our services do, Dagster does not)."""
    own_group: bool = False
    """Runs in its own process group, signalled as a whole (Dagster's children spawn their own)."""
    ready_port: int | None = None
    """The next children start once this port accepts connections: the webserver and the daemon
    that find no code server at start show a load error until someone clicks Reload."""


def children(sync_interval_s: float) -> tuple[Child, ...]:
    return (
        Child("crypto", ("produce", "crypto", "--source", "replay", "--interval", "10")),
        Child("github", ("produce", "github", "--source", "replay", "--interval", "10")),
        Child("weather", ("produce", "weather", "--source", "replay", "--interval", "10")),
        Child("sink", ("sink",)),
        Child("sync", ("sync", "--interval", f"{sync_interval_s:g}")),
    )


@dataclass(frozen=True)
class DagsterPlan:
    """Where the local Dagster lives and listens."""

    home: Path
    db: str
    port: int
    grpc_port: int
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def children(self, bin_dir: Path) -> tuple[Child, ...]:
        workspace = str(self.home / "workspace.yaml")
        return (
            Child(
                "dagster-code",
                (
                    str(bin_dir / "dagster"),
                    "code-server",
                    "start",
                    "-m",
                    "dagster_code.definitions",
                    "-h",
                    self.host,
                    "-p",
                    str(self.grpc_port),
                    "--location-name",
                    "datastack",
                ),
                metrics=False,
                own_group=True,
                ready_port=self.grpc_port,
            ),
            Child(
                "dagster-web",
                (str(bin_dir / "dagster-webserver"), "-w", workspace, "-h", self.host, "-p", str(self.port)),
                metrics=False,
                own_group=True,
            ),
            Child(
                "dagster-daemon",
                (str(bin_dir / "dagster-daemon"), "run", "-w", workspace),
                metrics=False,
                own_group=True,
            ),
        )

    def prepare(self, infra: LocalInfra) -> dict[str, str]:
        """Write dagster.yaml and workspace.yaml; return the environment Dagster's children need."""
        from dagster_code.lib import instance
        from dagster_code.lib.paths import MANIFEST_PATH

        if not MANIFEST_PATH.is_file():
            raise click.ClickException(
                f"the dbt manifest {MANIFEST_PATH} is missing: run `make dbt-parse` first (no database "
                "needed), or `datastack dev --no-dagster`"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        pg = infra.postgres
        settings = instance.instance_settings(pg.host, pg.port, pg.user, self.db)
        (self.home / "dagster.yaml").write_text(instance.to_yaml(settings))
        workspace = instance.workspace_settings(self.host, self.grpc_port)
        (self.home / "workspace.yaml").write_text(instance.to_yaml(workspace))
        scratch = self.home / "scratch"
        env = {
            "DAGSTER_HOME": str(self.home),
            instance.PASSWORD_ENV: pg.password,
            # dbt's per-run artifacts and dbt-duckdb's file: a scratch directory, as in the cluster.
            "DBT_TARGET_PATH": str(scratch / "dbt"),
        }
        # Runs the previous session left in progress would block the run queue (see the function).
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                "from dagster_code.lib.instance import fail_interrupted_runs as f; print(*f())",
            ],
            env={**os.environ, **infra.env(), **env},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise click.ClickException(
                f"cannot open the Dagster instance in {self.home}:\n{result.stderr[-2000:]}"
            )
        if result.stdout.split():
            click.echo(
                f"marked runs interrupted by the last stop as failed: {' '.join(result.stdout.split())}"
            )
        return env


def _pump(name: str, stream: IO[str]) -> None:
    for line in stream:
        sys.stdout.write(f"{name:>14} | {line}")
        sys.stdout.flush()


def _row_counts(conninfo: str) -> str:
    try:
        with psycopg.connect(conninfo, connect_timeout=3) as conn:
            parts = []
            for stream in STREAMS.values():
                count = conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(stream.raw_table))
                ).fetchone()
                parts.append(f"{stream.raw_table}={count[0] if count else 0}")
            return " ".join(parts)
    except psycopg.Error as exc:
        return f"(row counts unavailable: {type(exc).__name__})"


def _run_counts(conninfo: str) -> str:
    """Dagster runs by status, from the instance's own `runs` table."""
    try:
        with psycopg.connect(conninfo, connect_timeout=3) as conn:
            rows = conn.execute(
                "SELECT status, count(*) FROM runs GROUP BY status ORDER BY status"
            ).fetchall()
            return "dagster runs: " + (" ".join(f"{status}={n}" for status, n in rows) or "none yet")
    except psycopg.Error:
        return "dagster runs: (not yet available)"


def _announce_ui(plan: DagsterPlan, stop: StopFlag) -> None:
    """Print where to open the UI once the webserver has loaded the code location."""
    query = (
        "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
        "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
    )
    deadline = time.monotonic() + UI_READY_TIMEOUT_S
    while not stop.wait(1.0):
        try:
            body = httpx.post(f"{plan.url}/graphql", json={"query": query}, timeout=5).json()
            entries = body["data"]["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                errors = [
                    e for e in entries if e["locationOrLoadError"]["__typename"] != "RepositoryLocation"
                ]
                if errors:
                    message = (errors[0]["locationOrLoadError"].get("message") or "").strip().splitlines()
                    click.echo(
                        f"  status | the Dagster code location failed to load: {message[:1]} "
                        f"(see the dagster-code lines above; the UI at {plan.url} shows the error)",
                        err=True,
                    )
                    return
                click.echo(
                    f"\n  Dagster UI ready: {plan.url}  (schedules run by themselves; "
                    f"`datastack schedules --url {plan.url}` lists them)\n"
                )
                return
        except (httpx.HTTPError, KeyError, TypeError, ValueError):
            pass
        if time.monotonic() > deadline:
            click.echo(f"  status | the Dagster UI did not load within {UI_READY_TIMEOUT_S:g} s", err=True)
            return


def spawn(child: Child, argv: list[str], env: dict[str, str], stdout: int | IO[str]) -> subprocess.Popen[str]:
    """Start one child; Dagster's in a process group of their own (see the module docstring)."""
    return subprocess.Popen(
        argv,
        env=env,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        bufsize=1,
        start_new_session=child.own_group,
    )


def wait_listening(
    proc: subprocess.Popen[str],
    port: int,
    stopped: Callable[[float], bool],
    timeout: float = UI_READY_TIMEOUT_S,
) -> bool:
    """Wait until 127.0.0.1:`port` accepts connections; False if the child exited, the wait timed
    out, or `stopped(seconds)` (the stop flag's wait) said to stop."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        if stopped(0.2):
            return False
    return False


def _signal(proc: subprocess.Popen[str], child: Child, sig: signal.Signals) -> None:
    try:
        if child.own_group:
            os.killpg(proc.pid, sig)
        elif proc.poll() is None:
            proc.send_signal(sig)
    except ProcessLookupError:
        pass


def stop_all(procs: dict[str, tuple[Child, subprocess.Popen[str]]]) -> None:
    """SIGTERM every child (Dagster's whole process groups first), wait, SIGKILL what is left."""
    # Dagster first: the daemon stops launching runs, the runs stop with their code server.
    ordered = sorted(procs.values(), key=lambda cp: not cp[0].own_group)
    for child, proc in ordered:
        _signal(proc, child, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for child, proc in ordered:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            click.echo(f"{child.name} did not stop within {STOP_TIMEOUT_S:g} s; killing", err=True)
            _signal(proc, child, signal.SIGKILL)
            proc.wait()
        if child.own_group:
            # Whatever the group leader left behind (a run worker, dbt) goes with it.
            _signal(proc, child, signal.SIGKILL)


@click.command()
@click.option(
    "--metrics-port-base",
    envvar="DEV_METRICS_PORT_BASE",
    type=click.IntRange(1024, 65530),
    default=9101,
    show_default=True,
    help="The children serve /metrics and /healthz on this port and the next four.",
)
@click.option(
    "--status-every", type=click.FloatRange(min=0.5), default=30.0, show_default=True, help="Seconds."
)
@click.option(
    "--sync-interval", type=click.FloatRange(min=0.1), default=30.0, show_default=True, help="Seconds."
)
@click.option(
    "--dagster/--no-dagster", default=True, show_default=True, help="Run Dagster (UI, daemon, code server)."
)
@click.option(
    "--dagster-port",
    envvar="DEV_DAGSTER_PORT",
    type=click.IntRange(1, 65535),
    default=3000,
    show_default=True,
    help="The Dagster UI (webserver).",
)
@click.option(
    "--dagster-grpc-port",
    envvar="DEV_DAGSTER_GRPC_PORT",
    type=click.IntRange(1, 65535),
    default=4000,
    show_default=True,
    help="The code server (`dagster code-server start`, port 4000 in the cluster too).",
)
@click.option(
    "--dagster-home",
    envvar="DEV_DAGSTER_HOME",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="DAGSTER_HOME for the local instance [default: .local/dagster].",
)
@click.option(
    "--dagster-db",
    envvar="DEV_DAGSTER_DB",
    default="dagster",
    show_default=True,
    help="Local PostgreSQL database holding Dagster's runs, events and schedules.",
)
def dev(
    metrics_port_base: int,
    status_every: float,
    sync_interval: float,
    dagster: bool,
    dagster_port: int,
    dagster_grpc_port: int,
    dagster_home: Path | None,
    dagster_db: str,
) -> None:
    """Run infra + producers (replay) + sink + lake syncer + Dagster (UI, daemon) until Ctrl-C."""
    if dagster and importlib.util.find_spec("dagster") is None:
        raise click.ClickException(
            "Dagster is not installed in this environment (`uv sync --all-extras`, or `make setup`); "
            "`datastack dev --no-dagster` runs the stack without it"
        )
    infra = local.up()
    env = {**os.environ, **infra.env(), "LOG_FORMAT": "console", "PYTHONUNBUFFERED": "1"}
    bin_dir = Path(sys.executable).parent
    exe = str(bin_dir / "datastack")
    plan = DagsterPlan(
        (dagster_home or state_dir() / "dagster").resolve(), dagster_db, dagster_port, dagster_grpc_port
    )
    dagster_env = plan.prepare(infra) if dagster else {}
    click.echo(infra.exports())
    procs: dict[str, tuple[Child, subprocess.Popen[str]]] = {}
    port = metrics_port_base
    planned = children(sync_interval) + (plan.children(bin_dir) if dagster else ())
    stop = StopFlag()
    install_signal_handlers(stop)
    for child in planned:
        if stop.is_set():
            break
        child_env = {**env, **dagster_env}
        if child.metrics:
            child_env["METRICS_PORT"] = str(port)
        argv = list(child.args) if child.own_group else [exe, *child.args]
        proc = spawn(child, argv, child_env, subprocess.PIPE)
        assert proc.stdout is not None
        threading.Thread(target=_pump, args=(child.name, proc.stdout), daemon=True).start()
        procs[child.name] = (child, proc)
        if child.metrics:
            click.echo(f"started {child.name}: metrics http://127.0.0.1:{port}/metrics")
            port += 1
        else:
            click.echo(f"started {child.name} (pid {proc.pid})")
        ready = child.ready_port is None or wait_listening(proc, child.ready_port, stop.wait)
        if not ready and not stop.is_set():
            click.echo(f"  status | {child.name} is not listening on {child.ready_port}", err=True)
    if dagster:
        click.echo(f"Dagster UI: {plan.url} (loading the code location; a line says when it is ready)")
        threading.Thread(target=_announce_ui, args=(plan, stop), daemon=True).start()
    conninfo = infra.postgres.conninfo("datastack")
    dagster_conninfo = infra.postgres.conninfo(dagster_db)
    while not stop.wait(status_every):
        status = _row_counts(conninfo) + (f" | {_run_counts(dagster_conninfo)}" if dagster else "")
        click.echo(f"  status | {status}")
        for name, (_child, proc) in procs.items():
            if proc.poll() is not None:
                click.echo(f"  status | {name} exited with {proc.returncode}", err=True)
    stop_all(procs)
    click.echo(f"stopped. infra keeps running (make infra-down). {_row_counts(conninfo)}")
