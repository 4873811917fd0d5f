"""kubectl for the cluster tests: commands, waits that explain themselves, port-forwards, probe pods.

Every wait polls (tests/support/wait.py) and, when it times out, fails with what a person would look
at next: the namespace's pods, its recent events and the logs of the pods that are not Ready.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from tests.support.wait import wait_until

T = TypeVar("T")
NAMESPACE = "datastack"
ROOT = Path(__file__).resolve().parents[2]
VOLUMES = ROOT / ".local" / "kind" / "volumes"
"""kind-config.yaml mounts the node's volume directories here: the lake's files are on the host."""
Connect = Callable[[], psycopg.Connection[Any]]
"""Opens a connection to the in-cluster PostgreSQL (through a port-forward)."""


@dataclass
class Kube:
    """kubectl against the test cluster (its KUBECONFIG and PATH are in `env`)."""

    env: Mapping[str, str]
    namespace: str = NAMESPACE
    images: Mapping[str, str] = field(default_factory=dict)
    """Image references of the charts' containers, by repository (datastack/services -> ...:0.1.0)."""

    def run(
        self, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["kubectl", "-n", self.namespace, *args],
            env=dict(self.env),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result

    def get(self, *args: str) -> Any:
        return json.loads(self.run("get", *args, "-o", "json").stdout)

    def secret(self, name: str) -> dict[str, str]:
        data = self.get("secret", name)["data"]
        return {key: base64.b64decode(value).decode() for key, value in data.items()}

    # -- diagnostics ---------------------------------------------------------------------------------
    def diagnostics(self, pods: Sequence[str] = ()) -> str:
        """`kubectl get pods`, the latest events and the logs of `pods` (default: every pod not Ready)."""
        parts = [
            "$ kubectl get pods -o wide\n" + self.run("get", "pods", "-o", "wide", check=False).stdout,
            "$ kubectl get events (latest 25)\n"
            + "\n".join(
                self.run("get", "events", "--sort-by=.lastTimestamp", check=False).stdout.splitlines()[-25:]
            ),
        ]
        for pod in pods or self.unready_pods():
            logs = self.run("logs", pod, "--all-containers", "--tail=40", check=False)
            previous = self.run("logs", pod, "--all-containers", "--tail=20", "--previous", check=False)
            parts.append(f"$ kubectl logs {pod} --tail=40\n{logs.stdout}{logs.stderr}")
            if previous.returncode == 0:
                parts.append(f"$ kubectl logs {pod} --previous --tail=20\n{previous.stdout}")
        return "\n\n".join(parts)

    def unready_pods(self) -> list[str]:
        names = []
        # Dagster's run pods (Jobs) come and go with the schedules: not part of "the stack is up".
        for pod in self.get("pods", "-l", "!dagster/run-id")["items"]:
            if pod["status"].get("phase") == "Succeeded":
                continue
            statuses = pod["status"].get("containerStatuses") or []
            if not statuses or not all(s.get("ready") for s in statuses):
                names.append(pod["metadata"]["name"])
        return names

    def wait(
        self,
        probe: Callable[[], T],
        done: Callable[[T], bool] = bool,
        *,
        timeout: float,
        what: str,
        interval: float = 2.0,
        pods: Sequence[str] = (),
    ) -> T:
        """wait_until, and on timeout the cluster's state in the failure message."""
        try:
            return wait_until(probe, done, timeout=timeout, interval=interval, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n\n{self.diagnostics(pods)}") from None

    def wait_all_ready(self, timeout: float) -> None:
        self.wait(self.unready_pods, lambda left: not left, timeout=timeout, what="every pod Ready")

    def wait_rollout(self, deployment: str, timeout: float) -> None:
        def rolled_out() -> bool:
            d = self.get("deployment", deployment)
            status, generation = d["status"], d["metadata"]["generation"]
            replicas = d["spec"]["replicas"]
            return bool(
                status.get("observedGeneration", 0) >= generation
                and status.get("updatedReplicas", 0) == replicas
                and status.get("readyReplicas", 0) == replicas
                and status.get("replicas", 0) == replicas
            )

        self.wait(rolled_out, timeout=timeout, what=f"deployment/{deployment} rolled out")

    def lake_volume(self) -> Path:
        """The host directory of the lake's claim (kind-config.yaml mounts the node's volumes from
        .local/kind/volumes): the Parquet files the pods write, readable from the host."""
        volume = self.wait(
            lambda: self.get("pvc", "lake")["spec"].get("volumeName"),
            timeout=120,
            what="the lake claim bound to a volume",
        )
        claim = self.wait(
            lambda: next(iter(VOLUMES.glob(f"{volume}_{self.namespace}_lake")), None),
            timeout=60,
            what=f"the lake volume {volume} under .local/kind/volumes",
        )
        assert claim is not None
        return claim

    # -- port-forward ----------------------------------------------------------------------------------
    @contextmanager
    def port_forward(self, target: str, port: int) -> Iterator[PortForward]:
        """`kubectl port-forward TARGET LOCAL:PORT` on 127.0.0.1, restarted on the same local port
        whenever it has died (kubectl ends a forward when a connection through it breaks)."""
        forward = PortForward(self, target, port)
        try:
            forward.ensure()
            yield forward
        finally:
            forward.stop()

    # -- probe pods ------------------------------------------------------------------------------------
    def run_pod(
        self,
        script: str,
        *,
        labels: Mapping[str, str],
        env: Sequence[Mapping[str, Any]] = (),
        timeout: float = 180,
        name: str = "probe",
    ) -> tuple[str, str]:
        """Run `python -c SCRIPT` in the services image as a one-off pod under the namespace's rules
        (restricted security context, its labels decide what the NetworkPolicies let through);
        returns (phase, logs) once it has ended, and deletes it."""
        pod_name = f"{name}-{uuid.uuid4().hex[:6]}"
        manifest = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": pod_name, "labels": {"datastack.io/test": "cluster", **labels}},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "activeDeadlineSeconds": int(timeout),
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 10001,
                    "runAsGroup": 10001,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "probe",
                        "image": self.images["datastack/services"],
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["python", "-c", script],
                        "env": [{"name": "LOG_FORMAT", "value": "json"}, *env],
                        "resources": {
                            "requests": {"cpu": "10m", "memory": "64Mi"},
                            "limits": {"memory": "256Mi"},
                        },
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
                    }
                ],
                "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "64Mi"}}],
            },
        }
        self.run("apply", "-f", "-", stdin=json.dumps(manifest))
        try:
            phase = self.wait(
                lambda: self.get("pod", pod_name)["status"].get("phase", ""),
                lambda p: p in ("Succeeded", "Failed"),
                timeout=timeout + 30,
                what=f"probe pod {pod_name} to finish",
                pods=[pod_name],
            )
            return phase, self.run("logs", pod_name).stdout
        finally:
            self.run("delete", "pod", pod_name, "--wait=false", check=False)


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects among log lines (librdkafka and others may print plain lines in between)."""
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return found


class PortForward:
    """One `kubectl port-forward`, restarted on the same local port when it has died or reported a
    broken stream. kubectl ends (or, depending on the failure, keeps running uselessly) when a
    connection through it breaks, and a forward left idle for minutes is often gone by the next
    use (kubectl#1490): so every use starts with ensure()."""

    def __init__(self, kube: Kube, target: str, remote: int) -> None:
        self.kube, self.target, self.remote = kube, target, remote
        with socket.socket() as probe:  # a free local port, kept across restarts
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.proc: subprocess.Popen[str] | None = None
        self._broken = threading.Event()
        self.restarts = 0

    def ensure(self) -> int:
        """The local port, with a live forward behind it."""
        if self.proc is not None and self.proc.poll() is None and not self._broken.is_set():
            return self.port
        if self.proc is not None:
            self.restarts += 1
        self.stop()
        self.proc = subprocess.Popen(
            [
                "kubectl",
                "-n",
                self.kube.namespace,
                "port-forward",
                "--address",
                "127.0.0.1",
                self.target,
                f"{self.port}:{self.remote}",
            ],
            env=dict(self.kube.env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        # Per process: a late line of the previous kubectl must not mark this one broken.
        proc, lines, ready, broken = self.proc, [], threading.Event(), threading.Event()
        self._broken = broken

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if "Forwarding from" in line:
                    ready.set()
                elif "error" in line.lower() or "lost connection" in line.lower():
                    broken.set()  # kubectl's "an error occurred forwarding ...", "lost connection to pod"

        threading.Thread(target=read, daemon=True).start()
        wait_until(
            lambda: ready.is_set() or proc.poll() is not None,
            timeout=30,
            what=f"port-forward to {self.target}",
        )
        if not ready.is_set():
            raise AssertionError(f"port-forward to {self.target} failed:\n{''.join(lines)}")
        return self.port

    def restart(self) -> int:
        """A new forward, whatever state the current one claims to be in."""
        self._broken.set()
        return self.ensure()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@dataclass
class ClusterPostgres:
    """The in-cluster PostgreSQL through a port-forward, as one role (its Secret's credentials)."""

    forward: PortForward
    user: str
    password: str
    db: str = "datastack"

    def connect(self) -> psycopg.Connection[Any]:
        """A connection through a live forward. A forward that broke since its last use fails the
        first attempt (a refused or cut connection): it is restarted and the connection tried once
        more; a second failure is PostgreSQL's, and raised."""
        try:
            return self._connect(self.forward.ensure())
        except psycopg.OperationalError:
            return self._connect(self.forward.restart())

    def _connect(self, port: int) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host="127.0.0.1",
            port=port,
            dbname=self.db,
            user=self.user,
            password=self.password,
            sslmode="require",
            autocommit=True,
            connect_timeout=10,
        )

    def settings(self) -> dict[str, str]:
        """POSTGRES_* settings for a host process (the `datastack` CLI), with the forward live."""
        return {
            "POSTGRES_HOST": "127.0.0.1",
            "POSTGRES_PORT": str(self.forward.ensure()),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
            "POSTGRES_DB": self.db,
            "POSTGRES_SSLMODE": "require",
        }
