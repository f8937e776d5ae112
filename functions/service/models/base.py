"""The base of every model: validators and serializers are built at first use, not at import.

A function imports more models than it uses (status never validates a job, submit never reads a
result), and pydantic builds each class's validator when the class is created unless told to wait.
Waiting makes the classes a function never uses free, and keeps the cold start's import short
(``make bench``: packaged cold imports). The first validation of a model builds it, once per process.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(defer_build=True)
