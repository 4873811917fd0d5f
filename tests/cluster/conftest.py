"""The real-cluster tests: `make test-cluster` (not part of `make test`).

One cluster for the whole session, brought up the way a user does it offline: `make kind-up
OFFLINE=1` (a private Docker engine if none answers, the cached toolchain, node and base images, our
images and the ci stand-ins built and loaded, `helmfile -e ci sync`, every pod Ready). The session
ends with `make kind-down OFFLINE=1`, and then checks that the machine is as it was: no node
container, no Docker engine left that the session started, the host's sysctls and iptables rules as
before (images/offline/host-state.sh), and the lake's volume directories of this cluster removed.

Nothing here is collected unless DATASTACK_CLUSTER_TESTS=1 (the Makefile sets it), so that a plain
`pytest` or `make test` never builds a cluster.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.kube import ROOT, VOLUMES, ClusterPostgres, Kube

OFFLINE = ROOT / "images" / "offline"
CLUSTER = os.environ.get("TEST_CLUSTER", "datastack-ci")
ENABLED = os.environ.get("DATASTACK_CLUSTER_TESTS") == "1"
KEEP = os.environ.get("DATASTACK_CLUSTER_KEEP") == "1"
"""Leave the cluster running at the end (for poking at it; `make kind-down OFFLINE=1 KIND_CLUSTER=...`
afterwards). The host checks are then skipped: nothing was torn down."""
# Cold, the session builds Kubernetes from source first (tens of minutes on two cores).
SESSION_TIMEOUT_S = 3 * 3600

collect_ignore_glob = [] if ENABLED else ["test_*.py"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cluster: needs the offline kind cluster (make test-cluster)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.cluster)
            # The session fixture's set-up and tear-down count towards the first and last test.
            item.add_marker(pytest.mark.timeout(SESSION_TIMEOUT_S))


def _make(*args: str, log: Path) -> None:
    """make TARGET OFFLINE=1 KIND_CLUSTER=..., output streamed to the terminal and kept in `log`."""
    command = ["make", "--no-print-directory", *args, "OFFLINE=1", f"KIND_CLUSTER={CLUSTER}"]
    print(f"\n>> {' '.join(command)}", file=sys.stderr, flush=True)
    started = time.monotonic()
    with log.open("a") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            sys.stderr.write(line)
        rc = proc.wait()
    print(
        f">> {' '.join(args)}: exit {rc} after {time.monotonic() - started:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    if rc != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-60:])
        raise AssertionError(f"make {' '.join(args)} OFFLINE=1 failed (exit {rc}); log {log}:\n{tail}")


def _cluster_env() -> dict[str, str]:
    """The KUBECONFIG/PATH/DOCKER_HOST lines `cluster.sh env` prints, applied to os.environ."""
    out = subprocess.run(
        [str(OFFLINE / "cluster.sh"), "env", "--name", CLUSTER], capture_output=True, text=True, check=True
    ).stdout
    env = dict(os.environ)
    for name, value in re.findall(r"^export (\w+)=(.*)$", out, re.M):
        env[name] = value.replace("$PATH", env.get("PATH", ""))
    return env


def _engine_ours() -> bool:
    """Does a private engine of the offline scripts run (as opposed to the user's own engine)?"""
    status = subprocess.run([str(OFFLINE / "docker-engine.sh"), "status"], capture_output=True, text=True)
    return status.returncode == 0 and "private engine" in status.stdout


def _project_version() -> str:
    match = re.search(r'^version = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert match
    return match.group(1)


@pytest.fixture(scope="session")
def kube() -> Iterator[Kube]:
    """The cluster, up and Ready; torn down at the end, and the host checked."""
    workdir = Path(tempfile.mkdtemp(prefix="datastack-test-cluster."))
    log = ROOT / ".local" / "kind" / f"test-cluster-{CLUSTER}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    subprocess.run([str(OFFLINE / "host-state.sh"), "save", str(workdir / "host"), "all"], check=True)
    engine_before = _engine_ours()
    volumes_before = set(VOLUMES.iterdir()) if VOLUMES.exists() else set()
    try:
        _make("kind-up", log=log)
        version = _project_version()
        kube = Kube(
            _cluster_env(),
            images={
                "datastack/services": f"datastack/services:{version}",
                "datastack/dagster": f"datastack/dagster:{version}",
            },
        )
        kube.wait_all_ready(timeout=300)
        yield kube
    finally:
        if KEEP:
            print(
                f"\n>> cluster {CLUSTER} kept: make kind-down OFFLINE=1 KIND_CLUSTER={CLUSTER}",
                file=sys.stderr,
            )
        else:
            _tear_down(log, workdir, engine_before, volumes_before)


def _tear_down(log: Path, workdir: Path, engine_before: bool, volumes_before: set[Path]) -> None:
    _make("kind-down", log=log)
    _check_host_restored(workdir, engine_before)
    for path in set(VOLUMES.iterdir()) - volumes_before if VOLUMES.exists() else ():
        shutil.rmtree(path)  # this cluster's volumes (the lake's Parquet files)
    shutil.rmtree(workdir)


def _check_host_restored(workdir: Path, engine_before: bool) -> None:
    problems = []
    if not engine_before and _engine_ours():
        problems.append("the private Docker engine the session started is still running")
    nodes = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"name=^{CLUSTER}-", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
    )
    if nodes.returncode == 0 and nodes.stdout.strip():  # (no engine answers any more: nothing runs)
        problems.append(f"node containers left: {nodes.stdout.split()}")
    diff = subprocess.run(
        [str(OFFLINE / "host-state.sh"), "diff", str(workdir / "host"), "all"], capture_output=True, text=True
    )
    if diff.returncode != 0:
        problems.append(f"host settings differ from before the session:\n{diff.stdout}")
    assert not problems, "the cluster session left the machine changed:\n" + "\n".join(problems)


@pytest.fixture(scope="session")
def pg(kube: Kube) -> Iterator[ClusterPostgres]:
    """The in-cluster PostgreSQL as the `dagster` role (it reads the raw tables, the marts and the
    lake catalog) through a port-forward."""
    secret = kube.secret("pg-dagster")
    with kube.port_forward("svc/postgres-rw", 5432) as forward:
        yield ClusterPostgres(forward, user=secret["username"], password=secret["password"])
