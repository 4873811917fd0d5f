"""Where the dbt project and its prebuilt manifest are, as one cached `DbtProject` per target.

The manifest is built ahead of time (`make dbt-parse`, or the image build) and only read here: the
code location must start in seconds and without a database, and parsing on load slows every
code-server start (dagster#21359, #22709). Both targets share the one manifest: dagster-dbt uses it
for asset keys, lineage and `--select` arguments, which do not depend on the target; every run then
parses the project again for its own target, writing its artifacts under DBT_TARGET_PATH (a writable
scratch directory in Kubernetes, where the image's filesystem is read-only).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Literal

from dagster_dbt import DbtProject

from dagster_code.lib.paths import DBT_PROJECT_DIR, MANIFEST_TARGET_PATH

Target = Literal["postgres", "lake"]


class ManifestMissingError(RuntimeError):
    """The prebuilt manifest is not there; the message says how to build it."""


@functools.cache
def dbt_project(target: Target) -> DbtProject:
    """The dbt project for one profile target, with its manifest checked to exist."""
    project = DbtProject(
        project_dir=DBT_PROJECT_DIR,
        target_path=MANIFEST_TARGET_PATH,
        profiles_dir=DBT_PROJECT_DIR,
        target=target,
    )
    if not project.manifest_path.is_file():
        raise ManifestMissingError(
            f"dbt manifest not found at {project.manifest_path}: run `make dbt-parse` (it needs no "
            "database) before loading the Dagster code location; images build it at build time"
        )
    return project


@functools.cache
def manifest() -> dict[str, Any]:
    """The prebuilt manifest, parsed once per process (both asset sets and the checks share it)."""
    return json.loads(dbt_project("postgres").manifest_path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def declared_columns(model: str) -> dict[str, str]:
    """Column name -> data_type of a model's contract, as declared in its YAML."""
    for node in manifest()["nodes"].values():
        if node["resource_type"] == "model" and node["name"] == model:
            return {name: str(col.get("data_type") or "") for name, col in node["columns"].items()}
    raise KeyError(f"model {model!r} is not in the dbt manifest")


PROJECT_SOURCES = ("dbt_project.yml", "models", "macros", "tests", "seeds", "snapshots", "analyses")
"""What `dbt parse` reads into the manifest (profiles.yml is not part of it)."""


def changed_since_manifest(project_dir: Path = DBT_PROJECT_DIR) -> list[str]:
    """Project files modified after the manifest was written. A run parses the project as it is on
    disk while the code location maps dbt's events through the manifest it loaded; when they
    differ, dagster-dbt fails on the first unknown node with a bare KeyError."""
    manifest_path = project_dir / MANIFEST_TARGET_PATH / "manifest.json"
    built = manifest_path.stat().st_mtime
    changed = []
    for name in PROJECT_SOURCES:
        root = project_dir / name
        paths = [root] if root.is_file() else (root.rglob("*") if root.is_dir() else [])
        changed += [
            str(p.relative_to(project_dir)) for p in paths if p.is_file() and p.stat().st_mtime > built
        ]
    return sorted(changed)
