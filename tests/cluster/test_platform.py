"""What the API server itself checks: our Strimzi and CloudNativePG resources against the installed
CRDs, Pod Security "restricted" on the namespace, and the names the service charts rely on."""

from __future__ import annotations

import json

from tests.charts.tools import helm_template
from tests.cluster.kube import Kube


def test_the_api_server_accepts_our_strimzi_and_cnpg_resources(kube: Kube) -> None:
    """The rendered charts/kafka and charts/postgres pass server-side validation (the CRDs' schemas,
    pruning of unknown fields reported as errors), and helmfile really stored them."""
    for chart in ("kafka", "postgres"):
        manifests = helm_template(chart, chart)
        custom = [m for m in manifests if "strimzi.io" in m["apiVersion"] or "cnpg.io" in m["apiVersion"]]
        assert custom, f"charts/{chart} renders no custom resource"
        body = json.dumps({"apiVersion": "v1", "kind": "List", "items": custom})
        result = kube.run("apply", "--dry-run=server", "--validate=strict", "-f", "-", stdin=body)
        assert result.stdout.count("(server dry run)") == len(custom), result.stdout
    stored = {
        (d["kind"], d["metadata"]["name"])
        for d in kube.get("kafka,kafkanodepool,kafkatopic,kafkauser,cluster")["items"]
    }
    assert {
        ("Kafka", "datastack"),
        ("Cluster", "postgres"),
        ("KafkaUser", "sink"),
        ("KafkaTopic", "crypto-prices-dlq"),
    } <= stored


def test_the_api_server_refuses_a_misspelt_field(kube: Kube) -> None:
    """The same check can fail: a field the Cluster CRD does not have is refused, not dropped."""
    (cluster,) = [m for m in helm_template("postgres", "postgres") if m["kind"] == "Cluster"]
    cluster["spec"]["instancez"] = 1
    result = kube.run(
        "apply", "--dry-run=server", "--validate=strict", "-f", "-", stdin=json.dumps(cluster), check=False
    )
    assert result.returncode != 0
    assert "instancez" in result.stderr, result.stderr


def test_the_namespace_refuses_a_pod_that_is_not_restricted(kube: Kube) -> None:
    labels = kube.get("namespace", kube.namespace)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "not-restricted"},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": kube.images["datastack/services"],
                    "securityContext": {"privileged": True},
                }
            ]
        },
    }
    result = kube.run("apply", "--dry-run=server", "-f", "-", stdin=json.dumps(pod), check=False)
    assert result.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in result.stderr, result.stderr


def test_the_stand_ins_create_the_names_the_service_charts_use(kube: Kube) -> None:
    """charts/README.md's contract: Services, Secrets and keys as Strimzi and CloudNativePG make them."""
    services = {s["metadata"]["name"]: s for s in kube.get("services")["items"]}
    assert services["datastack-kafka-bootstrap"]["spec"]["ports"][0]["port"] == 9092
    assert services["postgres-rw"]["spec"]["ports"][0]["port"] == 5432
    for user in ("producer-crypto", "producer-github", "producer-weather", "sink", "kafka-ui"):
        secret = kube.secret(user)
        assert len(secret["password"]) >= 32
        assert f'username="{user}"' in secret["sasl.jaas.config"]
    for role in ("sink", "syncer", "dagster"):
        secret = kube.secret(f"pg-{role}")
        assert secret["username"] == role
        assert len(secret["password"]) >= 32
    assert kube.secret("pg-dagster")["postgresql-password"] == kube.secret("pg-dagster")["password"]
