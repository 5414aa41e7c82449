"""Many items at once: strongly consistent BatchGetItem, and conditional writes committed 100 at a time with
TransactWriteItems (the bulk sync's merges: one round trip per hundred rows, each write still conditional on
the row as it was read).

A transaction is all or nothing: when some of its conditions fail (another writer got there first), DynamoDB
cancels it and says which. `write_conditionally` then hands those back to the caller (who reads them again and
takes its one-row path) and commits the others in a new transaction, so one conflict never holds back a hundred
rows. Items a batch read leaves unprocessed, and transactions refused for load or a conflicting transaction,
are tried again with back-off.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sf_edge.aws.faults import CONDITION_FAILED, cancellation_reasons

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

MAX_BATCH_GET = 100
MAX_TRANSACTION = 100
_ATTEMPTS = 8
# Cancellation reasons that a later attempt can clear (load, another transaction on the same item).
_TRANSIENT = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
)


def get_many(table: Table, keys: Sequence[Mapping[str, Any]], *, consistent: bool = True) -> list[dict[str, Any]]:
    """The items with these keys (read consistently unless told not to; absent ones left out), 100 keys a call. The
    table's client is the resource's, which takes and answers Python values."""
    client = table.meta.client
    found: list[dict[str, Any]] = []
    unique = list({tuple(sorted(k.items())): k for k in keys}.values())
    for start in range(0, len(unique), MAX_BATCH_GET):
        pending: dict[str, Any] = {
            table.name: {
                "Keys": list(unique[start : start + MAX_BATCH_GET]),
                "ConsistentRead": consistent,
            }
        }
        for attempt in range(_ATTEMPTS):
            response = client.batch_get_item(RequestItems=pending)
            for item in response.get("Responses", {}).get(table.name, []):
                found.append(dict(item))
            pending = dict(response.get("UnprocessedKeys") or {})
            if not pending:
                break
            _pause(attempt)
        else:
            raise RuntimeError(f"BatchGetItem on {table.name} left keys unprocessed after {_ATTEMPTS} attempts")
    return found


def write_conditionally(table: Table, units: Sequence[Sequence[Mapping[str, Any]]]) -> set[int]:
    """Commit units of actions (each action `{"Put" | "Update" | "Delete": {...}}` as TransactWriteItems takes
    it, in the resource's Python types, on `table` unless it names another `TableName`); a unit's actions land
    together or not at all (a claim and the Order it claims), up to 100 actions a transaction. Return the indexes
    of the units one of whose conditions failed: nothing of them was written. No two actions may touch one item."""
    from botocore.exceptions import ClientError

    client = table.meta.client
    failed: set[int] = set()
    for chunk in _chunks(units):
        waiting = chunk
        attempt = 0
        while waiting:
            items = [_wire(action, table.name) for i in waiting for action in units[i]]
            try:
                client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
                break
            except ClientError as refused:
                reasons = cancellation_reasons(refused)
                if reasons is None:
                    raise
            if len(reasons) != len(items):
                raise RuntimeError(f"a cancelled transaction on {table.name} gave {len(reasons)} reasons")
            owners = [i for i in waiting for _ in units[i]]
            conflicted = {i for i, code in zip(owners, reasons, strict=True) if code == CONDITION_FAILED}
            unknown = {c for c in reasons if c not in ("None", CONDITION_FAILED) and c not in _TRANSIENT}
            if unknown:
                raise RuntimeError(f"a transaction on {table.name} was cancelled: {sorted(unknown)}")
            failed |= conflicted
            if conflicted:
                waiting = [i for i in waiting if i not in conflicted]
                continue
            attempt += 1  # cancelled for load or a conflicting transaction: the same again, later
            if attempt >= _ATTEMPTS:
                raise RuntimeError(f"transactions on {table.name} kept being cancelled: {sorted(set(reasons))}")
            _pause(attempt)
    return failed


def _chunks(units: Sequence[Sequence[Any]]) -> list[list[int]]:
    """Unit indexes packed into transactions of at most MAX_TRANSACTION actions."""
    chunks: list[list[int]] = [[]]
    size = 0
    for index, unit in enumerate(units):
        if not 0 < len(unit) <= MAX_TRANSACTION:
            raise ValueError(f"a unit holds 1 to {MAX_TRANSACTION} actions, not {len(unit)}")
        if size + len(unit) > MAX_TRANSACTION:
            chunks.append([])
            size = 0
        chunks[-1].append(index)
        size += len(unit)
    return [c for c in chunks if c]


def _wire(action: Mapping[str, Any], table_name: str) -> dict[str, Any]:
    ((kind, body),) = action.items()
    return {kind: {"TableName": table_name, **body}}


def _pause(attempt: int) -> None:
    time.sleep(random.uniform(0, min(1.0, 0.05 * 2**attempt)))  # noqa: S311 - jitter, not a secret
