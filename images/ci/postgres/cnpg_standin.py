#!/usr/bin/python3
"""cnpg_standin: the ci environment's PostgreSQL (charts/ci-postgres), standing in for CloudNativePG,
whose operator and images cannot be had without a registry.

It does for one instance what the operator and its instance manager do with our Cluster resource
(charts/postgres), read from the Kubernetes API like the instance manager reads it:
  1. first start (empty data directory): `initdb`, the application database and its owner
     (spec.bootstrap.initdb.database/owner), then postInitSQL as the superuser in `postgres` and
     postInitApplicationSQL in the application database;
  2. every start: each managed role (spec.managed.roles) gets LOGIN/INHERIT, its connection limit,
     the password from its passwordSecret and its inRoles, as the operator reconciles them;
  3. serves TLS with a certificate made at start (services connect with sslmode=require), password
     (SCRAM) logins over TLS only, spec.postgresql.parameters applied.
The same steps as tests/charts/contract.py's CnpgStandIn, which runs them against a local server.
The superuser has no password and no network login (enableSuperuserAccess: false): it is reached only
through the Unix socket inside this container. Not implemented: replicas, backups, the `<cluster>-app`
Secret (no service logs in as the owner), role removal, reloading a changed password without restart.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64decode
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
ROOT = Path(os.environ.get("PG_ROOT", "/var/lib/postgresql"))
PGDATA, SOCKET_DIR, TLS_DIR = ROOT / "data", ROOT / "run", ROOT / "tls"
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
API = "https://kubernetes.default.svc"


def log(level: str, event: str, **fields: Any) -> None:
    print(json.dumps({"level": level, "event": event, **fields}), flush=True)


def api_get(path: str) -> dict[str, Any] | None:
    """GET a namespaced object with the pod's service account; None when it does not exist (yet)."""
    context = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT / "ca.crt"))
    token = (SERVICE_ACCOUNT / "token").read_text()
    request = urllib.request.Request(API + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return json.load(response)  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def wait_for(path: str, what: str, timeout_s: float = 600) -> dict[str, Any]:
    """The operator waits for its inputs too: poll until the object exists."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            found = api_get(path)
        except (OSError, urllib.error.URLError) as exc:  # API not reachable yet
            found, error = None, str(exc)
        else:
            error = "not found"
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not appear within {timeout_s:.0f} s ({error})")
        log("info", "waiting", what=what, reason=error)
        time.sleep(2)


def role_passwords(namespace: str, spec: dict[str, Any]) -> dict[str, str]:
    passwords = {}
    for role in spec.get("managed", {}).get("roles", []):
        name = role["passwordSecret"]["name"]
        secret = wait_for(f"/api/v1/namespaces/{namespace}/secrets/{name}", f"Secret {name}")
        passwords[name] = b64decode(secret["data"]["password"]).decode()
    return passwords


def bootstrap(spec: dict[str, Any], connect: Any) -> None:
    """initdb's database and owner, then postInitSQL and postInitApplicationSQL, as the superuser."""
    initdb = spec["bootstrap"]["initdb"]
    app_db, owner = initdb["database"], initdb["owner"]
    with connect("postgres") as conn:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(owner)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(app_db), sql.Identifier(owner)))
        for statement in initdb.get("postInitSQL") or []:
            conn.execute(statement)
    with connect(app_db) as conn:
        for statement in initdb.get("postInitApplicationSQL") or []:
            conn.execute(statement)


def reconcile_roles(spec: dict[str, Any], passwords: dict[str, str], connect: Any) -> None:
    """Managed roles as CloudNativePG reconciles them (ensure: present)."""
    with connect("postgres") as conn:
        for role in spec.get("managed", {}).get("roles", []):
            name = sql.Identifier(role["name"])
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role["name"],)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE ROLE {}").format(name))
            conn.execute(
                sql.SQL("ALTER ROLE {} {} {} CONNECTION LIMIT {} PASSWORD {}").format(
                    name,
                    sql.SQL("LOGIN" if role.get("login") else "NOLOGIN"),
                    sql.SQL("INHERIT" if role.get("inherit", True) else "NOINHERIT"),
                    sql.Literal(role.get("connectionLimit", -1)),
                    sql.Literal(passwords[role["passwordSecret"]["name"]]),
                )
            )
            for group in role.get("inRoles") or []:
                conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), name))
            log("info", "role reconciled", role=role["name"])


def make_certificate() -> None:
    """A self-signed server certificate, new at every start (the CloudNativePG one is signed by its CA)."""
    TLS_DIR.mkdir(mode=0o700, exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=postgres-rw",
         "-keyout", str(TLS_DIR / "server.key"), "-out", str(TLS_DIR / "server.crt")],
        check=True, capture_output=True,
    )
    (TLS_DIR / "server.key").chmod(0o600)


def pg_ctl(*args: str) -> None:
    subprocess.run([str(PG_BIN / "pg_ctl"), "-D", str(PGDATA), "-w", "-t", "120", *args], check=True)


def main() -> None:
    namespace = (SERVICE_ACCOUNT / "namespace").read_text().strip()
    name = os.environ["CLUSTER_NAME"]
    cluster = wait_for(f"/apis/postgresql.cnpg.io/v1/namespaces/{namespace}/clusters/{name}", f"Cluster {name}")
    spec = cluster["spec"]
    passwords = role_passwords(namespace, spec)
    SOCKET_DIR.mkdir(exist_ok=True)
    fresh = not (PGDATA / "PG_VERSION").exists()
    if fresh:
        subprocess.run(
            [str(PG_BIN / "initdb"), "-D", str(PGDATA), "-U", "postgres", "--encoding=UTF8", "--locale=C",
             "--auth-local=peer", "--auth-host=reject"],
            check=True, stdout=subprocess.DEVNULL,
        )
        # Password logins over TLS only; the superuser only through the socket (peer: same OS user).
        (PGDATA / "pg_hba.conf").write_text(
            "local all postgres peer\nhostssl all all all scram-sha-256\nhost all all all reject\n"
        )
        log("info", "initdb done", data=str(PGDATA))
    # Bootstrap and role reconciliation against a server on the socket only: nobody can connect
    # through the network before the roles have their passwords.
    pg_ctl("start", "-o", f"-c listen_addresses='' -c unix_socket_directories={SOCKET_DIR}", "-l",
           str(ROOT / "bootstrap.log"))

    def connect(db: str) -> psycopg.Connection[Any]:
        return psycopg.connect(host=str(SOCKET_DIR), user="postgres", dbname=db, autocommit=True)

    try:
        if fresh:
            bootstrap(spec, connect)
            log("info", "bootstrap done", database=spec["bootstrap"]["initdb"]["database"])
        reconcile_roles(spec, passwords, connect)
    finally:
        pg_ctl("stop", "-m", "fast")
    make_certificate()
    settings = {
        **{str(k): str(v) for k, v in (spec.get("postgresql", {}).get("parameters") or {}).items()},
        "listen_addresses": "*",
        "port": "5432",
        "unix_socket_directories": str(SOCKET_DIR),
        "ssl": "on",
        "ssl_cert_file": str(TLS_DIR / "server.crt"),
        "ssl_key_file": str(TLS_DIR / "server.key"),
        "password_encryption": "scram-sha-256",
        "log_destination": "stderr",
        "logging_collector": "off",
    }
    argv = [str(PG_BIN / "postgres"), "-D", str(PGDATA)]
    for key, value in settings.items():
        argv += ["-c", f"{key}={value}"]
    log("info", "serving", port=5432)
    # PostgreSQL becomes PID 1 of the container: SIGTERM is its "smart" shutdown.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as exc:
        sys.exit(f"{exc.cmd[0]} failed with exit code {exc.returncode}")
