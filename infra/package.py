"""``make package``: the deployable cloud assembly in ``cdk.out/``, every asset bundled as
``cdk deploy`` uploads it (the code asset and the layers for the stack's architecture, each with the
runtime's bytecode), offline of AWS and without Docker. Deploy exactly that with
``npx aws-cdk@2 deploy --app cdk.out``.

Beside the assembly it writes ``cdk.out/videogen-package.json``, which says what the template holds
(each function's handler, code asset and layers) for the checks that import every handler from the
bundle (``tests/package``) and for ``make bench``. Those run on this machine, so when the stack's
architecture is not this machine's, the layers that contain native extensions (pydantic-core) are
also built for this machine under ``cdk.out/import-check/``: from the same lock, by the same code, and
``tests/package`` proves they differ from the deployed ones only in those extension files. boto3, which
the Lambda runtime provides, is staged there too (``infra/layers/runtime-sdk.lock``); it is never
uploaded.

``python -m infra.package [--outdir cdk.out]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
from pathlib import Path
from typing import Any

from infra.bytecode import find_runtime_python
from infra.layer_specs import DEPLOYED_LAYERS, REPO_ROOT, RUNTIME_SDK

# The jsii runtime prints a banner for Node versions it no longer supports (this machine: 20).
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

MANIFEST = "videogen-package.json"
IMPORT_CHECK = "import-check"
#: ``platform.machine()`` → the Lambda architecture name.
HOST_ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


def host_architecture() -> str:
    machine = platform.machine().lower()
    if machine not in HOST_ARCHITECTURES:
        raise RuntimeError(f"Unknown machine architecture {machine!r}")
    return HOST_ARCHITECTURES[machine]


def has_native_code(root: Path) -> bool:
    return any(root.rglob("*.so"))


def _asset_dir(assembly: Path, s3_key: Any) -> str:
    """``<hash>.zip`` → ``asset.<hash>`` (CDK stages every asset under its hash)."""
    key = str(s3_key)
    name = f"asset.{key.removesuffix('.zip')}"
    if not (assembly / name).is_dir():
        raise FileNotFoundError(f"{name} is not in {assembly}: was bundling skipped?")
    return name


def describe(assembly: Path, template_file: str, logical_ids: dict[str, Any]) -> dict[str, Any]:
    """The manifest's functions and layers, read from the synthesized template."""
    template = json.loads((assembly / template_file).read_text())
    resources = template["Resources"]
    layers = {}
    by_logical_id = {}
    for name, logical_id in logical_ids["layers"].items():
        content = resources[logical_id]["Properties"]["Content"]
        layers[name] = {"asset": _asset_dir(assembly, content["S3Key"])}
        by_logical_id[logical_id] = name
    functions = {}
    for name, logical_id in logical_ids["functions"].items():
        props = resources[logical_id]["Properties"]
        functions[name] = {
            "handler": props["Handler"],
            "runtime": props["Runtime"],
            "architectures": props["Architectures"],
            "code": _asset_dir(assembly, props["Code"]["S3Key"]),
            "layers": [by_logical_id[ref["Ref"]] for ref in props.get("Layers", [])],
            "environment": {
                key: value
                for key, value in props.get("Environment", {}).get("Variables", {}).items()
                if isinstance(value, str)
            },
        }
    return {"layers": layers, "functions": functions}


def build(outdir: Path) -> dict[str, Any]:
    from aws_cdk import Stack

    from infra import build_app
    from infra.bundling import bundle_layer
    from infra.functions import ARCHITECTURE
    from infra.validation import synthesis_errors

    python = find_runtime_python()  # before a minute of pip: stop at once if there is none
    shutil.rmtree(outdir, ignore_errors=True)
    app, stack = build_app(outdir=str(outdir))  # bundling on, as `cdk deploy` does
    assembly = app.synth()
    artifact = assembly.get_stack_artifact(stack.artifact_id)
    errors = synthesis_errors(assembly, stack)
    if errors:
        for error in errors:
            print(f"[error] {error}", file=sys.stderr)
        raise SystemExit(f"{len(errors)} error(s): synthesis rejected")

    def logical_id(construct: Any) -> str:
        return str(Stack.of(construct).resolve(construct.node.default_child.logical_id))

    ids = {
        "layers": {name: logical_id(layer) for name, layer in stack.functions.layers.items()},
        "functions": {name: logical_id(function) for name, function in stack.functions.functions.items()},
    }
    described = describe(outdir, artifact.template_file, ids)

    # What this machine needs to import the bundle (see the module docstring).
    host = host_architecture()
    for spec in DEPLOYED_LAYERS:
        layer = described["layers"][spec.name]
        layer["import_check"] = layer["asset"]
        if host != ARCHITECTURE.name and has_native_code(outdir / layer["asset"]):
            target = outdir / IMPORT_CHECK / "layers" / spec.name
            bundle_layer(spec, host, target)
            layer["import_check"] = str(target.relative_to(outdir))
    runtime_sdk = outdir / IMPORT_CHECK / "runtime-sdk"
    bundle_layer(RUNTIME_SDK, host, runtime_sdk)

    template_path = outdir / artifact.template_file
    manifest = {
        "stack": stack.stack_name,
        "template": artifact.template_file,
        "template_sha256": hashlib.sha256(template_path.read_bytes()).hexdigest(),
        "architecture": ARCHITECTURE.name,
        "host_architecture": host,
        "runtime_python": {"path": python.location, "version": python.version},
        "runtime_sdk": str(runtime_sdk.relative_to(outdir)),
        **described,
    }
    (outdir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--outdir", type=Path, default=REPO_ROOT / "cdk.out")
    args = parser.parse_args(argv)
    manifest = build(args.outdir)
    sizes = {
        name: sum(p.stat().st_size for p in (args.outdir / layer["asset"]).rglob("*") if p.is_file())
        for name, layer in manifest["layers"].items()
    }
    print(
        f"{args.outdir}: {manifest['stack']} for {manifest['architecture']}, bytecode by Python "
        f"{manifest['runtime_python']['version']} ({manifest['runtime_python']['path']}); layers "
        + ", ".join(f"{name} {size / 2**20:.1f} MB" for name, size in sizes.items())
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
