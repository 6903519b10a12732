"""Thin bridge from the Rust tests to the Python deployment tools.

Each subcommand runs one real tool (the Helm v4 engine of helm-python-sdk, kubernetes-validate's
schemas, jsonschema, dockerfile-parse) and prints what it found as JSON on stdout. It decides
nothing: the assertions live in the Rust tests (crates/corral-deploy-tests/tests/). Values and
objects come in as JSON on stdin.

    deploy_check.py versions
    deploy_check.py lint CHART KUBE_VERSION                 < values.json
    deploy_check.py render CHART RELEASE NAMESPACE          < values.json
    deploy_check.py check-values CHART                      < values.json
    deploy_check.py cr-errors CRD_YAML                      < objects.json
    deploy_check.py yaml FILE|-
    deploy_check.py dockerfile DOCKERFILE
    deploy_check.py dockerignore DOCKERIGNORE PATH...
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import yaml


def emit(value: Any) -> None:
    json.dump(value, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")


def stdin_json() -> Any:
    text = sys.stdin.read()
    return json.loads(text) if text.strip() else {}


def documents(text: str) -> list[Any]:
    """The non-empty YAML documents of a text (empty ones are what disabled templates render)."""
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


# --- Helm ---------------------------------------------------------------------------------------


def cmd_lint(chart: str, kube_version: str) -> None:
    import helm_python

    emit(helm_python.lint(chart, stdin_json(), strict=True, kube_version=kube_version))


def cmd_render(chart: str, release: str, namespace: str) -> None:
    import helm_python

    values = stdin_json()
    with helm_python.Chart.load(chart) as loaded:
        templates = loaded.render(values, name=release, namespace=namespace, is_install=True)
        crds = loaded.crds
    objects = []
    for source in sorted(templates):
        if source.endswith("NOTES.txt"):
            continue
        for obj in documents(templates[source]):
            objects.append({"source": source, "object": obj})
    crd_objects = []
    for crd in crds:
        for obj in documents(crd["data"]):
            crd_objects.append({"source": crd["filename"], "object": obj})
    emit(
        {
            "templates": templates,
            "crds": [{"filename": c["filename"], "data": c["data"]} for c in crds],
            "objects": objects,
            "crd_objects": crd_objects,
        }
    )


def cmd_check_values(chart: str) -> None:
    """What values.schema.json says about the values, and whether a render succeeds."""
    import helm_python

    values = stdin_json()
    schema_error = render_error = None
    with helm_python.Chart.load(chart) as loaded:
        try:
            loaded.validate_schema(values)
        except helm_python.HelmError as error:
            schema_error = str(error)
        try:
            loaded.render(values, name="corral", namespace="corral", is_install=True)
        except helm_python.HelmError as error:
            render_error = str(error)
    emit({"schema_error": schema_error, "render_error": render_error})


# --- Custom resources against the CRD's openAPIV3Schema -------------------------------------------

SCHEMA_MAPS = ("properties", "patternProperties", "definitions", "$defs")
SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
SCHEMA_ONE = ("additionalProperties", "items", "not", "if", "then", "else")


def as_json_schema(node: Any, root: bool = False) -> Any:
    """OpenAPI v3 (Kubernetes structural schema) to JSON Schema.

    `nullable: true` becomes a `[type, "null"]` union. Objects with listed properties refuse other
    fields, as the API server does with strict field validation (kubectl's default), unless they
    preserve unknown fields; the root is left open for apiVersion, kind and metadata.
    """
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: as_json_schema(sub) for name, sub in value.items()}
        elif key in SCHEMA_LISTS and isinstance(value, list):
            out[key] = [as_json_schema(sub) for sub in value]
        elif key in SCHEMA_ONE and isinstance(value, (dict, list)):
            out[key] = (
                [as_json_schema(sub) for sub in value]
                if isinstance(value, list)
                else as_json_schema(value)
            )
        else:
            out[key] = value
    if out.pop("nullable", False):
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif isinstance(kind, list) and "null" not in kind:
            out["type"] = kind + ["null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = out["enum"] + [None]
        for combinator in ("anyOf", "oneOf"):
            if combinator in out:
                out[combinator] = out[combinator] + [{"type": "null"}]
    if (
        not root
        and "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def cmd_cr_errors(crd_path: str) -> None:
    import jsonschema

    with open(crd_path) as handle:
        crds = [d for d in documents(handle.read()) if d.get("kind") == "CustomResourceDefinition"]
    objects = stdin_json()
    results = []
    for obj in objects:
        name = (obj.get("metadata") or {}).get("name")
        errors: list[str] = []
        group, _, version = str(obj.get("apiVersion", "")).partition("/")
        crd = next(
            (
                c
                for c in crds
                if c["spec"]["group"] == group and c["spec"]["names"]["kind"] == obj.get("kind")
            ),
            None,
        )
        if crd is None:
            errors.append(f"no CustomResourceDefinition in {crd_path} for {obj.get('apiVersion')} {obj.get('kind')}")
        else:
            served = [v for v in crd["spec"]["versions"] if v["name"] == version and v.get("served")]
            if not served:
                errors.append(f"version {version} is not served by {crd['metadata']['name']}")
            else:
                schema = as_json_schema(served[0]["schema"]["openAPIV3Schema"], root=True)
                validator = jsonschema.Draft202012Validator(schema)
                for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.path)):
                    path = ".".join(str(p) for p in error.path) or "(root)"
                    errors.append(f"{path}: {error.message}")
        if not name:
            errors.append("metadata.name is missing")
        results.append({"name": name, "errors": errors})
    emit(results)


# --- Plain YAML ----------------------------------------------------------------------------------


def cmd_yaml(path: str) -> None:
    text = sys.stdin.read() if path == "-" else open(path).read()
    emit(documents(text))


# --- Dockerfile and .dockerignore ------------------------------------------------------------------


def cmd_dockerfile(path: str) -> None:
    """Stages in order, each with its instructions (continuation lines joined)."""
    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(path=path, env_replace=False)
    stages: list[dict[str, Any]] = []
    for instruction in parser.structure:
        name, value = instruction["instruction"], instruction["value"]
        if name == "FROM":
            parts = value.split()
            base = next(p for p in parts if not p.startswith("--"))
            alias = parts[-1] if len(parts) >= 3 and parts[-2].upper() == "AS" else None
            stages.append({"name": alias, "from": base, "instructions": []})
        elif name == "COMMENT":
            continue
        elif stages:
            stages[-1]["instructions"].append({"instruction": name, "value": value})
    emit({"stages": stages})


def ignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus `**`) as a regex over slash paths."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            if pattern.startswith("/", i):
                out += "/?"
                i += 1
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def cmd_dockerignore(path: str, *paths: str) -> None:
    """For each path of the build context: is it left out of the context?"""
    rules = []
    for line in open(path).read().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        pattern = pattern.strip().strip("/")
        if pattern.startswith("./"):
            pattern = pattern[2:]
        rules.append((negate, ignore_regex(pattern)))

    def excluded(candidate: str) -> bool:
        parts = candidate.strip("/").split("/")
        # A path is left out when it or one of its parent directories matches (last rule wins).
        verdict = False
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            for negate, regex in rules:
                if regex.match(prefix):
                    verdict = not negate
            if verdict:
                return True
        return verdict

    emit({p: excluded(p) for p in paths})


# --- kubernetes-validate ---------------------------------------------------------------------------


def cmd_versions() -> None:
    from kubernetes_validate import utils

    # Each version ships a plain and a strict schema folder: list it once, oldest first.
    unique: list[str] = []
    for version in utils.all_versions():
        if version not in unique:
            unique.append(version)
    emit({"versions": unique})


COMMANDS = {
    "versions": cmd_versions,
    "lint": cmd_lint,
    "render": cmd_render,
    "check-values": cmd_check_values,
    "cr-errors": cmd_cr_errors,
    "yaml": cmd_yaml,
    "dockerfile": cmd_dockerfile,
    "dockerignore": cmd_dockerignore,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: deploy_check.py {{{'|'.join(COMMANDS)}}} ARGS…")
    COMMANDS[sys.argv[1]](*sys.argv[2:])
