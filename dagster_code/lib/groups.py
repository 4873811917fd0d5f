"""Asset group names, in one place: the UI, the jobs, the CLI and the dbt translator all use them."""

from __future__ import annotations

from typing import Final

CRYPTO: Final = "crypto"
DEVELOPER: Final = "developer"
WEATHER: Final = "weather"
DATA_QUALITY: Final = "data_quality"
INGESTION: Final = "ingestion"
"""The raw tables the sink lands (observable sources)."""
LAKE: Final = "lake"
"""The DuckLake copy: raw tables the syncer copies, the lake dbt models, maintenance."""

ANALYTICS: Final = (CRYPTO, DEVELOPER, WEATHER, DATA_QUALITY)
"""The original's four assets, one group each, built on the PostgreSQL marts."""

DBT_DOMAIN_GROUPS: Final = {
    "crypto": CRYPTO,
    "github": DEVELOPER,
    "weather": WEATHER,
    "data_quality": DATA_QUALITY,
}
"""dbt folder under models/<layer>/ -> group (the dbt project names the GitHub domain `github`)."""

CLI_NAMES: Final = {"crypto": CRYPTO, "developer": DEVELOPER, "weather": WEATHER, "quality": DATA_QUALITY}
"""`datastack assets check <name>`: the original tool's names for the four groups."""
