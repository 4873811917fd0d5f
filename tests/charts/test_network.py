"""The NetworkPolicies allow exactly the flows the stack needs, as a relation: every (source,
destination, port) that the rendered policies let through, computed by Kubernetes' rules over the
pods the charts and operators create (with their real labels), equals the list below, which is
written from the issue, not from the chart."""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest

from tests.charts.netpol import Endpoint, PolicySet
from tests.charts.tools import NAMESPACE, Manifest

_ips = (f"10.244.0.{i}" for i in count(10))

# Who may talk to whom (besides DNS, which every pod of the namespace may ask).
EXPECTED: set[tuple[str, str, int]] = {
    *{
        (p, "kafka", 9092)
        for p in ("producer-crypto", "producer-github", "producer-weather", "sink", "kafka-ui")
    },
    *{(p, "public-api", 443) for p in ("producer-crypto", "producer-github", "producer-weather")},
    *{
        (s, "postgres", 5432)
        for s in ("sink", "syncer", "dagster-webserver", "dagster-daemon", "dagster-code", "dagster-run")
    },
    ("dagster-webserver", "dagster-code", 4000),
    ("dagster-daemon", "dagster-code", 4000),
    *{
        (s, api, port)
        for s in ("dagster-daemon", "dagster-webserver", "kafka-entity-operator", "postgres")
        for api in ("kubernetes-api", "kubernetes-service")
        for port in (443, 6443)
    },
    # The operators' own pods: KRaft and replication, the entity and cluster operators, CNPG.
    ("kafka", "kafka", 9090),
    ("kafka", "kafka", 9091),
    ("kafka-entity-operator", "kafka", 9091),
    ("strimzi-operator", "kafka", 9090),
    ("strimzi-operator", "kafka", 9091),
    ("strimzi-operator", "kafka", 8443),
    ("postgres", "postgres", 5432),
    ("postgres", "postgres", 8000),
    ("cnpg-operator", "postgres", 5432),
    ("cnpg-operator", "postgres", 8000),
}
PORTS = (22, 53, 80, 443, 3000, 4000, 5432, 6443, 8000, 8080, 8443, 9090, 9091, 9092, 9101, 9104, 9105)


def _pod(name: str, labels: dict[str, str], namespace: str = NAMESPACE) -> Endpoint:
    return Endpoint(name=name, ip=next(_ips), namespace=namespace, labels=labels)


def endpoints(
    stack: list[Manifest], dagster: dict[str, Any], kafka_ui: dict[str, Any], run_pod_labels: dict[str, str]
) -> list[Endpoint]:
    """Every pod of the stack with the labels it gets, and the peers outside the namespace."""
    found = [
        _pod(doc["metadata"]["name"], doc["spec"]["template"]["metadata"]["labels"])
        for doc in stack
        if doc["kind"] == "Deployment"
    ]
    by_kind = {doc["kind"]: doc for doc in stack}
    kafka, pool, cluster = by_kind["Kafka"], by_kind["KafkaNodePool"], by_kind["Cluster"]
    name = kafka["metadata"]["name"]
    strimzi = {"strimzi.io/cluster": name, "strimzi.io/kind": "Kafka"}
    found.append(
        _pod(
            "kafka",
            {
                **strimzi,
                "strimzi.io/name": f"{name}-kafka",
                "strimzi.io/broker-role": "true",
                **pool["spec"]["template"]["pod"]["metadata"]["labels"],
            },
        )
    )
    found.append(
        _pod(
            "kafka-entity-operator",
            {
                **strimzi,
                "strimzi.io/name": f"{name}-entity-operator",
                **kafka["spec"]["entityOperator"]["template"]["pod"]["metadata"]["labels"],
            },
        )
    )
    found.append(
        _pod(
            "postgres",
            {
                "cnpg.io/cluster": cluster["metadata"]["name"],
                "cnpg.io/podRole": "instance",
                **cluster["spec"]["inheritedMetadata"]["labels"],
            },
        )
    )
    chart = {"app.kubernetes.io/name": "dagster", "app.kubernetes.io/instance": "dagster"}
    found.append(
        _pod(
            "dagster-webserver",
            {**chart, "component": "dagster-webserver", **dagster["dagsterWebserver"]["labels"]},
        )
    )
    found.append(
        _pod("dagster-daemon", {**chart, "component": "dagster-daemon", **dagster["dagsterDaemon"]["labels"]})
    )
    (code,) = dagster["dagster-user-deployments"]["deployments"]
    found.append(
        _pod(
            "dagster-code",
            {
                "app.kubernetes.io/name": "dagster-user-deployments",
                "app.kubernetes.io/instance": "dagster",
                "component": "user-deployments",
                "deployment": code["name"],
                **(code.get("labels") or {}),
            },
        )
    )
    found.append(_pod("dagster-run", run_pod_labels))
    found.append(
        _pod(
            "kafka-ui",
            {
                "app.kubernetes.io/name": "kafka-ui",
                "app.kubernetes.io/instance": "kafka-ui",
                **kafka_ui["podLabels"],
            },
        )
    )
    found += [
        _pod("kube-dns", {"k8s-app": "kube-dns"}, "kube-system"),
        _pod(
            "strimzi-operator",
            {"name": "strimzi-cluster-operator", "strimzi.io/kind": "cluster-operator"},
            "strimzi",
        ),
        _pod("cnpg-operator", {"app.kubernetes.io/name": "cloudnative-pg"}, "cnpg-system"),
        _pod("intruder", {"app": "intruder"}, "default"),
        Endpoint("kubernetes-api", "172.18.0.2"),  # kind's control-plane node (post-DNAT address)
        Endpoint("kubernetes-service", "10.96.0.1"),  # the `kubernetes` Service
        Endpoint("public-api", "140.82.121.6"),
        Endpoint("cloud-metadata", "169.254.169.254"),
        Endpoint("private-host", "192.168.1.20"),
    ]
    return found


@pytest.fixture(scope="module")
def relation(
    stack: list[Manifest],
    dagster_values: dict[str, Any],
    kafka_ui_values: dict[str, Any],
    run_jobs: dict[str, Any],
) -> tuple[set[tuple[str, str, int, str]], list[Endpoint]]:
    labels = next(iter(run_jobs.values()))["spec"]["template"]["metadata"]["labels"]
    pods = endpoints(stack, dagster_values, kafka_ui_values, labels)
    policies = PolicySet([d for d in stack if d["kind"] == "NetworkPolicy"], frozenset({NAMESPACE}))
    allowed = set()
    for src in pods:
        for dst in pods:
            if not (src.namespace == NAMESPACE or dst.namespace == NAMESPACE):
                continue  # traffic that never touches the namespace is not ours to police
            for port in PORTS:
                for protocol in ("TCP", "UDP"):
                    if policies.allows(src, dst, port, protocol):
                        allowed.add((src.name, dst.name, port, protocol))
    return allowed, pods


def test_network_policies_allow_exactly_the_needed_flows(
    relation: tuple[set[tuple[str, str, int, str]], list[Endpoint]],
) -> None:
    allowed, pods = relation
    dns = {
        (p.name, "kube-dns", 53, proto) for p in pods if p.namespace == NAMESPACE for proto in ("TCP", "UDP")
    }
    expected = dns | {(s, d, port, "TCP") for s, d, port in EXPECTED}
    assert sorted(allowed - expected) == [], "allowed but not needed"
    assert sorted(expected - allowed) == [], "needed but denied"


def test_the_model_denies_what_default_deny_denies() -> None:
    """Without our policies everything in the namespace is open; with only default-deny, nothing is."""
    a = Endpoint("a", "10.244.1.1", NAMESPACE, {"x": "a"})
    b = Endpoint("b", "10.244.1.2", NAMESPACE, {"x": "b"})
    assert PolicySet([], frozenset({NAMESPACE})).allows(a, b, 5432)
    deny = {
        "metadata": {"name": "d", "namespace": NAMESPACE},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    assert not PolicySet([deny], frozenset({NAMESPACE})).allows(a, b, 5432)
