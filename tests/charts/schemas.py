"""Offline schemas for every kind the charts render, laid out for kubeconform.

- Custom resources (Strimzi 1.2.0, CloudNativePG 1.30): each CRD version's openAPIV3Schema from
  charts/crds (copied from the releases, see its README), with every object that declares
  `properties` closed
  (`additionalProperties: false`, unless it preserves unknown fields), so a misspelt field fails.
  CEL rules (x-kubernetes-validations) are not checked: no offline validator runs them.
- Built-in kinds: the Kubernetes JSON schemas bundled in the PyPI package kubernetes-validate
  (its `-local-strict` flavour, closed the same way), with their absolute `$id`/`$ref`s made
  relative so kubeconform resolves them in the same folder.

Files are named `{kind}-{first label of the group}-{version}.json` (`-{version}` for the core group),
kubeconform's `{{ .ResourceKind }}{{ .KindSuffix }}.json`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from tests.charts.tools import KUBE_VERSION, ROOT

CRDS = ROOT / "charts" / "crds"
CRD_FILES = sorted((CRDS / "strimzi").glob("*-Crd-*.yaml")) + sorted((CRDS / "cnpg").glob("*.yaml"))
UPSTREAM_CHARTS = Path(__file__).with_name("upstream")
"""Values and schemas of the upstream Dagster and Kafka UI charts (see its README)."""


def close_objects(schema: Any) -> Any:
    """Deny unknown fields wherever the schema lists the known ones (kubectl-like strictness)."""
    if isinstance(schema, dict):
        closed = {key: close_objects(value) for key, value in schema.items()}
        if (
            "properties" in closed
            and "additionalProperties" not in closed
            and not closed.get("x-kubernetes-preserve-unknown-fields")
        ):
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [close_objects(item) for item in schema]
    return schema


def crd_schemas() -> Iterator[tuple[str, dict[str, Any]]]:
    """(file name, closed JSON schema) for every served version of every bundled CRD."""
    for path in CRD_FILES:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            kind = spec["names"]["kind"].lower()
            group = spec["group"].split(".")[0]
            for version in spec["versions"]:
                if not version.get("served"):
                    continue
                schema = close_objects(version["schema"]["openAPIV3Schema"])
                # apiVersion/kind are checked by kubeconform's schema lookup; metadata by the API server.
                yield f"{kind}-{group}-{version['name']}.json", schema


def builtin_schema_dir() -> Path:
    package = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    major_minor = ".".join(KUBE_VERSION.split(".")[:2])
    return package / f"v{major_minor}.0-local-strict"


def write_schema_dir(target: Path) -> Path:
    """Fill `target` with the schemas; returns it."""
    target.mkdir(parents=True, exist_ok=True)
    for source in builtin_schema_dir().glob("*.json"):
        text = source.read_text()
        text = text.replace('"/api/_definitions.json#', '"_definitions.json#')
        doc = json.loads(text)
        doc.pop("$id", None)
        (target / source.name).write_text(json.dumps(doc))
    for name, schema in crd_schemas():
        (target / name).write_text(json.dumps(schema))
    return target


def kubeconform_args(schema_dir: Path) -> list[str]:
    return [
        "-strict",
        "-summary",
        "-output",
        "text",
        "-kubernetes-version",
        KUBE_VERSION,
        "-schema-location",
        str(schema_dir) + "/{{ .ResourceKind }}{{ .KindSuffix }}.json",
    ]
