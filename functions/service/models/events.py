"""Events other AWS services send us: EventBridge's Step Functions execution status changes.

The event carries the execution's input (references only: see ``service.models.workflow``) and,
for a failed execution, its error and cause; we read the name and the status.
"""

from __future__ import annotations

from typing import Any, Literal

from service.models.base import Model

#: EventBridge's ``detail-type`` for Step Functions executions, and the statuses that mean an
#: execution ended without the workflow's help (or after it failed a task).
DETAIL_TYPE = "Step Functions Execution Status Change"
SOURCE = "aws.states"
ENDED_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")


class ExecutionStatusChange(Model):
    execution_arn: str
    state_machine_arn: str
    name: str
    status: Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]

    @classmethod
    def of(cls, event: Any) -> ExecutionStatusChange:
        """From a powertools ``EventBridgeEvent`` (or anything with ``detail_type`` and ``detail``)."""
        if event.detail_type != DETAIL_TYPE:
            raise ValueError(f"Not an execution status change: {event.detail_type!r}")
        detail = event.detail
        return cls(
            execution_arn=detail["executionArn"],
            state_machine_arn=detail["stateMachineArn"],
            name=detail["name"],
            status=detail["status"],
        )
