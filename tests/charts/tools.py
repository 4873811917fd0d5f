"""The chart tools `make chart-tools` provides: bin/ first (built at the pinned version), then PATH.

A missing tool fails the test with the command that provides it, never a skip: `make test` builds
them first, so a missing one is a broken setup, not an optional feature.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "charts"
KUBE_VERSION = "1.34.0"
"""The Kubernetes version the charts are rendered and validated for: kind v0.33's node (issue 11)."""
NAMESPACE = "datastack"


def tool(name: str) -> str:
    built = ROOT / "bin" / name
    if built.is_file() and os.access(built, os.X_OK):
        return str(built)
    found = shutil.which(name)
    if found is None:
        raise AssertionError(
            f"{name} not found in bin/ or on PATH: run `make chart-tools` (part of `make setup`)"
        )
    return found


# helmfile asks GitHub for its latest release unless told not to.
TOOL_ENV = {**os.environ, "HELMFILE_UPGRADE_NOTICE_DISABLED": "1"}


def run(args: list[str], *, cwd: Path = ROOT, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a chart tool; a failure shows its stderr."""
    result = subprocess.run(
        args, cwd=cwd, env=TOOL_ENV, capture_output=True, text=True, check=False, timeout=300
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {result.returncode}:\n{result.stderr}\n{result.stdout}"
        )
    return result


Manifest = dict[str, Any]


def load_all(text: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def helm_template(chart: str, release: str, values: Sequence[Path] = (), *extra: str) -> list[Manifest]:
    args = [
        tool("helm"),
        "template",
        release,
        str(CHARTS / chart),
        "-n",
        NAMESPACE,
        "--kube-version",
        KUBE_VERSION,
    ]
    for path in values:
        args += ["-f", str(path)]
    return load_all(run([*args, *extra]).stdout)


def helmfile(*args: str) -> subprocess.CompletedProcess[str]:
    """helmfile with our helm (helmfile calls helm by name otherwise), offline."""
    return run([tool("helmfile"), "--helm-binary", tool("helm"), *args])
