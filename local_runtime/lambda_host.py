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
from types import ModuleType
from typing import TYPE_CHECKING, Any

from local_runtime.template import ROOT, FunctionSpec

if TYPE_CHECKING:
    from sf_edge.settings import CompositionRoot

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
    """Import each function's handler and compose it from its own settings: the process environment (local
    secrets, AWS_ENDPOINT_URL) under the template's variables for that function, as its own container would see.
    A bad setting stops the start here, naming it."""
    add_layer_to_path()
    functions = {}
    for spec in specs:
        if str(spec.code_dir) not in sys.path:
            sys.path.insert(0, str(spec.code_dir))
        # Powertools reads its own settings (service name, log level) from the environment when the module loads.
        os.environ.update({k: v for k, v in spec.environment.items() if k.startswith("POWERTOOLS_")})
        module = importlib.import_module(spec.module)
        root = composition_root(module)
        root.configure(root.settings_type.from_env({**os.environ, **spec.environment}))
        functions[spec.logical_id] = LocalFunction(spec, getattr(module, spec.handler))
    return functions


def composition_root(module: ModuleType) -> CompositionRoot[Any, Any]:
    """The handler module's composition root (each function has exactly one)."""
    from sf_edge.settings import CompositionRoot

    roots = [value for value in vars(module).values() if isinstance(value, CompositionRoot)]
    if len(roots) != 1:
        raise RuntimeError(f"{module.__name__} must declare one CompositionRoot, found {len(roots)}")
    return roots[0]
