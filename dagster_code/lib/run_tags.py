"""Run tags of every job: what a run writes (for the run queue's concurrency limits), how big its
Kubernetes pod is, and how long it may run. Defined once here; the local dagster.yaml written by
`datastack dev` (lib/instance.py) and the Helm values of the Dagster chart use the same limits, and
a test can compare the chart's values with `TAG_CONCURRENCY_LIMITS`.

Why tags: the QueuedRunCoordinator holds a run in the queue while another run with the same
`datastack/writes` value is in progress, so two runs never write the same place at once: one
postgres-analytics writer (dbt over the analytics schema) and one lake writer (dbt-duckdb and
maintenance; the syncer is the only other writer and DuckLake's commit retries handle it). Runs
started outside the queue are covered by the advisory lock in lib/locks.py.

Pod sizes come from measured peak RSS of a local run of each job (the run worker plus its dbt
process; dagster_code/README.md has the numbers): requests near the measured peak, limits with
headroom for data growth. CPU is not limited, only requested: a limit would throttle dbt's parse.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

WRITES_TAG: Final = "datastack/writes"
POSTGRES_ANALYTICS: Final = "postgres-analytics"
LAKE: Final = "lake"

TAG_CONCURRENCY_LIMITS: Final[list[dict[str, Any]]] = [
    {"key": WRITES_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
]
"""QueuedRunCoordinator `tag_concurrency_limits`: one run per written place at a time."""
MAX_CONCURRENT_RUNS: Final = 4
"""At most one run per writer plus room for ad hoc runs; a 2-core node does not gain from more."""


@dataclass(frozen=True)
class RunProfile:
    """What a job's runs write and the pod they need."""

    writes: str
    cpu_request: str
    memory_request: str
    memory_limit: str
    max_runtime_s: int

    def k8s_config(self) -> dict[str, Any]:
        """The `dagster-k8s/config` tag value: K8sRunLauncher applies it to the run's pod."""
        return {
            "container_config": {
                "resources": {
                    "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
                    "limits": {"memory": self.memory_limit},
                }
            }
        }

    def tags(self) -> dict[str, str]:
        return {
            WRITES_TAG: self.writes,
            "dagster-k8s/config": json.dumps(self.k8s_config(), sort_keys=True),
            # Run monitoring fails a run that runs longer than this (a hung dbt or lake commit).
            "dagster/max_runtime": str(self.max_runtime_s),
        }


# Measured peaks (run process + dbt, `python -m tests.dagster.measure`, ~50 h of rows): realtime
# 499 MiB, data quality 491 MiB, ingestion audit 615 MiB. The run process alone is ~290 MiB
# (Dagster and the code location), dbt ~200 MiB; DuckDB inside dbt grows with the lake's data.
REALTIME_ANALYTICS: Final = RunProfile(
    writes=POSTGRES_ANALYTICS,
    cpu_request="500m",
    memory_request="640Mi",
    memory_limit="1Gi",
    max_runtime_s=15 * 60,
)
DATA_QUALITY: Final = RunProfile(
    writes=POSTGRES_ANALYTICS,
    cpu_request="250m",
    memory_request="640Mi",
    memory_limit="1Gi",
    max_runtime_s=15 * 60,
)
INGESTION_AUDIT: Final = RunProfile(
    writes=LAKE,
    cpu_request="500m",
    memory_request="768Mi",
    memory_limit="2Gi",
    max_runtime_s=25 * 60,
)
