"""The Dagster instance settings (dagster.yaml) in the shape the cluster uses: run, event and
schedule storage in PostgreSQL (dagster-postgres), the QueuedRunCoordinator with the concurrency
limits of lib/run_tags.py, run monitoring for `dagster/max_runtime`. Locally the default run
launcher starts runs as processes; in Kubernetes the Dagster chart writes the same settings with
K8sRunLauncher. The password is never written: dagster.yaml names the variable
(DAGSTER_PG_PASSWORD, as the Dagster chart does).

No Dagster import here: `datastack dev` (services/devstack.py) renders these files.
"""

from __future__ import annotations

import json
from typing import Any

from dagster_code.lib.run_tags import MAX_CONCURRENT_RUNS, TAG_CONCURRENCY_LIMITS

LOCATION_NAME = "datastack"
PASSWORD_ENV = "DAGSTER_PG_PASSWORD"  # noqa: S105 - the variable's name, not a password


def instance_settings(host: str, port: int, user: str, db: str, sslmode: str = "prefer") -> dict[str, Any]:
    return {
        "storage": {
            "postgres": {
                "postgres_db": {
                    "hostname": host,
                    "port": port,
                    "username": user,
                    "password": {"env": PASSWORD_ENV},
                    "db_name": db,
                    "params": {"sslmode": sslmode, "application_name": "dagster"},
                    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, under which
                    # dagster-postgres' `NOTIFY run_events, :id` fails (server-side binding);
                    # psycopg2 is what dagster-postgres is built and tested with.
                    "scheme": "postgresql+psycopg2",
                }
            }
        },
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {
                "max_concurrent_runs": MAX_CONCURRENT_RUNS,
                "tag_concurrency_limits": TAG_CONCURRENCY_LIMITS,
            },
        },
        "run_launcher": {"module": "dagster.core.launcher", "class": "DefaultRunLauncher"},
        "run_monitoring": {"enabled": True, "start_timeout_seconds": 180, "poll_interval_seconds": 30},
        # Ticks of a 5-minute schedule and a 1-minute sensor pile up; keep a week of them.
        "retention": {
            "schedule": {"purge_after_days": 7},
            "sensor": {"purge_after_days": {"skipped": 1, "failure": 7, "success": 7}},
        },
        "telemetry": {"enabled": False},
    }


def workspace_settings(host: str, port: int) -> dict[str, Any]:
    """The webserver and the daemon reach the code location over gRPC, as in the cluster."""
    return {"load_from": [{"grpc_server": {"host": host, "port": port, "location_name": LOCATION_NAME}}]}


def to_yaml(settings: dict[str, Any]) -> str:
    """YAML is a superset of JSON: indented JSON needs no YAML library in `datastack dev`."""
    return "# written by `datastack dev`; regenerated at each start\n" + json.dumps(settings, indent=2) + "\n"


INTERRUPTED = "interrupted: `datastack dev` stopped while this run was in progress"


def fail_interrupted_runs() -> list[str]:
    """Mark runs a previous `datastack dev` left in progress as failed; returns their ids.

    Stopping `make dev` stops the run workers with the code server, but their runs stay STARTED in
    the instance: the default run launcher cannot tell a dead worker (only the Kubernetes launcher
    can), so a stale run would hold its `datastack/writes` slot in the queue and every later run of
    that kind would wait behind it. At start nothing of ours is running, so whatever claims to be is
    not. Imports Dagster: `datastack dev` calls it in a subprocess with the instance's environment.
    """
    import dagster as dg

    in_progress = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
    failed = []
    with dg.DagsterInstance.get() as instance:
        for run in instance.get_runs(filters=dg.RunsFilter(statuses=in_progress)):
            instance.report_run_failed(run, INTERRUPTED)
            failed.append(run.run_id)
    return failed
