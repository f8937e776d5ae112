"""Step Functions: start and describe the executions whose ARNs are task ids."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from service.adapters import aws


@dataclass(frozen=True)
class ExecutionStatus:
    status: str  # RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE; MISSING if none
    error: str | None = None
    cause: str | None = None


class Executions:
    def __init__(self, state_machine_arn: str, client: Any = None) -> None:
        self.state_machine_arn = state_machine_arn
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("stepfunctions")
        return self._client

    @property
    def execution_prefix(self) -> str:
        """``arn:…:execution:<machine>:`` — every task id of ours starts with it."""
        return self.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":"

    def arn_for(self, name: str) -> str:
        """The execution ARN a name will get: known before StartExecution, so the record can come first."""
        return self.execution_prefix + name

    def name_from_arn(self, arn: str) -> str | None:
        """The execution name if ``arn`` is one of this state machine's executions, else None."""
        return arn[len(self.execution_prefix) :] if arn.startswith(self.execution_prefix) else None

    def start(self, name: str, payload: dict[str, Any]) -> str:
        response = self.client.start_execution(
            stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(payload)
        )
        return str(response["executionArn"])

    def stop(self, arn: str, *, error: str, cause: str) -> bool:
        """StopExecution (the execution then ends ABORTED). False if it no longer runs or exists."""
        try:
            self.client.stop_execution(executionArn=arn, error=error, cause=cause)
        except ClientError as failure:
            if failure.response["Error"]["Code"] in ("ExecutionDoesNotExist", "ExecutionNotRunning"):
                return False
            raise
        return True

    def describe(self, arn: str) -> ExecutionStatus:
        try:
            response = self.client.describe_execution(executionArn=arn)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
                return ExecutionStatus("MISSING")
            raise
        return ExecutionStatus(response["status"], response.get("error"), response.get("cause"))
