"""`make bench`: run every tests/bench/bench_*.py against the real local infra and print
`name: value` lines (benchmarks, not timed tests: nothing here passes or fails on speed).

Each module exposes `run(infra: LocalInfra) -> Iterator[tuple[str, float | int | str]]` (a string
says what was measured, e.g. where a peer came from).
Run one with `python -m tests.bench sink` (module name without the bench_ prefix).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from pathlib import Path

from services.infra import local
from services.runtime import configure_logging


def main(argv: list[str]) -> int:
    configure_logging("WARNING", "console")
    infra = local.up()
    os.environ.update(infra.env())
    wanted = set(argv)
    names = sorted(
        m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_")
    )
    for name in names:
        if wanted and name.removeprefix("bench_") not in wanted:
            continue
        module = importlib.import_module(f"tests.bench.{name}")
        for metric, value in module.run(infra):
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            print(f"{metric}: {shown}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
