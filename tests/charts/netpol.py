"""Kubernetes NetworkPolicy semantics as a function: may `src` open a connection to `dst:port`?

A pod is isolated for egress (ingress) as soon as one policy of its namespace that selects it lists
Egress (Ingress) in policyTypes; then only what some such policy's rules allow gets through. A
connection needs both: egress allowed at the source (when it is a pod of a namespace we model) and
ingress allowed at the destination. Enough of the API for the charts: matchLabels and
matchExpressions, namespace selectors by `kubernetes.io/metadata.name`, ipBlock with except,
numeric ports with a protocol. Named ports and endPort fail loudly instead of being guessed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    """A pod (namespace + labels + IP) or an address outside the cluster (ip only)."""

    name: str
    ip: str
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_pod(self) -> bool:
        return self.namespace is not None


def _selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def _peer_matches(peer: Mapping[str, Any], policy_namespace: str, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        address = ipaddress.ip_address(other.ip)
        if address not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(address in ipaddress.ip_network(cidr) for cidr in block.get("except") or [])
    if not other.is_pod:
        return False
    if "namespaceSelector" in peer:
        ns_labels = {"kubernetes.io/metadata.name": other.namespace or ""}
        if not _selects(peer["namespaceSelector"], ns_labels):
            return False
    elif other.namespace != policy_namespace:
        return False
    return _selects(peer.get("podSelector", {}), other.labels) if "podSelector" in peer else True


def _ports_match(ports: Iterable[Mapping[str, Any]] | None, port: int, protocol: str) -> bool:
    ports = list(ports or [])
    if not ports:
        return True
    for entry in ports:
        if "endPort" in entry or isinstance(entry.get("port"), str):
            raise NotImplementedError(f"port form not modelled: {entry}")
        if entry.get("protocol", "TCP") == protocol and entry.get("port") in (None, port):
            return True
    return False


@dataclass
class PolicySet:
    """The NetworkPolicies of the namespaces we model (others are assumed open)."""

    policies: list[Mapping[str, Any]]
    namespaces: frozenset[str]

    def _selecting(self, pod: Endpoint, direction: str) -> list[Mapping[str, Any]]:
        found = []
        for policy in self.policies:
            if policy["metadata"].get("namespace", pod.namespace) != pod.namespace:
                continue
            spec = policy["spec"]
            types = spec.get("policyTypes") or (["Ingress", "Egress"] if "egress" in spec else ["Ingress"])
            if direction in types and _selects(spec.get("podSelector", {}), pod.labels):
                found.append(policy)
        return found

    def _allowed(self, pod: Endpoint, other: Endpoint, port: int, protocol: str, direction: str) -> bool:
        if pod.namespace not in self.namespaces:
            return True
        selecting = self._selecting(pod, direction)
        if not selecting:
            return True
        rules_key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
        for policy in selecting:
            namespace = policy["metadata"].get("namespace", pod.namespace)
            for rule in policy["spec"].get(rules_key) or []:
                peers = rule.get(peers_key)
                peer_ok = not peers or any(_peer_matches(p, namespace, other) for p in peers)
                if peer_ok and _ports_match(rule.get("ports"), port, protocol):
                    return True
        return False

    def allows(self, src: Endpoint, dst: Endpoint, port: int, protocol: str = "TCP") -> bool:
        egress = not src.is_pod or self._allowed(src, dst, port, protocol, "Egress")
        ingress = not dst.is_pod or self._allowed(dst, src, port, protocol, "Ingress")
        return egress and ingress
