"""Function handlers imported as Lambda would run them: one invocation at a time per function."""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local_runtime.template import ROOT, FunctionSpec

LAYER_DIR = ROOT / "layers" / "sf_edge"


@dataclass
class LocalContext:
    """The parts of the Lambda context that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 1024
    timeout_seconds: int = 15
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalFunction:
    """A template function's handler; a lock keeps invocations serial, like one Lambda execution environment."""

    def __init__(self, spec: FunctionSpec, handler: Callable[[dict[str, Any], Any], dict[str, Any]]) -> None:
        self.spec = spec
        self.handler = handler
        self._lock = threading.Lock()

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """Run the handler on one event."""
        with self._lock:
            return self.handler(event, LocalContext(self.spec.logical_id))


def add_layer_to_path() -> None:
    """Make the layer's package importable, as /opt/python is on Lambda."""
    if str(LAYER_DIR) not in sys.path:
        sys.path.insert(0, str(LAYER_DIR))


def load_functions(specs: list[FunctionSpec]) -> dict[str, LocalFunction]:
    """Import each function's handler with its template environment set, as its own container would."""
    add_layer_to_path()
    functions = {}
    for spec in specs:
        if str(spec.code_dir) not in sys.path:
            sys.path.insert(0, str(spec.code_dir))
        os.environ.update(spec.environment)
        module = importlib.import_module(spec.module)
        functions[spec.logical_id] = LocalFunction(spec, getattr(module, spec.handler))
    return functions
