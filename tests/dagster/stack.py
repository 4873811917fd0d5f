"""A real local Dagster for tests, in the shape `datastack dev` and the cluster run it: a code server
for dagster_code.definitions, the webserver and the daemon, with the instance in a fresh PostgreSQL
database. Started on free ports, stopped by the process groups it created, which are then checked
to be empty."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from services.devstack import Child, DagsterPlan, spawn, stop_all, wait_listening
from services.infra.local import LocalInfra
from tests.support.proc import free_port
from tests.support.wait import wait_until


def group_alive(pgid: int) -> bool:
    """Whether any process is left in process group `pgid`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After ")": state, ppid, pgrp; a zombie (Z) is already gone.
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def listening(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class ScheduleOutputs:
    """`datastack schedules` outputs recorded while the stack was fresh (see the `stack` fixture)."""

    initial: subprocess.CompletedProcess[str]
    stops: list[subprocess.CompletedProcess[str]]


def pause(seconds: float) -> bool:
    """A stop flag that never stops: `wait_listening` only sleeps between attempts."""
    time.sleep(seconds)
    return False


class DagsterStack:
    schedules: ScheduleOutputs | None = None

    def __init__(self, infra: LocalInfra, home: Path, db: str, data_env: dict[str, str]) -> None:
        self.plan = DagsterPlan(home, db, port=free_port(), grpc_port=free_port())
        self.env = {**os.environ, **data_env, **self.plan.prepare(infra), "PYTHONUNBUFFERED": "1"}
        self.log_path = home / "stack.log"
        self._log = self.log_path.open("w")
        self.procs: dict[str, tuple[Child, subprocess.Popen[str]]] = {}
        self._pending = list(self.plan.children(Path(sys.executable).parent))
        self.start(until="dagster-daemon")

    def start(self, until: str | None = None) -> None:
        """Start the children not yet started, in order, stopping before `until` (the daemon waits
        until the tests have set the schedules and sensors they want)."""
        while self._pending and self._pending[0].name != until:
            child = self._pending.pop(0)
            proc = spawn(child, list(child.args), self.env, self._log)
            self.procs[child.name] = (child, proc)
            if child.ready_port:
                assert wait_listening(proc, child.ready_port, pause), self.logs()

    @property
    def url(self) -> str:
        return self.plan.url

    @property
    def pgids(self) -> list[int]:
        return [proc.pid for _child, proc in self.procs.values()]

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]  # type: ignore[no-any-return]

    def loaded(self) -> bool:
        try:
            data = self.graphql(
                "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus "
                "locationOrLoadError { __typename } } } } }"
            )
        except (httpx.HTTPError, AssertionError):
            return False
        entries = data["workspaceOrError"].get("locationEntries") or []
        loaded = bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)
        if loaded:
            failed = [e for e in entries if e["locationOrLoadError"]["__typename"] != "RepositoryLocation"]
            assert not failed, f"the code location failed to load: {self.logs()[-3000:]}"
        return loaded

    def wait_ready(self, timeout: float = 240) -> None:
        for name, (_child, proc) in self.procs.items():
            assert proc.poll() is None, f"{name} exited: {self.logs()[-3000:]}"
        wait_until(self.loaded, timeout=timeout, interval=1, what="the Dagster webserver to load the code")

    def stop_sensor(self, name: str) -> None:
        """Stop a sensor through the API, as the UI's toggle does (keeps test runs deterministic)."""
        data = self.graphql(
            "{ repositoriesOrError { ... on RepositoryConnection { nodes { sensors { name "
            "sensorState { id status } } } } } }"
        )
        states = [
            s["sensorState"]["id"]
            for repo in data["repositoriesOrError"]["nodes"]
            for s in repo["sensors"]
            if s["name"] == name
        ]
        assert states, name
        result = self.graphql(
            "mutation($id: String!) { stopSensor(id: $id) { __typename } }", {"id": states[0]}
        )
        assert result["stopSensor"]["__typename"] == "StopSensorMutationResult", result

    def logs(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_all(self.procs)
        self._log.close()
