"""Where the code location finds the dbt project; importable without Dagster (`datastack dev` checks
the manifest before it starts anything)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

DBT_PROJECT_DIR: Final = Path(__file__).resolve().parent.parent.parent / "dbt_project"
"""The image and the repository both keep `dbt_project/` next to `dagster_code/`."""
MANIFEST_TARGET_PATH: Final = "target"
"""Relative to the project: where `make dbt-parse` writes manifest.json."""
MANIFEST_PATH: Final = DBT_PROJECT_DIR / MANIFEST_TARGET_PATH / "manifest.json"
