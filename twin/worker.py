"""One Lambda execution environment of the twin: ``python -m twin.worker HANDLER FD``.

Started by ``twin.lambda_runner.FunctionPool`` with the function's environment. Like the Lambda
runtime it imports the handler once (the init phase: a failure is reported for the
environment), then serves invocations one at a time over the connection on file descriptor FD:
``{"event", "context"}`` in, ``{"payload", "errored"}`` out. It ends when the connection closes
(the twin stopped or died), so no worker outlives its twin.
"""

from __future__ import annotations

import json
import signal
import sys
import traceback
from multiprocessing.connection import Connection
from typing import Any

from twin.lambda_runner import LambdaContext, call_handler, resolve


def main(argv: list[str]) -> int:
    handler_path, fd = argv[0], int(argv[1])
    # Ctrl-C in the twin's terminal reaches its whole process group: the twin decides when its
    # environments end (they end when their connection closes), not the keyboard.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    connection = Connection(fd)
    try:
        handler = resolve(handler_path)
    except Exception as error:  # Lambda reports an init failure on the invocation that hit it
        connection.send_bytes(
            json.dumps(
                {
                    "ready": False,
                    "errorType": "Runtime.ImportModuleError",
                    "errorMessage": f"Unable to import module '{handler_path}': {error}",
                    "stackTrace": traceback.format_exception(error)[-5:],
                }
            ).encode()
        )
        return 1
    connection.send_bytes(b'{"ready": true}')
    while True:
        try:
            request: dict[str, Any] = json.loads(connection.recv_bytes())
        except (EOFError, OSError):
            return 0
        context = LambdaContext(**request["context"])
        payload, errored = call_handler(handler, request["event"], context)
        connection.send_bytes(json.dumps({"payload": payload, "errored": errored}).encode())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
