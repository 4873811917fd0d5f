"""Running `dbt build` from an asset: the arguments every run uses, a warm parse cache, and the
artifacts it leaves."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource

from dagster_code.lib.dbt.project import changed_since_manifest

BUILD_ARGS = ("build", "--exclude-resource-type", "unit_test")
"""Models with their data tests (surfaced as asset checks). Unit tests check SQL logic on fixed rows;
they belong to CI (`make test`), not to every scheduled run."""

PARSE_CACHE = ".partial-parse"


def scratch_root(project_dir: Path) -> Path:
    """DBT_TARGET_PATH, as dagster-dbt resolves it (relative paths are inside the project)."""
    base = Path(os.environ.get("DBT_TARGET_PATH", "target"))
    return base if base.is_absolute() else project_dir / base


def build(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    """`dbt build` of the selected models, streamed as Dagster events.

    Each invocation gets its own target directory under DBT_TARGET_PATH (as dagster-dbt does by
    default), seeded with the partial-parse state the previous successful invocation of this target
    left: a full parse costs about 7 s of CPU, a partial one about 4, every 5 minutes on a 2-core
    node. dbt checks the state itself (files, vars, profile) and parses again what changed. A
    successful invocation's directory is removed afterwards (a few MB each; Dagster's event log keeps
    what matters); a failed one stays for debugging.
    """
    changed = changed_since_manifest()
    if changed:
        raise dg.Failure(
            description=(
                "the dbt project changed after the code location's manifest was built "
                f"({', '.join(changed[:5])}{', ...' if len(changed) > 5 else ''}): run `make dbt-parse`, "
                "then reload the code location (UI: Deployment > Reload, or restart `make dev`)"
            )
        )
    root = scratch_root(Path(dbt.project_dir))
    cache = root / PARSE_CACHE / f"{dbt.target or 'default'}.msgpack"
    target_path = (
        root / f"{context.op_execution_context.op.name}-{context.run.run_id[:8]}-{uuid.uuid4().hex[:6]}"
    )
    target_path.mkdir(parents=True, exist_ok=True)
    if cache.is_file():
        shutil.copyfile(cache, target_path / "partial_parse.msgpack")
    invocation = dbt.cli(list(BUILD_ARGS), context=context, target_path=target_path)
    # No `.fetch_row_counts()`: it opens a second dbt adapter in this process (seconds of CPU per
    # run; dbt-duckdb's file is held by dbt), and logs an error for every skipped model. The reports
    # carry the row counts a user reads.
    yield from invocation.stream()
    state = target_path / "partial_parse.msgpack"
    if state.is_file():
        cache.parent.mkdir(parents=True, exist_ok=True)
        staged = cache.with_suffix(f".{uuid.uuid4().hex[:6]}.tmp")
        shutil.copyfile(state, staged)
        staged.replace(cache)  # atomic: concurrent runs never read half a file
    shutil.rmtree(target_path, ignore_errors=True)
