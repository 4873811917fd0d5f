"""The chart-to-code contract: run a rendered Deployment's container as a local process.

`container_process_spec` turns a rendered Deployment into the command, environment and working
directory Kubernetes would give its container, from the manifests alone: the image's ENTRYPOINT,
ENV and WORKDIR from its Dockerfile, the container's args, envFrom ConfigMaps, secretKeyRefs
resolved against Secrets, and the volume mounts mapped to local directories. `Cluster` is the
local stand-in for what the operators would have created, reached under the rendered names.

`CnpgStandIn` plays CloudNativePG on a private PostgreSQL server: the rendered Cluster's
postInitSQL (database `postgres`) and postInitApplicationSQL (the application database) run as the
superuser, then the managed roles get LOGIN, their password from the rendered Secret and their
inRoles, which is what the operator reconciles. So the services run with their own roles and
grants, as in the cluster.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from services.infra.postgres import LocalPostgres
from tests.charts.tools import ROOT, Manifest
from tests.support.proc import DATASTACK

IMAGES = {
    "datastack/services": ROOT / "images/services/Dockerfile",
    "datastack/dagster": ROOT / "images/dagster/Dockerfile",
}
VENV_BIN = Path(DATASTACK).parent


def find(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    for doc in manifests:
        if doc.get("kind") == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"{kind}/{name} is not rendered")


def secret_data(secret: Manifest) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    data.update(secret.get("stringData") or {})
    return data


@dataclass(frozen=True)
class Dockerfile:
    entrypoint: list[str]
    env: dict[str, str]
    workdir: str

    @classmethod
    def parse(cls, path: Path) -> Dockerfile:
        """The final stage's ENTRYPOINT, ENV and WORKDIR (exec-form ENTRYPOINT, `ENV k=v ...`)."""
        text = path.read_text().replace("\\\n", " ")
        final_stage = text.split("\nFROM ")[-1]
        entrypoint: list[str] = []
        env: dict[str, str] = {}
        workdir = "/"
        for line in final_stage.splitlines():
            word, _, rest = line.strip().partition(" ")
            if word == "ENTRYPOINT":
                entrypoint = json.loads(rest)
            elif word == "ENV":
                for pair in shlex.split(rest):
                    key, _, value = pair.partition("=")
                    env[key] = value
            elif word == "WORKDIR":
                workdir = rest.strip()
        return cls(entrypoint, env, workdir)


@dataclass
class ProcessSpec:
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    probe_port: int
    probe_paths: dict[str, str] = field(default_factory=dict)
    grace_period_s: int = 30


def container_process_spec(
    deployment: Manifest,
    manifests: list[Manifest],
    secrets: Mapping[str, Mapping[str, str]],
    mounts: Mapping[str, Path],
) -> ProcessSpec:
    """What Kubernetes would run for the Deployment's container, as a local process.

    `secrets`: Secret name -> data (a missing non-optional key fails, as the kubelet would).
    `mounts`: volume name -> local directory standing in for it.
    """
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    repository, _, _tag = container["image"].rpartition(":")
    dockerfile = Dockerfile.parse(IMAGES[repository])
    volumes = {v["name"]: v for v in pod.get("volumes") or []}

    def local_path(path: str) -> str:
        """A path inside the container -> the local directory of the volume mounted there."""
        for mount in container.get("volumeMounts") or []:
            prefix = mount["mountPath"].rstrip("/")
            if path == prefix or path.startswith(prefix + "/"):
                assert mount["name"] in volumes, f"mount {mount['name']} has no volume"
                return str(mounts[mount["name"]]) + path[len(prefix) :]
        raise AssertionError(
            f"{path} is not on a mounted volume: the read-only root filesystem would refuse writes"
        )

    env = {key: value for key, value in dockerfile.env.items() if key != "PATH"}
    for key in ("HOME", "TMPDIR", "PYTHONPYCACHEPREFIX"):
        env[key] = local_path(env[key])
    for source in container.get("envFrom") or []:
        config_map = find(manifests, "ConfigMap", source["configMapRef"]["name"])
        env.update(config_map.get("data") or {})
    for entry in container.get("env") or []:
        if "value" in entry:
            env[entry["name"]] = entry["value"]
            continue
        ref = entry["valueFrom"]["secretKeyRef"]
        value = (secrets.get(ref["name"]) or {}).get(ref["key"])
        if value is None:
            assert ref.get("optional"), f"{entry['name']}: Secret {ref['name']} has no key {ref['key']}"
            continue
        env[entry["name"]] = value
    command = dockerfile.entrypoint[0]
    argv = [str(VENV_BIN / command), *dockerfile.entrypoint[1:], *container.get("args", [])]
    probes = {
        kind: container[f"{kind}Probe"]["httpGet"]["path"] for kind in ("startup", "liveness", "readiness")
    }
    ports = {p["name"]: p["containerPort"] for p in container.get("ports") or []}
    probe_port = container["readinessProbe"]["httpGet"]["port"]
    return ProcessSpec(
        argv=argv,
        env=env,
        cwd=Path(local_path(dockerfile.workdir)),
        probe_port=ports.get(probe_port, probe_port),
        probe_paths=probes,
        grace_period_s=pod.get("terminationGracePeriodSeconds", 30),
    )


class CnpgStandIn:
    """CloudNativePG's bootstrap and managed roles, applied to a private local PostgreSQL."""

    def __init__(self, server: LocalPostgres) -> None:
        self.server = server
        self.info = server.info()

    def _superuser(self, db: str) -> psycopg.Connection[Any]:
        return psycopg.connect(self.info.conninfo(db, superuser=True), autocommit=True)

    def enable_tls(self) -> None:
        """A self-signed certificate, as CloudNativePG serves one, so sslmode=require works."""
        data = self.server.data
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=postgres-rw",
                "-keyout",
                str(data / "server.key"),
                "-out",
                str(data / "server.crt"),
            ],
            check=True,
            capture_output=True,
        )
        for name in ("server.key", "server.crt"):
            path = data / name
            path.chmod(0o600)
            owner = data.stat()  # the server runs as the data directory's owner
            os.chown(path, owner.st_uid, owner.st_gid)
        with self._superuser("postgres") as conn:
            conn.execute("ALTER SYSTEM SET ssl = on")
            conn.execute("SELECT pg_reload_conf()")

    def bootstrap(self, cluster: Manifest, secrets: Mapping[str, Mapping[str, str]]) -> None:
        spec = cluster["spec"]
        initdb = spec["bootstrap"]["initdb"]
        app_db, owner = initdb["database"], initdb["owner"]
        with self._superuser("postgres") as conn:
            # LocalPostgres made `datastack` owned by `datastack`, as initdb's database/owner here;
            # the other databases it makes for development are created by the rendered bootstrap.
            assert (app_db, owner) == ("datastack", self.info.user)
            others = conn.execute(
                "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname NOT IN ('postgres', %s)",
                (app_db,),
            ).fetchall()
            for (name,) in others:
                conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
            for statement in initdb.get("postInitSQL") or []:
                conn.execute(statement)
        with self._superuser(app_db) as conn:
            for statement in initdb.get("postInitApplicationSQL") or []:
                conn.execute(statement)
        with self._superuser("postgres") as conn:
            for role in spec["managed"]["roles"]:
                password = secrets[role["passwordSecret"]["name"]]["password"]
                conn.execute(
                    sql.SQL("ALTER ROLE {} {} {} CONNECTION LIMIT {} PASSWORD {}").format(
                        sql.Identifier(role["name"]),
                        sql.SQL("LOGIN" if role.get("login") else "NOLOGIN"),
                        sql.SQL("INHERIT" if role.get("inherit", True) else "NOINHERIT"),
                        sql.Literal(role.get("connectionLimit", -1)),
                        sql.Literal(password),
                    )
                )
                for group in role.get("inRoles") or []:
                    conn.execute(
                        sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(role["name"]))
                    )
