"""The CDK app of videogen: one stack composed of one construct per capability.

``build_app`` is the single entry point: ``app.py`` (CDK CLI, ``make synth``), ``make package``
(``infra.package``) and the infra tests synthesize through it, with cdk-nag's AWS Solutions checks
applied. The CDK is imported only there, so the modules that need none (``infra.layer_specs``,
``infra.lock``, ``infra.bytecode``) stay quick to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_cdk import App

    from infra.stack import VideoGenStack

#: CDK context that makes synthesis skip asset bundling (no pip, no network).
SKIP_BUNDLING: dict[str, list[str]] = {"aws:cdk:bundling-stacks": []}


def build_app(context: dict[str, Any] | None = None, **app_props: Any) -> tuple[App, VideoGenStack]:
    """``cdk.json``'s context, overridden by ``context``, then by the CDK CLI's (``-c``)."""
    from aws_cdk import App, Aspects
    from cdk_nag import AwsSolutionsChecks

    from infra.config import StackConfig, cdk_json_context
    from infra.stack import VideoGenStack

    app = App(context={**cdk_json_context(), **(context or {})}, **app_props)
    config = StackConfig.from_node(app.node)
    stack = VideoGenStack(
        app,
        config.stack_name,
        config=config,
        description=f"videogen ({config.stage}): asynchronous video generation API",
    )
    Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return app, stack
