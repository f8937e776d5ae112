"""Where moto is less strict than the AWS service it stands for, made strict before our code relies on it.

DynamoDB serializes the writes to an item and applies a ``TransactWriteItems`` all at once: a
conditional write sees the item as it is, and a concurrent reader sees all of a transaction or
none of it. moto (5.2) does neither across threads: a conditional update reads then writes without
a lock, and ``transact_write_items`` applies its items one by one, then, if one fails, restores a
deep copy of *every table it touched*, taken when it began, erasing whatever other threads wrote
meanwhile (and copying the whole table, ~0.2 s per transaction at a thousand items).

Our per-owner limits are exactly concurrent conditional transactions, so the twin must behave as
DynamoDB does. :func:`install` wraps the item operations of moto's DynamoDB backend in one lock
(per process: the tests' decorator mode and the twin's server mode alike) and replaces
``transact_write_items`` with the same checks and cancellation reasons, rolling back only the
items it wrote. No library offers this; the seam (the backend's method names and signatures) is
pinned by ``tests/workflow/test_lambda_runner_seam.py``.

Step Functions refuses ``SendTaskSuccess`` with a token whose task already closed (``TaskTimedOut``:
"the task associated with the token has already been closed"); moto (5.2) accepts a second success
for a token while its execution runs. The Replicate webhook route must cope with the refusal, so the
twin refuses too: :func:`install` makes moto's callback pool answer a token that already has an
outcome as a timed-out one, and its ``TaskTimedOut`` and ``TaskDoesNotExist`` become the 400s AWS
answers (moto 5.2 builds them without a message: a TypeError, a 500 that botocore retries five
times). And StopExecution ends a waiting ``.waitForTaskToken`` Task at once
(ABORTED), where moto (5.2) let the wait run to its TimeoutSeconds and then reported FAILED.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable
from typing import Any

_lock = threading.RLock()
_installed = False
#: The item operations of moto's DynamoDBBackend that run under the lock.
ITEM_OPERATIONS = ("get_item", "put_item", "update_item", "delete_item")


def _serialized(operation: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(operation)
    def run(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return operation(*args, **kwargs)

    return run


def _transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto's ``transact_write_items``, atomic under the lock, rolled back item by item."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    with _lock:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        touched: list[tuple[str, dict[str, Any], Any]] = []  # (table, key, the item before) to undo
        seen: set[tuple[str, str]] = set()
        errors: list[tuple[Any, Any, Any]] = []

        def undo() -> None:
            for table_name, key, before in reversed(touched):
                table = backend.get_table(table_name)
                hash_value, range_value = backend.get_keys_value(table, key)
                if before is None:
                    table.delete_item(hash_value, range_value)
                else:
                    table.put_item(before.to_json()["Attributes"])

        for item in transact_items:
            if len(item) > 1:
                raise TransactWriteSingleOpException
            original: dict[str, Any] | None = None
            try:
                op_type, op = next(iter(item.items()))
                if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                    raise ValueError("Unsupported transaction operation")
                table_name = op["TableName"]
                table = backend.get_table(table_name)
                if op_type == "Put":
                    attrs = op["Item"]
                    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = attrs[table.range_key_attr]
                else:
                    key = op["Key"]
                unique = (str(table_name), str(dict(sorted(key.items()))))
                if unique in seen:
                    raise MultipleTransactionsException()
                seen.add(unique)

                current = backend.get_item(table_name, key)
                condition = op.get("ConditionExpression")
                if condition is not None:
                    check = get_filter_expression(
                        condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                    )
                    if not check.expr(current):
                        if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                            original = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original)
                if op_type != "ConditionCheck":
                    touched.append((table_name, key, copy.deepcopy(current)))
                if op_type == "Put":
                    backend.put_item(table_name, op["Item"])
                elif op_type == "Delete":
                    backend.delete_item(table_name, key)
                elif op_type == "Update":
                    backend.update_item(
                        table_name,
                        key,
                        update_expression=op["UpdateExpression"],
                        expression_attribute_names=op.get("ExpressionAttributeNames"),
                        expression_attribute_values=op.get("ExpressionAttributeValues"),
                    )
                errors.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                undo()
                raise
            except ConditionalCheckFailed as error:
                errors.append(("ConditionalCheckFailed", str(error.message), original))
            except Exception as error:
                errors.append((type(error).__name__, str(error), original))
        if any(code is not None for code, _, _ in errors):
            undo()
            raise TransactionCanceledException(errors)


def install() -> None:
    """Make moto's DynamoDB as atomic as DynamoDB, in this process. Idempotent."""
    global _installed
    from moto.dynamodb.models import DynamoDBBackend

    with _lock:
        if _installed:
            return
        for name in ITEM_OPERATIONS:
            setattr(DynamoDBBackend, name, _serialized(getattr(DynamoDBBackend, name)))
        DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign,assignment]
        _close_callbacks_once()
        _task_token_errors()
        _installed = True


def _close_callbacks_once() -> None:
    """A task token can be answered once: a second SendTaskSuccess is ``TaskTimedOut`` (as AWS)."""
    from moto.stepfunctions.parser.asl.eval.callback.callback import (
        CallbackNotifyConsumerError,
        CallbackPoolManager,
    )

    original = CallbackPoolManager.notify

    from moto.stepfunctions.parser import api

    @functools.wraps(original)
    def notify(self: Any, callback_id: str, outcome: Any) -> bool:
        # moto's send_task_success maps every consumer error to TaskDoesNotExist (it tests the
        # wrapper, not the error it wraps, for CallbackConsumerTimeout): the closed token's answer
        # is raised here, as AWS gives it.
        with _lock:
            endpoint = self.get(callback_id)
            if endpoint is not None and endpoint.get_outcome() is not None:
                raise api.TaskTimedOut()  # type: ignore[call-arg]  # answered once already (its default: below)
            try:
                return bool(original(self, callback_id, outcome))
            except CallbackNotifyConsumerError as error:
                raise api.TaskTimedOut() from error  # type: ignore[call-arg]  # its wait ended (timed out, or stopped)

    CallbackPoolManager.notify = notify  # type: ignore[method-assign]

    from moto.stepfunctions.parser.asl.eval.environment import Environment

    original_stop = Environment.set_stop

    @functools.wraps(original_stop)
    def set_stop(self: Any, stop_date: Any, cause: Any, error: Any) -> None:
        original_stop(self, stop_date=stop_date, cause=cause, error=error)
        for endpoint in list(self.callback_pool_manager._pool.values()):
            endpoint.interrupt_all()  # the wait returns now; the stopped program records ABORTED

    Environment.set_stop = set_stop  # type: ignore[method-assign]

    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    original_error = Environment.set_error

    @functools.wraps(original_error)
    def set_error(self: Any, error: Any) -> None:
        if isinstance(self.program_state(), ProgramStopped):
            return  # stopped is final: the interrupted wait's failure does not make it FAILED
        original_error(self, error=error)

    Environment.set_error = set_error  # type: ignore[method-assign]


def _task_token_errors() -> None:
    """``TaskTimedOut`` and ``TaskDoesNotExist`` as AWS answers them (400, their own error code)."""
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.parser import api

    messages = {
        "TaskTimedOut": "Task Timed Out: 'Provided task has already been closed'",
        "TaskDoesNotExist": "Task Does Not Exist: 'Provided task does not exist anymore'",
    }
    for name, message in messages.items():
        cls = getattr(api, name)

        def __init__(self: Any, message: str = message, _code: str = name) -> None:
            AWSError.__init__(self, message, _code, 400)

        cls.__init__ = __init__
