"""Where local infrastructure keeps its state (gitignored) and its download cache."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def state_dir() -> Path:
    """DATASTACK_HOME, or `.local/` in the repository: data dirs, logs, generated credentials."""
    home = os.environ.get("DATASTACK_HOME")
    return Path(home).resolve() if home else REPO_ROOT / ".local"


def cache_dir() -> Path:
    """Downloads shared by every clone on the machine (the Kafka jars)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "datastack"
