"""The NetworkPolicies, enforced (kube-router's policy controller in the node image): a pod with the
labels of an allowed flow reaches PostgreSQL and logs in; a pod outside the allowed flows does not,
although it resolves the name and reaches what its own flows allow (Kafka, for a producer)."""

from __future__ import annotations

from typing import Any

from tests.cluster.kube import Kube, json_lines

# Peers in ALLOWED are polled until they connect (up to ALLOW_WAIT_S): kube-router programs a new
# pod's address into the policies' ipsets within seconds, and until then every flow of the pod is
# refused. The other peers are tried once, after that: refused then means refused by a policy that
# already knows the pod.
REACH = """
import json, socket, sys, time
from services.config import PostgresSettings, load
ALLOWED, ALLOW_WAIT_S = sys.argv[1].split(","), 90
def attempt(address, port):
    try:
        with socket.create_connection((address, port), timeout=5):
            return {"resolved": True, "connected": True}
    except OSError as exc:
        return {"resolved": True, "connected": False, "error": f"{type(exc).__name__}: {exc}"}
def reach(host, port, wait_s=0.0):
    try:
        address = socket.gethostbyname(host)
    except OSError as exc:
        return {"resolved": False, "error": str(exc)}
    deadline = time.monotonic() + wait_s
    result = attempt(address, port)
    while not result["connected"] and time.monotonic() < deadline:
        time.sleep(1)
        result = attempt(address, port)
    return result
peers = {"postgres": ("postgres-rw", 5432), "kafka": ("datastack-kafka-bootstrap", 9092)}
result = {name: reach(*peers[name], ALLOW_WAIT_S) for name in ALLOWED if name}
result.update({name: reach(*peer) for name, peer in peers.items() if name not in result})
if result["postgres"].get("connected") and "--login" in sys.argv:
    import psycopg
    with psycopg.connect(load(PostgresSettings).conninfo(), connect_timeout=10) as conn:
        query = "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        result["login"] = conn.execute(query).fetchone()
print(json.dumps(result, default=str))
"""

PG_SINK_ENV: list[dict[str, Any]] = [
    {"name": "POSTGRES_HOST", "value": "postgres-rw"},
    {"name": "POSTGRES_PORT", "value": "5432"},
    {"name": "POSTGRES_DB", "value": "datastack"},
    {"name": "POSTGRES_SSLMODE", "value": "require"},
    {"name": "POSTGRES_USER", "valueFrom": {"secretKeyRef": {"name": "pg-sink", "key": "username"}}},
    {"name": "POSTGRES_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "pg-sink", "key": "password"}}},
]


def _reach(kube: Kube, component: str, allowed: tuple[str, ...], *args: str) -> dict[str, Any]:
    script = REACH.replace("sys.argv", repr(["-", ",".join(allowed), *args]))
    phase, logs = kube.run_pod(
        script, labels={"datastack.io/component": component}, env=PG_SINK_ENV, name=f"reach-{component}"
    )
    assert phase == "Succeeded", logs
    (result,) = json_lines(logs)
    return result


def test_an_allowed_pod_reaches_postgres_and_logs_in(kube: Kube) -> None:
    result = _reach(kube, "sink", ("postgres", "kafka"), "--login")
    assert result["postgres"] == {"resolved": True, "connected": True}, result
    assert result["login"] == ["sink", True], result  # its own role, over TLS


def test_a_pod_outside_the_allowed_flows_cannot_reach_postgres(kube: Kube) -> None:
    """A producer may talk to Kafka (and HTTPS outside), never to PostgreSQL."""
    result = _reach(kube, "producer", ("kafka",))
    assert result["kafka"] == {"resolved": True, "connected": True}, result
    postgres = result["postgres"]
    assert postgres["resolved"] is True, result  # DNS is allowed: the policy is what stops it
    assert postgres["connected"] is False, result


def test_an_unlabelled_pod_reaches_nothing(kube: Kube) -> None:
    result = _reach(kube, "none", ())
    for peer in ("postgres", "kafka"):
        assert result[peer]["resolved"] is True, result
        assert result[peer]["connected"] is False, result
