"""Run a `datastack` subcommand as a real child process, as Kubernetes would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

DATASTACK = str(Path(sys.executable).with_name("datastack"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_range(n: int) -> int:
    """First of `n` consecutive ports that are free right now."""
    for _ in range(100):
        base = free_port()
        if base + n > 65535:
            continue
        try:
            for port in range(base, base + n):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no {n} consecutive free ports")


def scrape(port: int, name: str, **labels: str) -> float:
    """Sum of a metric's samples whose labels include `labels` (0 when absent or unreachable)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return 0.0
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        if head.split("{", 1)[0] != name:
            continue
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


class ServiceProcess:
    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.metrics_port = free_port()
        self.env = {**env, "METRICS_PORT": str(self.metrics_port), "METRICS_HOST": "127.0.0.1"}
        self.args = args
        self._log = tempfile.NamedTemporaryFile(prefix="datastack-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen(
            [DATASTACK, *args], env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def logs(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2).text

    def metric(self, name: str, **labels: str) -> float:
        return scrape(self.metrics_port, name, **labels)

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self, timeout: float = 30.0) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stopped_within(self, sig: signal.Signals, timeout: float) -> tuple[int, float]:
        started = time.monotonic()
        self.signal(sig)
        code = self.proc.wait(timeout=timeout)
        return code, time.monotonic() - started

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        Path(self._log.name).unlink(missing_ok=True)
