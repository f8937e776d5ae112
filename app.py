#!/usr/bin/env python3
"""The CDK app: one stack, configured by ``cdk.json``'s context.

Run by the CDK CLI (``npx aws-cdk@2 deploy``, see ``cdk.json``), or directly by ``make synth``,
which skips bundling and fails on any unsuppressed cdk-nag error. No AWS call, no network.
"""

from __future__ import annotations

import os
import sys

# The jsii runtime prints a banner for Node versions it no longer supports (this machine: 20).
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

from aws_cdk.cx_api import SynthesisMessageLevel

from infra import build_app


def main() -> int:
    app, stack = build_app()
    assembly = app.synth()
    messages = assembly.get_stack_artifact(stack.artifact_id).messages
    errors = [m for m in messages if m.level == SynthesisMessageLevel.ERROR]
    for message in errors:  # cdk-nag findings without a suppression, among others
        print(f"[error] {message.id}: {message.entry.data}", file=sys.stderr)
    if errors:
        print(f"{len(errors)} error(s): synthesis rejected", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
