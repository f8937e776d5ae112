"""The offline checks every synthesis must pass (``make synth``, ``make package``, the CDK CLI's
runs of ``app.py``): no cdk-nag finding without a suppression, no cfn-lint error.

cfn-lint checks the template against CloudFormation's resource specification in the regions we
deploy to; W3005 (a ``DependsOn`` next to a ``GetAtt``) is how CDK orders roles before functions,
and harmless.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Regions whose resource specification the template must satisfy.
LINT_REGIONS = ("us-east-1", "eu-west-1")
IGNORED_LINT_RULES = frozenset({"W3005"})


def lint_template(template: Path) -> list[str]:
    """cfn-lint's findings (errors and warnings), except the ignored rules."""
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(template, config=ManualArgs(regions=list(LINT_REGIONS)))
    return [
        f"{m.rule.id} {m.message} ({m.path_string})" for m in matches if m.rule.id not in IGNORED_LINT_RULES
    ]


def synthesis_errors(assembly: Any, stack: Any) -> list[str]:
    """cdk-nag's (and CDK's) error annotations, then cfn-lint's findings, of a synthesized stack."""
    from aws_cdk.cx_api import SynthesisMessageLevel

    artifact = assembly.get_stack_artifact(stack.artifact_id)
    errors = [f"{m.id}: {m.entry.data}" for m in artifact.messages if m.level == SynthesisMessageLevel.ERROR]
    errors += [
        f"cfn-lint {finding}" for finding in lint_template(Path(assembly.directory) / artifact.template_file)
    ]
    return errors
