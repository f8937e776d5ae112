#!/usr/bin/env python3
"""The CDK app: one stack, configured by ``cdk.json``'s context.

Run by the CDK CLI (``npx aws-cdk@2 deploy``, see ``cdk.json``), or directly by ``make synth``,
which skips bundling. Either way it fails on any unsuppressed cdk-nag error and on any cfn-lint
finding (``infra.validation``). No AWS call, no network (bundling, when on, uses PyPI).
"""

from __future__ import annotations

import os
import sys

# The jsii runtime prints a banner for Node versions it no longer supports (this machine: 20).
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

from infra import build_app
from infra.validation import synthesis_errors


def main() -> int:
    app, stack = build_app()
    errors = synthesis_errors(app.synth(), stack)
    for error in errors:
        print(f"[error] {error}", file=sys.stderr)
    if errors:
        print(f"{len(errors)} error(s): synthesis rejected", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
