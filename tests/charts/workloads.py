"""Pods inside rendered objects, and the checks every one of them must pass.

Pod Security Standards "restricted" (Kubernetes 1.34) as the admission controller applies it, plus
our own rules: probes on long-running containers, requests and a memory limit on every container,
a read-only root filesystem.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tests.charts.tools import Manifest

POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}
# https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted
RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}


@dataclass(frozen=True)
class Pod:
    owner: str
    """`Kind/name` of the object the pod template belongs to."""
    kind: str
    metadata: Mapping[str, Any]
    spec: Mapping[str, Any]

    def containers(self) -> Iterator[Mapping[str, Any]]:
        yield from self.spec.get("initContainers") or []
        yield from self.spec.get("containers") or []


def pods(manifests: list[Manifest]) -> Iterator[Pod]:
    for doc in manifests:
        kind = doc.get("kind")
        if kind == "Pod":
            yield Pod(f"Pod/{doc['metadata']['name']}", kind, doc["metadata"], doc["spec"])
        elif kind in POD_TEMPLATE_KINDS:
            template = doc["spec"]["template"]
            yield Pod(
                f"{kind}/{doc['metadata']['name']}", kind, template.get("metadata") or {}, template["spec"]
            )
        elif kind == "CronJob":
            template = doc["spec"]["jobTemplate"]["spec"]["template"]
            yield Pod(
                f"CronJob/{doc['metadata']['name']}", kind, template.get("metadata") or {}, template["spec"]
            )


def _get(mapping: Mapping[str, Any] | None, key: str) -> Any:
    return (mapping or {}).get(key)


def restricted_violations(pod_spec: Mapping[str, Any], containers: list[Mapping[str, Any]]) -> list[str]:
    """What PSS "restricted" (and "baseline", which it includes) refuses in this pod."""
    problems = []
    pod_ctx = pod_spec.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(flag):
            problems.append(f"{flag} is set")
    for volume in pod_spec.get("volumes") or []:
        types = set(volume) - {"name"}
        if not types <= RESTRICTED_VOLUME_TYPES:
            problems.append(f"volume {volume['name']} has type {sorted(types)}")
    for sysctl in pod_ctx.get("sysctls") or []:
        if sysctl["name"] not in SAFE_SYSCTLS:
            problems.append(f"unsafe sysctl {sysctl['name']}")
    if _get(pod_ctx, "runAsUser") == 0:
        problems.append("pod runAsUser 0")
    for c in containers:
        name = c.get("name", "?")
        ctx = c.get("securityContext") or {}
        if ctx.get("privileged"):
            problems.append(f"{name}: privileged")
        if ctx.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        caps = ctx.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            problems.append(f"{name}: capabilities.drop lacks ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {caps.get('add')}")
        run_as_non_root = ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))
        if run_as_non_root is not True:
            problems.append(f"{name}: runAsNonRoot is not true")
        if ctx.get("runAsUser", pod_ctx.get("runAsUser")) == 0:
            problems.append(f"{name}: runAsUser 0")
        seccomp = _get(ctx.get("seccompProfile") or pod_ctx.get("seccompProfile"), "type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile is {seccomp!r}")
        if ctx.get("procMount") not in (None, "Default"):
            problems.append(f"{name}: procMount {ctx['procMount']}")
        selinux = _get(ctx.get("seLinuxOptions") or pod_ctx.get("seLinuxOptions"), "type")
        if selinux not in (
            None,
            "",
            "container_t",
            "container_init_t",
            "container_kvm_t",
            "container_engine_t",
        ):
            problems.append(f"{name}: seLinux type {selinux}")
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{name}: hostPort {port['hostPort']}")
    return problems


def hardening_violations(containers: list[Mapping[str, Any]], *, long_running: bool) -> list[str]:
    """Our own rules on top of PSS: read-only root, requests and a memory limit, probes."""
    problems = []
    for c in containers:
        name = c.get("name", "?")
        if (c.get("securityContext") or {}).get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: readOnlyRootFilesystem is not true")
        resources = c.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        for key in ("cpu", "memory"):
            if key not in requests:
                problems.append(f"{name}: no {key} request")
        if "memory" not in limits:
            problems.append(f"{name}: no memory limit")
        if long_running:
            for probe in ("livenessProbe", "readinessProbe"):
                if not c.get(probe):
                    problems.append(f"{name}: no {probe}")
    return problems


def pod_violations(pod: Pod) -> list[str]:
    containers = list(pod.containers())
    return restricted_violations(pod.spec, containers) + hardening_violations(
        list(pod.spec.get("containers") or []), long_running=pod.kind in LONG_RUNNING
    )
