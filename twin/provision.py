"""Creates the service's resources in moto from the catalog and the ASL file.

The tests and the local twin both provision through here, from the same declarations CDK
deploys (``service.catalog`` and ``statemachines/``), so nothing about the functions, tables
or workflow is written a second time.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from service.adapters import aws
from service.catalog import FUNCTIONS, TABLES, WorkflowTiming, workflow_substitutions
from twin import workflow_definition

LAMBDA_RUNTIME = "python3.12"
ACCOUNT_ROLE = "videogen-local-role"


@dataclass(frozen=True)
class Names:
    """Resource names for one deployment (a stage)."""

    prefix: str = "videogen"

    @property
    def tasks_table(self) -> str:
        return f"{self.prefix}-tasks"

    @property
    def tokens_table(self) -> str:
        return f"{self.prefix}-tokens"

    @property
    def media_bucket(self) -> str:
        return f"{self.prefix}-media"

    @property
    def replicate_secret(self) -> str:
        return f"{self.prefix}/replicate-api-token"

    @property
    def state_machine(self) -> str:
        return f"{self.prefix}-video-generation"

    def function(self, name: str) -> str:
        return f"{self.prefix}-{name.replace('_', '-')}"


@dataclass(frozen=True)
class Deployment:
    names: Names
    state_machine_arn: str
    function_arns: dict[str, str]

    def environment(self, replicate_base_url: str | None = None) -> dict[str, str]:
        """The settings environment (``service.settings.Settings``) for this deployment."""
        env = {
            "VIDEOGEN_TASKS_TABLE": self.names.tasks_table,
            "VIDEOGEN_TOKENS_TABLE": self.names.tokens_table,
            "VIDEOGEN_MEDIA_BUCKET": self.names.media_bucket,
            "VIDEOGEN_STATE_MACHINE_ARN": self.state_machine_arn,
            "VIDEOGEN_REPLICATE_SECRET_NAME": self.names.replicate_secret,
        }
        if replicate_base_url:
            env["VIDEOGEN_REPLICATE_BASE_URL"] = replicate_base_url
        return env


def _placeholder_zip() -> bytes:
    """moto wants code; the in-process runner imports the real handlers instead."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "Handlers run in-process: see twin/lambda_runner.py\n")
    return buffer.getvalue()


def provision(
    clients: Callable[[str], Any] = aws.client,
    *,
    names: Names | None = None,
    timing: WorkflowTiming | None = None,
    replicate_api_token: str = "local-replicate-token",
) -> Deployment:
    """Tables, bucket, secret, role, functions and the state machine, wherever ``clients`` point."""
    names = names or Names()
    timing = timing or WorkflowTiming()
    dynamodb = clients("dynamodb")
    table_names = {"tasks": names.tasks_table, "tokens": names.tokens_table}
    for table in TABLES:
        dynamodb.create_table(
            TableName=table_names[table.name],
            KeySchema=[{"AttributeName": table.partition_key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": table.partition_key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        if table.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=table_names[table.name],
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )
    clients("s3").create_bucket(Bucket=names.media_bucket)
    clients("secretsmanager").create_secret(Name=names.replicate_secret, SecretString=replicate_api_token)

    iam = clients("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
             "Action": "sts:AssumeRole"}
        ],
    }  # fmt: skip
    role_arn = iam.create_role(
        RoleName=f"{names.prefix}-local-role", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]

    lambda_client = clients("lambda")
    code = _placeholder_zip()
    function_arns = {}
    for spec in FUNCTIONS:
        created = lambda_client.create_function(
            FunctionName=names.function(spec.name),
            Runtime=LAMBDA_RUNTIME,
            Role=role_arn,
            Handler=spec.handler,
            Code={"ZipFile": code},
            Description=spec.description,
            Timeout=spec.timeout_s,
            MemorySize=spec.memory_mb,
        )
        function_arns[spec.name] = created["FunctionArn"]

    definition = workflow_definition.render(workflow_substitutions(function_arns, timing))
    machine = clients("stepfunctions").create_state_machine(
        name=names.state_machine, definition=definition, roleArn=role_arn, type="STANDARD"
    )
    return Deployment(names=names, state_machine_arn=machine["stateMachineArn"], function_arns=function_arns)
