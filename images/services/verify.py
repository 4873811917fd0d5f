"""Check an image's Python environment: `python verify.py services|dagster`.

Runs during `docker build` (a failure fails the build) and in `make test` against the local venv
(tests/charts/test_images.py), so both prove the same things:
- every command the charts run in that image answers `--help`, and the modules they name exist;
- the DuckDB extensions install from the duckdb-extension-* PyPI packages and load with
  autoinstall off: nothing is downloaded at run time. DuckDB needs an existing HOME for that.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

COMMANDS = {
    "services": (
        ["datastack", "--help"],
        ["datastack", "produce", "--help"],
        ["datastack", "sink", "--help"],
        ["datastack", "sync", "--help"],
    ),
    "dagster": (
        ["dagster", "api", "grpc", "--help"],
        ["dagster", "api", "execute_run", "--help"],
        ["dagster-webserver", "--help"],
        ["dagster-daemon", "run", "--help"],
        ["datastack", "lake", "maintain", "--help"],
        ["dbt", "--version"],
    ),
}
MODULES = {"services": ("services.cli",), "dagster": ("services.cli", "dagster_code.definitions")}
EXTENSIONS = ("ducklake", "postgres", "httpfs")


def verify(image: str) -> None:
    bin_dir = Path(sys.executable).parent
    # All at once: each start imports Dagster or dbt, which takes seconds.
    running = [
        (command, subprocess.Popen([str(bin_dir / command[0]), *command[1:]], stdout=subprocess.DEVNULL))
        for command in COMMANDS[image]
    ]
    failed = [" ".join(command) for command, proc in running if proc.wait() != 0]
    if failed:
        raise SystemExit(f"failed: {failed}")
    for module in MODULES[image]:
        if importlib.util.find_spec(module) is None:
            raise SystemExit(f"module {module} not found")

    import duckdb

    from services.lake.connect import ensure_extensions

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    # At image build DUCKDB_EXTENSION_DIRECTORY names the image's own directory: this installs the
    # extensions there once, and pods (read-only root) only load them.
    ensure_extensions(con, EXTENSIONS, os.environ.get("DUCKDB_EXTENSION_DIRECTORY"))
    rows = con.execute("SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()
    missing = {"ducklake", "postgres_scanner", "httpfs"} - {row[0] for row in rows}
    if missing:
        raise SystemExit(f"DuckDB extensions not loaded: {sorted(missing)}")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in COMMANDS:
        raise SystemExit(f"usage: verify.py {'|'.join(COMMANDS)}")
    verify(sys.argv[1])
    print(f"{sys.argv[1]} image verified: commands, modules, DuckDB extensions")
