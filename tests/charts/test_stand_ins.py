"""The ci environment's stand-ins (charts/ci-*: issue 11), rendered as `helmfile -e ci` installs them.

They replace what cannot be fetched offline (the Strimzi and CloudNativePG operators, the upstream
Dagster chart), so what matters is that they are faithful: the Services, Secrets and keys of the
contract (charts/README.md) that the service charts use unchanged; the topics and ACLs of our
KafkaTopics and KafkaUsers; the role Secrets of our CloudNativePG Cluster; the upstream Dagster
chart's names, labels and instance configuration from the same values; and the same Pod Security,
schema and NetworkPolicy rules as every other pod. `make test-cluster` then runs them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from dagster_code.lib.run_tags import MAX_CONCURRENT_RUNS, TAG_CONCURRENCY_LIMITS
from tests.charts.dagster_runs import code_location_container_context, run_launcher_config
from tests.charts.netpol import Endpoint, PolicySet
from tests.charts.schemas import CRD_FILES
from tests.charts.test_schemas import kubeconform
from tests.charts.tools import CHARTS, NAMESPACE, Manifest, helm_template
from tests.charts.workloads import pod_violations, pods

STAND_IN_POD_OWNERS = {
    "Deployment/datastack-kafka",
    "Deployment/postgres",
    "Deployment/dagster-dagster-webserver",
    "Deployment/dagster-daemon",
    "Deployment/dagster-dagster-user-deployments-datastack",
}


def _by_name(docs: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _secret_keys(secret: Manifest) -> set[str]:
    return set(secret.get("stringData") or {}) | set(secret.get("data") or {})


def test_stand_in_pods_are_restricted_and_hardened(stand_ins: list[Manifest]) -> None:
    found = list(pods(stand_ins))
    assert {p.owner for p in found} == STAND_IN_POD_OWNERS
    assert {p.owner: v for p in found if (v := pod_violations(p))} == {}
    # A token only where the Kubernetes API is used: the PostgreSQL instance reads its Cluster and
    # role Secrets, the Dagster webserver and daemon run K8sRunLauncher.
    with_token = {p.owner for p in found if p.spec.get("automountServiceAccountToken") is not False}
    assert with_token == {
        "Deployment/postgres",
        "Deployment/dagster-dagster-webserver",
        "Deployment/dagster-daemon",
    }


def test_stand_ins_are_valid(stand_ins: list[Manifest], schema_dir: Path, tmp_path: Path) -> None:
    summary = kubeconform(schema_dir, stand_ins, tmp_path)
    assert f"Valid: {len(stand_ins)}" in summary, summary


def test_the_crds_are_the_vendored_files(stand_ins: list[Manifest]) -> None:
    """What the API server validates our custom resources against in the offline cluster is exactly
    what the chart tests validate them against (charts/crds)."""
    rendered = _by_name(stand_ins, "CustomResourceDefinition")
    vendored = {}
    for path in CRD_FILES:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                vendored[doc["metadata"]["name"]] = doc
    assert (
        set(rendered)
        == set(vendored)
        == {
            "kafkas.kafka.strimzi.io",
            "kafkanodepools.kafka.strimzi.io",
            "kafkatopics.kafka.strimzi.io",
            "kafkausers.kafka.strimzi.io",
            "clusters.postgresql.cnpg.io",
        }
    )
    assert rendered == vendored


def test_every_secret_the_services_read_is_created_with_its_key(
    stack: list[Manifest], stand_ins: list[Manifest]
) -> None:
    """The contract, end to end: every secretKeyRef of our Deployments (and of Dagster's run pods'
    container context) names a Secret that charts/postgres or a stand-in creates, with that key."""
    secrets = {name: _secret_keys(s) for name, s in _by_name([*stack, *stand_ins], "Secret").items()}
    refs = set()
    for doc in [*stack, *stand_ins]:
        if doc["kind"] != "Deployment":
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env") or []:
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref and not ref.get("optional"):
                    refs.add((ref["name"], ref["key"]))
    assert refs, "no secret reference found"
    assert sorted((name, key) for name, key in refs if key not in secrets.get(name, set())) == []
    assert {("sink", "password"), ("pg-dagster", "postgresql-password")} <= refs


def test_kafka_stand_in_has_strimzis_names_and_secrets(
    stack: list[Manifest], stand_ins: list[Manifest]
) -> None:
    kafka = _by_name(stack, "Kafka")["datastack"]
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    service = _by_name(stand_ins, "Service")["datastack-kafka-bootstrap"]
    assert [p["port"] for p in service["spec"]["ports"]] == [listener["port"]]
    broker = _by_name(stand_ins, "Deployment")["datastack-kafka"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= broker.items()
    assert broker["datastack.io/component"] == "kafka"
    users = _by_name(stack, "KafkaUser")
    secrets = _by_name(stand_ins, "Secret")
    assert set(users) <= set(secrets)
    for name in users:
        data = secrets[name]["stringData"]
        assert set(data) == {"password", "sasl.jaas.config"}
        assert data["sasl.jaas.config"] == (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{name}" password="{data["password"]}";'
        )


def _standin_spec(stand_ins: list[Manifest]) -> list[list[str]]:
    config = _by_name(stand_ins, "ConfigMap")["datastack-kafka-config"]
    return [line.split() for line in config["data"]["spec"].splitlines() if line.strip()]


def test_kafka_stand_in_creates_our_kafka_topics(stack: list[Manifest], stand_ins: list[Manifest]) -> None:
    expected = {
        (t["spec"]["topicName"], str(t["spec"]["partitions"]), str(t["spec"]["replicas"])): {
            f"{k}={v}" for k, v in (t["spec"].get("config") or {}).items()
        }
        for t in _by_name(stack, "KafkaTopic").values()
    }
    declared = {(f[1], f[2], f[3]): set(f[4:]) for f in _standin_spec(stand_ins) if f[0] == "topic"}
    assert declared == expected


def test_kafka_stand_in_grants_exactly_our_kafka_users_acls(
    stack: list[Manifest], stand_ins: list[Manifest]
) -> None:
    """Each KafkaUser's `simple` ACLs (allow, any host), resource by resource and operation by operation."""
    pattern = {"literal": "literal", "prefix": "prefixed"}
    expected = set()
    for name, user in _by_name(stack, "KafkaUser").items():
        for acl in user["spec"]["authorization"]["acls"]:
            assert acl["type"] == "allow"
            resource = acl["resource"]
            kind = resource["type"]
            for op in acl["operations"]:
                if kind == "cluster":
                    expected.add((name, kind, "literal", "kafka-cluster", op))
                else:
                    expected.add((name, kind, pattern[resource["patternType"]], resource["name"], op))
    declared = {
        (f[1], f[2], f[3], f[4], op)
        for f in _standin_spec(stand_ins)
        if f[0] == "acl"
        for op in f[5].split(",")
    }
    assert declared == expected
    assert {f[1] for f in _standin_spec(stand_ins) if f[0] == "user"} == set(_by_name(stack, "KafkaUser"))


def test_postgres_stand_in_has_cloudnativepgs_names(stack: list[Manifest], stand_ins: list[Manifest]) -> None:
    """postgres-rw, the instance's label, and read access to exactly the Cluster and the managed
    roles' Secrets (rendered by charts/postgres) it bootstraps from."""
    cluster = _by_name(stack, "Cluster")["postgres"]
    service = _by_name(stand_ins, "Service")["postgres-rw"]
    assert [p["port"] for p in service["spec"]["ports"]] == [5432]
    instance = _by_name(stand_ins, "Deployment")["postgres"]["spec"]["template"]
    assert service["spec"]["selector"].items() <= instance["metadata"]["labels"].items()
    assert instance["metadata"]["labels"].items() >= cluster["spec"]["inheritedMetadata"]["labels"].items()
    env = {e["name"]: e.get("value") for e in instance["spec"]["containers"][0]["env"]}
    assert env["CLUSTER_NAME"] == cluster["metadata"]["name"]
    rules = {
        r["resources"][0]: set(r["resourceNames"])
        for r in _by_name(stand_ins, "Role")["postgres-instance"]["rules"]
    }
    assert rules == {
        "clusters": {"postgres"},
        "secrets": {r["passwordSecret"]["name"] for r in cluster["spec"]["managed"]["roles"]},
    }


def _instance(stand_ins: list[Manifest]) -> dict[str, Any]:
    return yaml.safe_load(_by_name(stand_ins, "ConfigMap")["dagster-instance"]["data"]["dagster.yaml"])  # type: ignore[no-any-return]


def test_dagster_stand_in_renders_the_upstream_instance_from_our_values(
    stand_ins: list[Manifest], dagster_values: dict[str, Any], tmp_path: Path
) -> None:
    """dagster.yaml as the upstream chart renders it from charts/values/dagster.yaml.gotmpl: Dagster
    accepts it, its run launcher is the one the run Jobs of test_dagster_runs are built from, the
    queue has the code location's limits, the storage is the `dagster` database as `dagster`."""
    from dagster._core.instance.config import dagster_instance_config

    instance = _instance(stand_ins)
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(instance))
    dagster_instance_config(str(tmp_path))  # raises on a key Dagster does not know
    assert instance["run_launcher"]["class"] == "K8sRunLauncher"
    assert instance["run_launcher"]["config"] == run_launcher_config(dagster_values)
    queue = instance["run_coordinator"]
    assert queue["class"] == "QueuedRunCoordinator"
    assert queue["config"]["max_concurrent_runs"] == MAX_CONCURRENT_RUNS
    assert queue["config"]["tag_concurrency_limits"] == TAG_CONCURRENCY_LIMITS
    for storage in ("run_storage", "event_log_storage", "schedule_storage"):
        db = instance[storage]["config"]["postgres_db"]
        assert (db["hostname"], db["db_name"], db["username"], db["params"]) == (
            "postgres-rw",
            "dagster",
            "dagster",
            {"sslmode": "require"},
        )
        assert db["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    assert instance["run_monitoring"]["start_timeout_seconds"] == 300


def test_dagster_stand_in_hands_runs_the_code_locations_container_context(
    stand_ins: list[Manifest], dagster_values: dict[str, Any]
) -> None:
    code = _by_name(stand_ins, "Deployment")["dagster-dagster-user-deployments-datastack"]
    (container,) = code["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    (deployment,) = dagster_values["dagster-user-deployments"]["deployments"]
    context = json.loads(env["DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT"]["value"])
    assert context == code_location_container_context(dagster_values, deployment)
    assert container["args"] == [
        "dagster",
        "api",
        "grpc",
        "-h",
        "0.0.0.0",  # noqa: S104 - the code server's argv, not a bind here
        "-p",
        "4000",
        *deployment["dagsterApiGrpcArgs"],
    ]
    # Every ConfigMap and Secret the run pods will reference exists.
    config_maps = _by_name(stand_ins, "ConfigMap")
    assert set(context["k8s"]["env_config_maps"]) <= set(config_maps)
    accounts = _by_name(stand_ins, "ServiceAccount")
    assert context["k8s"]["service_account_name"] in accounts
    assert _instance(stand_ins)["run_launcher"]["config"]["service_account_name"] in accounts


def test_dagster_stand_in_has_the_upstream_names(
    stand_ins: list[Manifest], dagster_values: dict[str, Any]
) -> None:
    """`make ui` forwards svc/dagster-dagster-webserver; the workspace finds the code server by its
    Service; the run launcher's Role is bound to the account the webserver and daemon run as."""
    services = _by_name(stand_ins, "Service")
    port = dagster_values["dagsterWebserver"]["service"]["port"]
    assert [p["port"] for p in services["dagster-dagster-webserver"]["spec"]["ports"]] == [port]
    workspace = yaml.safe_load(
        _by_name(stand_ins, "ConfigMap")["dagster-workspace-yaml"]["data"]["workspace.yaml"]
    )
    assert workspace == {
        "load_from": [{"grpc_server": {"host": "datastack", "port": 4000, "location_name": "datastack"}}]
    }
    assert [p["port"] for p in services["datastack"]["spec"]["ports"]] == [4000]
    binding = _by_name(stand_ins, "RoleBinding")["dagster-rolebinding"]
    deployments = _by_name(stand_ins, "Deployment")
    for name in ("dagster-dagster-webserver", "dagster-daemon"):
        account = deployments[name]["spec"]["template"]["spec"]["serviceAccountName"]
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}]
    rules = _by_name(stand_ins, "Role")["dagster-role"]["rules"]
    assert any("jobs" in r["resources"] and "create" in r["verbs"] for r in rules)


def test_stand_in_pods_get_the_flows_of_what_they_stand_in_for(
    stack: list[Manifest], stand_ins: list[Manifest]
) -> None:
    """The platform chart's NetworkPolicies select the stand-ins by the same labels as the
    operators' and the Dagster chart's pods: same flows in both environments."""
    policies = PolicySet([d for d in stack if d["kind"] == "NetworkPolicy"], frozenset({NAMESPACE}))
    pods_by_name = {
        name: Endpoint(name, f"10.244.1.{i}", NAMESPACE, d["spec"]["template"]["metadata"]["labels"])
        for i, (name, d) in enumerate(_by_name([*stack, *stand_ins], "Deployment").items(), start=10)
    }
    api = Endpoint("kubernetes-api", "172.18.0.2")
    allowed = {
        ("producer-crypto", "datastack-kafka", 9092),
        ("sink", "datastack-kafka", 9092),
        ("sink", "postgres", 5432),
        ("syncer", "postgres", 5432),
        ("dagster-dagster-webserver", "postgres", 5432),
        ("dagster-daemon", "postgres", 5432),
        ("dagster-dagster-user-deployments-datastack", "postgres", 5432),
        ("dagster-daemon", "dagster-dagster-user-deployments-datastack", 4000),
        ("dagster-dagster-webserver", "dagster-dagster-user-deployments-datastack", 4000),
    }
    denied = {
        ("producer-crypto", "postgres", 5432),
        ("syncer", "datastack-kafka", 9092),
        ("datastack-kafka", "postgres", 5432),
        ("dagster-dagster-user-deployments-datastack", "datastack-kafka", 9092),
    }
    for src, dst, port in allowed:
        assert policies.allows(pods_by_name[src], pods_by_name[dst], port), (src, dst, port)
    for src, dst, port in denied:
        assert not policies.allows(pods_by_name[src], pods_by_name[dst], port), (src, dst, port)
    for name in ("postgres", "dagster-daemon", "dagster-dagster-webserver"):
        assert policies.allows(pods_by_name[name], api, 6443), name
    for name in ("datastack-kafka", "dagster-dagster-user-deployments-datastack", "sink"):
        assert not policies.allows(pods_by_name[name], api, 6443), name


def test_the_kafka_user_passwords_are_generated_at_install(stand_ins: list[Manifest]) -> None:
    """Like charts/postgres: random at install (kept by `lookup` on upgrade), never from a file, so
    two renders differ."""
    first = {n: s["stringData"]["password"] for n, s in _by_name(stand_ins, "Secret").items()}
    again = {
        n: s["stringData"]["password"]
        for n, s in _by_name(
            helm_template("ci-kafka", "ci-kafka", [CHARTS / "kafka/values.yaml"]), "Secret"
        ).items()
    }
    assert set(first) == set(again)
    assert all(len(p) >= 32 and p != again[n] for n, p in first.items())
