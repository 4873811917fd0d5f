"""`datastack dev`: the whole local pipeline in one terminal.

Starts (or reuses) the local PostgreSQL and Kafka, then runs each service as its own child process
(as Kubernetes would run each in its own pod), prefixes their logs, prints raw-table row counts
every --status-every seconds, and stops everything with SIGTERM on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import IO

import click
import psycopg
from psycopg import sql

from services.contract import STREAMS
from services.infra import local
from services.runtime import StopFlag, install_signal_handlers

STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Child:
    name: str
    args: tuple[str, ...]


def children(sync_interval_s: float) -> tuple[Child, ...]:
    return (
        Child("crypto", ("produce", "crypto", "--source", "replay", "--interval", "10")),
        Child("github", ("produce", "github", "--source", "replay", "--interval", "10")),
        Child("weather", ("produce", "weather", "--source", "replay", "--interval", "10")),
        Child("sink", ("sink",)),
        Child("sync", ("sync", "--interval", f"{sync_interval_s:g}")),
    )


def _pump(name: str, stream: IO[str]) -> None:
    for line in stream:
        sys.stdout.write(f"{name:>8} | {line}")
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
def dev(metrics_port_base: int, status_every: float, sync_interval: float) -> None:
    """Run infra + producers (replay) + sink + lake syncer until Ctrl-C."""
    infra = local.up()
    env = {**os.environ, **infra.env(), "LOG_FORMAT": "console"}
    exe = os.path.join(os.path.dirname(sys.executable), "datastack")
    click.echo(infra.exports())
    procs: dict[str, subprocess.Popen[str]] = {}
    for port, child in enumerate(children(sync_interval), start=metrics_port_base):
        proc = subprocess.Popen(
            [exe, *child.args],
            env={**env, "METRICS_PORT": str(port)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        assert proc.stdout is not None
        threading.Thread(target=_pump, args=(child.name, proc.stdout), daemon=True).start()
        procs[child.name] = proc
        click.echo(f"started {child.name}: metrics http://127.0.0.1:{port}/metrics")
    stop = StopFlag()
    install_signal_handlers(stop)
    conninfo = infra.postgres.conninfo("datastack")
    while not stop.wait(status_every):
        click.echo(f"  status | {_row_counts(conninfo)}")
        for name, proc in procs.items():
            if proc.poll() is not None:
                click.echo(f"  status | {name} exited with {proc.returncode}", err=True)
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for name, proc in procs.items():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            click.echo(f"{name} did not stop within {STOP_TIMEOUT_S:g} s; killing", err=True)
            proc.kill()
    click.echo(f"stopped. infra keeps running (make infra-down). {_row_counts(conninfo)}")
