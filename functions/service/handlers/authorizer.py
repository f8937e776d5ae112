"""Token authorizer (API Gateway REST, TOKEN type): ``Authorization: Token <token>``.

Unknown, expired or malformed tokens raise ``Unauthorized``, which API Gateway turns into a 401.
The allow policy covers every route of the stage, because API Gateway caches it per token (for
``authorizer_cache_seconds``: a revoked token stops working within that time). It carries the
owner's API key as ``usageIdentifierKey``: the stage meters and throttles each owner by its key
(usage plan), so no owner can use up the stage's throttle for the others.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerResponse,
    APIGatewayAuthorizerTokenEvent,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from service.adapters.tokens_table import TokensTable
from service.domain.auth import hash_token, token_from_header, token_usable
from service.observability import logger
from service.settings import TokensSettings, load


@cache
def _tokens() -> TokensTable:
    return TokensTable(load(TokensSettings).tokens_table)


def authorize(header: str | None, method_arn: str) -> dict[str, Any]:
    token = token_from_header(header)
    grant = _tokens().grant(hash_token(token)) if token else None
    if grant is None or not token_usable(grant.expires_at, time.time()):
        logger.info("Rejected a missing, malformed, unknown or expired token")
        raise Exception("Unauthorized")  # the exact message API Gateway maps to 401
    owner = grant.owner
    arn = APIGatewayAuthorizerTokenEvent({"methodArn": method_arn}).parsed_arn
    policy = APIGatewayAuthorizerResponse(
        principal_id=owner,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        context={"owner": owner},
        usage_identifier_key=grant.api_key,
    )
    policy.allow_all_routes()
    return policy.asdict()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    load(TokensSettings)  # cold start: a missing variable fails here, by name
    auth_event = APIGatewayAuthorizerTokenEvent(event)
    return authorize(auth_event.get("authorizationToken"), auth_event.method_arn)
