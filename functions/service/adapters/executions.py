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


#: SendTaskSuccess's refusals of a token whose wait is over (timed out, woken already, execution
#: ended) or that is not one: the wake-up comes too late, which is no error.
STALE_TOKEN_ERRORS = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})


class WorkflowWake:
    """Ends a workflow's wait early: SendTaskSuccess with the wait's task token (the Replicate
    webhook route, the only function granted it)."""

    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("stepfunctions")
        return self._client

    def wake(self, token: str, output: dict[str, Any]) -> bool:
        """True if a waiting workflow was woken; False if its wait was already over."""
        try:
            self.client.send_task_success(taskToken=token, output=json.dumps(output))
        except ClientError as error:
            if error.response["Error"]["Code"] in STALE_TOKEN_ERRORS:
                return False
            raise
        return True
