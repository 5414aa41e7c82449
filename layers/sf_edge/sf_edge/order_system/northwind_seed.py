"""Load the Northwind sample data (one JSON array per table) into the order system's tables."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sf_edge.aws.item_table import ItemTable
from sf_edge.order_system.key_registry import KeyRegistry
from sf_edge.order_system.order_repository import ORDER_SEQUENCE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


def load_rows(data_dir: Path, entity_set: str) -> list[dict[str, Any]]:
    """Rows of one Northwind table, numbers as Decimal (what DynamoDB stores), nulls left out."""
    rows = json.loads((data_dir / f"{entity_set}.json").read_text(encoding="utf-8"), parse_float=Decimal)
    return [{k: v for k, v in row.items() if v is not None} for row in rows]


def seed(
    data_dir: Path,
    tables: dict[str, Table],
    keys: KeyRegistry,
    annotate: Callable[[str, dict[str, Any]], dict[str, Any]] = lambda _set, row: row,
) -> dict[str, int]:
    """Write every row of each entity set into its table (after `annotate(set, row)`, which may add attributes);
    return the row counts. Idempotent."""
    counts = {}
    for entity_set, table in tables.items():
        rows = load_rows(data_dir, entity_set)
        ItemTable(table).put_all(annotate(entity_set, row) for row in rows)
        counts[entity_set] = len(rows)
        if entity_set == "Orders" and rows:
            keys.ensure_sequence_at_least(ORDER_SEQUENCE, max(int(r["OrderID"]) for r in rows))
    return counts
