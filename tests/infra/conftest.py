"""One synthesis per session (importing aws_cdk costs ~4 s, a synth with cdk-nag ~10 s), shared by
every infra test: offline, with bundling skipped (``aws:cdk:bundling-stacks = []``).

Nothing here or in the test modules imports aws_cdk at collection time: under ``pytest -n 2``
every worker collects every module, and only the worker that runs these tests should pay."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Before aws_cdk starts its Node process: no end-of-life banner on this machine's Node 20.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")


@dataclass(frozen=True)
class Synth:
    stack: Any  # infra.stack.VideoGenStack
    template: Any  # aws_cdk.assertions.Template (from the synthesized JSON: no second synthesis)
    template_json: dict[str, Any]
    template_path: Path
    assembly_dir: Path

    @property
    def config(self) -> Any:  # infra.config.StackConfig, read from cdk.json's context
        return self.stack.config

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return dict(self.template_json["Resources"])

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synth]:
    from aws_cdk.assertions import Template

    from infra import SKIP_BUNDLING, build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    app, stack = build_app(SKIP_BUNDLING, outdir=str(outdir))
    assembly = app.synth()
    template_path = Path(assembly.directory) / assembly.get_stack_artifact(stack.artifact_id).template_file
    template_json = json.loads(template_path.read_text())
    yield Synth(
        stack=stack,
        template=Template.from_json(template_json),
        template_json=template_json,
        template_path=template_path,
        assembly_dir=Path(assembly.directory),
    )
