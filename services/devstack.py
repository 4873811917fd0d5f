"""`datastack dev`: the whole local pipeline in one terminal.

Starts (or reuses) the local PostgreSQL and Kafka, then runs each service as its own child process
(as Kubernetes would run each in its own pod), prefixes their logs, prints raw-table row counts
every STATUS_EVERY_S seconds, and stops everything with SIGTERM on Ctrl-C.
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

from services.contract import STREAMS
from services.infra import local
from services.runtime import StopFlag, install_signal_handlers

STATUS_EVERY_S = 30.0


@dataclass(frozen=True)
class Child:
    name: str
    args: tuple[str, ...]
    metrics_port: int


CHILDREN = (
    Child("crypto", ("produce", "crypto", "--source", "replay", "--interval", "10"), 9101),
    Child("github", ("produce", "github", "--source", "replay", "--interval", "10"), 9102),
    Child("weather", ("produce", "weather", "--source", "replay", "--interval", "10"), 9103),
    Child("sink", ("sink",), 9104),
    Child("sync", ("sync", "--interval", "30"), 9105),
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
                    f"SELECT count(*) FROM {stream.raw_table}"  # noqa: S608 - fixed table names
                ).fetchone()
                parts.append(f"{stream.raw_table}={count[0] if count else 0}")
            return " ".join(parts)
    except psycopg.Error as exc:
        return f"(row counts unavailable: {type(exc).__name__})"


@click.command()
def dev() -> None:
    """Run infra + producers (replay) + sink + lake syncer until Ctrl-C."""
    infra = local.up()
    env = {**os.environ, **infra.env(), "LOG_FORMAT": "console"}
    exe = os.path.join(os.path.dirname(sys.executable), "datastack")
    click.echo(infra.exports())
    procs: dict[str, subprocess.Popen[str]] = {}
    for child in CHILDREN:
        proc = subprocess.Popen(
            [exe, *child.args],
            env={**env, "METRICS_PORT": str(child.metrics_port)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        assert proc.stdout is not None
        threading.Thread(target=_pump, args=(child.name, proc.stdout), daemon=True).start()
        procs[child.name] = proc
        click.echo(f"started {child.name}: metrics http://127.0.0.1:{child.metrics_port}/metrics")
    stop = StopFlag()
    install_signal_handlers(stop)
    conninfo = infra.postgres.conninfo("datastack")
    while not stop.wait(STATUS_EVERY_S):
        click.echo(f"  status | {_row_counts(conninfo)}")
        for name, proc in procs.items():
            if proc.poll() is not None:
                click.echo(f"  status | {name} exited with {proc.returncode}", err=True)
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for name, proc in procs.items():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            click.echo(f"{name} did not stop within 30 s; killing", err=True)
            proc.kill()
    click.echo(f"stopped. infra keeps running (make infra-down). {_row_counts(conninfo)}")
