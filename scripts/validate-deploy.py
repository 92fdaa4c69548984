#!/usr/bin/env python3
"""Offline validation of the deployment files against their published schemas.

  validate-deploy.py compose FILE SCHEMA.json
      FILE against the Compose Specification JSON schema (draft-07).
  validate-deploy.py kubernetes FILE CRD_DIR [K8S_VERSION]
      every document of FILE (e.g. `kubectl kustomize` output): built-in kinds against the
      Kubernetes OpenAPI schemas of kubernetes-validate (strict: unknown fields are errors),
      monitoring.coreos.com kinds against the openAPIV3Schema of their CRD in CRD_DIR.

Prints one line per problem and exits 1 when there is any; the schemas are read in place.
Needs the PyPI packages jsonschema, pyyaml and kubernetes-validate (scripts/install-deps.sh).
"""

import json
import sys
from pathlib import Path

try:
    import jsonschema
    import yaml
except ImportError as e:  # pragma: no cover - the message is the point
    sys.exit(f"validate-deploy: {e}: pip install jsonschema pyyaml kubernetes-validate")


def where(err):
    path = "/".join(str(p) for p in err.absolute_path)
    return path or "(root)"


def compose(file, schema_file):
    schema = json.loads(Path(schema_file).read_text())
    try:
        doc = yaml.safe_load(Path(file).read_text())
    except yaml.YAMLError as e:
        return [f"{file}: not valid YAML: {e}"]
    v = jsonschema.Draft7Validator(schema)
    return [f"{file}: {where(e)}: {e.message}" for e in sorted(v.iter_errors(doc), key=str)]


def crd_schemas(crd_dir):
    """(group/version, kind) -> openAPIV3Schema, from every CRD file in crd_dir."""
    out = {}
    for f in sorted(Path(crd_dir).glob("*.yaml")):
        for crd in yaml.safe_load_all(f.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group = crd["spec"]["group"]
            kind = crd["spec"]["names"]["kind"]
            for ver in crd["spec"]["versions"]:
                out[(f"{group}/{ver['name']}", kind)] = ver["schema"]["openAPIV3Schema"]
    return out


def strict(schema):
    """CRD schemas allow unknown fields only where they say so (the API server prunes the
    rest): make objects with declared properties closed, as the API server would see them."""
    if isinstance(schema, dict):
        s = {k: strict(v) for k, v in schema.items()}
        if (
            s.get("type") == "object"
            and "properties" in s
            and "additionalProperties" not in s
            and not s.get("x-kubernetes-preserve-unknown-fields")
        ):
            s["additionalProperties"] = False
        return s
    if isinstance(schema, list):
        return [strict(x) for x in schema]
    return schema


def kubernetes(file, crd_dir, version):
    try:
        import kubernetes_validate
    except ImportError as e:
        sys.exit(f"validate-deploy: {e}: pip install kubernetes-validate")
    crds = crd_schemas(crd_dir)
    problems = []
    try:
        docs = [d for d in yaml.safe_load_all(Path(file).read_text()) if d]
    except yaml.YAMLError as e:
        return [f"{file}: not valid YAML: {e}"]
    if not docs:
        return [f"{file}: no Kubernetes object"]
    for d in docs:
        name = f"{d.get('kind')}/{d.get('metadata', {}).get('name')}"
        key = (d.get("apiVersion"), d.get("kind"))
        if key[0] and key[0].startswith("monitoring.coreos.com/"):
            schema = crds.get(key)
            if schema is None:
                problems.append(f"{name}: no CRD schema for {key} in {crd_dir}")
                continue
            v = jsonschema.Draft7Validator(strict(schema))
            for e in sorted(v.iter_errors(d), key=str):
                problems.append(f"{name}: {where(e)}: {e.message}")
            continue
        try:
            kubernetes_validate.validate(d, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            problems.append(f"{name}: {where(e)}: {e.message}")
        except Exception as e:  # schema not found and the like
            problems.append(f"{name}: {e}")
    print(f"{file}: {len(docs)} objects checked: " + ", ".join(
        f"{d.get('kind')}/{d.get('metadata', {}).get('name')}" for d in docs))
    return problems


def main(argv):
    if len(argv) >= 3 and argv[0] == "compose":
        problems = compose(argv[1], argv[2])
    elif len(argv) >= 3 and argv[0] == "kubernetes":
        problems = kubernetes(argv[1], argv[2], argv[3] if len(argv) > 3 else "1.33.0")
    else:
        sys.exit(__doc__)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
