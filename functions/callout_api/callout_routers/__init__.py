"""One module per callout operation, each exposing `router`; callout_api includes them all under /api/v1."""

from __future__ import annotations

import os
from functools import cache

from sf_edge.callouts.order_desk import OrderDesk


@cache
def desk() -> OrderDesk:
    """The order system, built on first use from the tables template.yaml names."""
    from sf_edge.aws.order_tables import order_desk_from_env

    return order_desk_from_env()


def idempotency_table() -> str:
    return os.environ.get("IDEMPOTENCY_TABLE", "IdempotencyTable")
