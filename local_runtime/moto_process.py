"""moto's server as `make run` and the tests start it, with the one DynamoDB guarantee moto leaves out under load.

DynamoDB applies each request atomically: of two conditional writes racing on one item, exactly one passes its
condition. moto's threaded server checks a condition and then writes, with nothing stopping another request in
between, so under load two writers can both pass (seen as an OData count one too high after concurrent writers
and a backfill). A lock around each DynamoDB request gives back the atomicity the code relies on; SQS long polls,
S3, streams and the rest stay concurrent.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_ONE_AT_A_TIME = threading.Lock()
_call_action = DynamoHandler.call_action


def _atomic_call_action(self: DynamoHandler) -> Any:
    with _ONE_AT_A_TIME:
        return _call_action(self)


DynamoHandler.call_action = _atomic_call_action  # type: ignore[method-assign]

if __name__ == "__main__":
    main(sys.argv[1:])
