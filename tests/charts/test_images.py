"""The Dockerfiles, without a Docker engine (the cluster test builds them for real):

- hadolint-style rules, written here because hadolint (Haskell) cannot be installed from the
  registries we reach and checkov's PyPI package conflicts with our lock; each rule names the
  hadolint rule it mirrors;
- the check each image build runs (images/services/verify.py) passes against the local venv:
  the commands the charts run answer --help, their modules exist, DuckDB's extensions load offline.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.charts.contract import IMAGES, Dockerfile
from tests.charts.tools import ROOT

DOCKERFILES = sorted(IMAGES.values())


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


def instructions(path: Path) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    result: list[Instruction] = []
    pending, start = "", 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = pending + line
        pending = ""
        keyword, _, args = text.partition(" ")
        result.append(Instruction(keyword.upper(), args.strip(), start))
    return result


def stages(path: Path) -> list[list[Instruction]]:
    out: list[list[Instruction]] = []
    for ins in instructions(path):
        if ins.keyword == "FROM":
            out.append([])
        if out:
            out[-1].append(ins)
    return out


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_dockerfile_rules(path: Path) -> None:
    text = path.read_text()
    all_ins = instructions(path)
    problems: list[str] = []
    if text.lstrip().startswith("# syntax="):
        problems.append("a `# syntax=` line pulls a frontend image from a registry")
    args = {
        i.args.split("=", 1)[0]: i.args.split("=", 1)[1]
        for i in all_ins
        if i.keyword == "ARG" and "=" in i.args
    }
    if not re.fullmatch(r"[\w./-]+:[\w.-]+", args.get("BASE_IMAGE", "")) or args["BASE_IMAGE"].endswith(
        ":latest"
    ):
        problems.append(
            f"DL3006/DL3007: BASE_IMAGE default must be a pinned tag, got {args.get('BASE_IMAGE')!r}"
        )
    for ins in all_ins:
        where = f"line {ins.line}"
        if ins.keyword == "FROM" and not ins.args.startswith("${BASE_IMAGE}"):
            problems.append(
                f"{where}: every stage builds on BASE_IMAGE (the venv's interpreter link must exist)"
            )
        if ins.keyword == "ADD":
            problems.append(f"{where}: DL3020 use COPY, not ADD")
        if ins.keyword == "RUN":
            if re.search(r"(^|&&|;)\s*cd\s", ins.args):
                problems.append(f"{where}: DL3003 use WORKDIR or tool flags, not cd")
            if "|" in ins.args.replace("||", "") and "pipefail" not in ins.args:
                problems.append(f"{where}: DL4006 a pipe without pipefail")
            if "sudo " in ins.args:
                problems.append(f"{where}: DL3004 no sudo")
            for pip in re.findall(r"pip install ([^&;]+)", ins.args):
                if "--no-cache-dir" not in pip:
                    problems.append(f"{where}: DL3042 pip install without --no-cache-dir")
                for package in (w for w in shlex.split(pip) if not w.startswith("-")):
                    if "==" not in package:
                        problems.append(f"{where}: DL3013 unpinned pip package {package}")
            if "apt-get install" in ins.args and not (
                "--no-install-recommends" in ins.args and "rm -rf /var/lib/apt/lists" in ins.args
            ):
                problems.append(
                    f"{where}: DL3015/DL3009 apt-get install without --no-install-recommends and list cleanup"
                )
            if (
                re.search(r"\buv (sync|pip install)\b", ins.args)
                and "uv sync" in ins.args
                and "--frozen" not in ins.args
            ):
                problems.append(f"{where}: uv sync without --frozen (the lock decides)")
        if ins.keyword in ("ENTRYPOINT", "CMD"):
            try:
                assert isinstance(json.loads(ins.args), list)
            except (ValueError, AssertionError):
                problems.append(f"{where}: DL3025 {ins.keyword} in exec (JSON) form")
    final = stages(path)[-1]
    users = [i.args for i in final if i.keyword == "USER"]
    if not users or not re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1]):
        problems.append(f"DL3002: the final stage must end as a numeric non-root USER uid:gid, got {users}")
    last_change = max(n for n, i in enumerate(final) if i.keyword in ("RUN", "COPY"))
    if max(n for n, i in enumerate(final) if i.keyword == "USER") < last_change:
        problems.append("the final stage runs or copies something after USER: it would run as that user")
    final_runs = " ".join(i.args for i in final if i.keyword == "RUN")
    if re.search(r"\b(uv|pip|apt-get|gcc|make)\b", final_runs):
        problems.append(f"no build tools in the final stage: {final_runs}")
    for copy in (i for i in final if i.keyword == "COPY"):
        if not copy.args.startswith("--from=builder "):
            problems.append(f"line {copy.line}: the final stage copies only from the builder: {copy.args}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_runtime_environment_is_writable_only_under_scratch(path: Path) -> None:
    """HOME, TMPDIR, Python's caches (and dbt's paths, DAGSTER_HOME) point at /scratch, the only
    writable path under readOnlyRootFilesystem; the working directory (DuckDB's default spill
    location) is there too."""
    image = Dockerfile.parse(path)
    assert image.workdir == "/scratch"
    writable = {
        k: v
        for k, v in image.env.items()
        if k in {"HOME", "TMPDIR", "PYTHONPYCACHEPREFIX", "DAGSTER_HOME", "DBT_TARGET_PATH", "DBT_LOG_PATH"}
    }
    assert {"HOME", "TMPDIR", "PYTHONPYCACHEPREFIX"} <= set(writable)
    for key, value in writable.items():
        assert value == "/scratch" or value.startswith("/scratch/"), f"{key}={value}"


def test_services_entrypoint_is_the_datastack_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert Dockerfile.parse(IMAGES["datastack/services"]).entrypoint == ["datastack"]
    assert scripts["datastack"] == "services.cli:main"


# The venv each Dockerfile builds (same uv flags; hardlinked from uv's cache, a few seconds each).
IMAGE_VENVS = {
    "services": ["--no-editable"],
    "dagster": ["--extra", "orchestration"],
}


@pytest.fixture(scope="module", params=sorted(IMAGE_VENVS))
def image_venv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    image: str = request.param
    venv = tmp_path_factory.mktemp(f"{image}-venv") / "venv"
    uv = shutil.which("uv")
    command = [uv] if uv else [sys.executable, "-m", "uv"]
    subprocess.run(
        # --refresh-package: uv would reuse a wheel of the project built before the last source
        # change (it rebuilds local projects only when pyproject.toml changes); an image build has
        # no such cache.
        [
            *command,
            "sync",
            "--frozen",
            "--no-dev",
            *IMAGE_VENVS[image],
            "--refresh-package",
            "datastack",
            "--quiet",
        ],
        cwd=ROOT,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)},
        check=True,
        timeout=300,
    )
    return image, venv


def test_uv_flags_match_the_dockerfiles() -> None:
    for image, flags in IMAGE_VENVS.items():
        syncs = [i.args for i in instructions(IMAGES[f"datastack/{image}"]) if "uv sync" in i.args]
        assert syncs, image
        assert all(" ".join(flags) in sync for sync in syncs), (image, syncs)


def test_image_verification_passes_in_the_image_venv(image_venv: tuple[str, Path], tmp_path: Path) -> None:
    """The script each image build runs, in a venv built with that Dockerfile's uv flags: the services
    one has no Dagster or dbt, so an import of them on its paths fails here as it would in the image."""
    image, venv = image_venv
    result = subprocess.run(
        [str(venv / "bin/python"), str(ROOT / "images/services/verify.py"), image],
        env={"HOME": str(tmp_path), "PATH": f"{venv / 'bin'}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{image} image verified" in result.stdout
