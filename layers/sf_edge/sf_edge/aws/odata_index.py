"""Keeps the OData index table (counts, `$search` postings) and the rows' index attributes in step with the entity
tables, whoever writes them: the feed, the worker, a bulk load straight into DynamoDB.

`apply` takes one row's state after a change (its stream record's new image, or None when deleted) and moves the
index to it:
1. the row gets the index attributes its declared orders need, if it lacks them (so rows loaded by another
   writer appear in every list view); the update is conditional on the row still holding the values they were
   computed from, so a newer write is never overwritten;
2. the row's stored index state (its counted values and words) is compared with the new state; the postings of
   words it gained are put and of words it lost deleted (idempotent), then the state and the counters move
   together in one transaction conditional on the state's version: a redelivered record finds nothing to do,
   and two writers of the same row cannot both count it.
Counts therefore stay exact under redelivery, replays and concurrent writers; `backfill` reads a table and applies
every row (after a bulk load made with the stream off, or to build the index of an existing table); `rebuild`
writes the whole index of a table in bulk, for an initial load into a quiet table (`make run`'s seed).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sf_edge.aws import AdapterError
from sf_edge.aws.faults import CONDITION_FAILED, cancellation_reasons, conditional
from sf_edge.domain_errors import ConditionNotMet
from sf_edge.odata.indexing import (
    IndexState,
    counter_item_key,
    index_attributes,
    posting_item_key,
    row_key,
    state_item_key,
)
from sf_edge.odata.schema import EntitySet

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

MAX_ATTEMPTS = 8


class IndexConflict(AdapterError):  # noqa: N818 - an outcome worth retrying, not a bug
    """The row's index state kept changing under us; the stream retries the record."""


MAX_TRANSACTION_ACTIONS = 100  # TransactWriteItems' limit


@dataclass(frozen=True)
class Batch:
    """What `apply_batch` did: rows (distinct), annotated, whose index state moved."""

    rows: int
    annotated: int
    changed: int


@dataclass(frozen=True)
class Applied:
    """What `apply` did for one row."""

    annotated: bool  # index attributes were added to the row
    changed: bool  # the index state, postings or counts moved


class IndexMaintainer:
    """Applies row changes to the index table (`index_table`) for entity sets stored in `tables` (set → table)."""

    def __init__(self, client: DynamoDBClient, index_table: str, tables: Mapping[str, str]) -> None:
        self.client = client
        self.index_table = index_table
        self.tables = dict(tables)

    # ---- one row -------------------------------------------------------------------------------------------------

    def apply(self, entity_set: EntitySet, key: dict[str, Any], image: dict[str, Any] | None) -> Applied:
        """Move the index to the row's state (`image` None: the row is gone)."""
        annotated = self._annotate(entity_set, image) if image is not None else False
        wanted = IndexState.of(entity_set, image) if image is not None else None
        keystring = row_key(entity_set, image or key)
        for attempt in range(MAX_ATTEMPTS):
            current, version = self._state(entity_set, keystring)
            if current == wanted:
                return Applied(annotated, False)
            self._postings(entity_set, keystring, current, wanted)
            if self._commit(entity_set, keystring, current, version, wanted):
                return Applied(annotated, True)
            time.sleep(min(0.5, 0.01 * 2**attempt))
        raise IndexConflict(f"{entity_set.name} {keystring}: index state kept changing")

    def _annotate(self, entity_set: EntitySet, image: dict[str, Any]) -> bool:
        wanted = index_attributes(entity_set, image)
        if all(_same(image.get(name), value) for name, value in wanted.items()):
            return False
        names = {f"#a{i}": name for i, name in enumerate(wanted)}
        values = {f":a{i}": _value(value) for i, value in enumerate(wanted.values())}
        conditions = [f"attribute_exists(#k{i})" for i in range(len(entity_set.key))]
        names |= {f"#k{i}": name for i, name in enumerate(entity_set.key)}
        for i, name in enumerate(entity_set.sorted_properties):
            names[f"#s{i}"] = name
            if image.get(name) is None:
                conditions.append(f"attribute_not_exists(#s{i})")
            else:
                values[f":s{i}"] = _value(image[name])
                conditions.append(f"#s{i} = :s{i}")
        try:
            conditional(
                self.client.update_item,
                TableName=self.tables[entity_set.name],
                Key={name: _value(image[name]) for name in entity_set.key},
                UpdateExpression="SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(wanted))),
                ConditionExpression=" AND ".join(conditions),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ConditionNotMet:
            return False  # changed or deleted since this image: its own record annotates the newer state
        return True

    def _state(self, entity_set: EntitySet, keystring: str) -> tuple[IndexState | None, int | None]:
        item = self.client.get_item(
            TableName=self.index_table, Key=_item(state_item_key(entity_set, keystring)), ConsistentRead=True
        ).get("Item")
        return _parsed_state(entity_set, item)

    def _postings(
        self, entity_set: EntitySet, keystring: str, current: IndexState | None, wanted: IndexState | None
    ) -> None:
        self._batch_write(_posting_requests(entity_set, keystring, current, wanted))

    def _commit(
        self,
        entity_set: EntitySet,
        keystring: str,
        current: IndexState | None,
        version: int | None,
        wanted: IndexState | None,
    ) -> bool:
        actions = [self._state_action(entity_set, keystring, version, wanted)]
        actions += [
            self._counter_action(entity_set, name, encoded, delta)
            for (name, encoded), delta in _deltas(current, wanted).items()
        ]
        return self._transact(actions)

    def _state_action(
        self, entity_set: EntitySet, keystring: str, version: int | None, wanted: IndexState | None
    ) -> dict[str, Any]:
        """The row's state moved to `wanted` (deleted when None), if it is still at `version`."""
        state_key = _item(state_item_key(entity_set, keystring))
        if wanted is None:
            return {
                "Delete": {
                    "TableName": self.index_table,
                    "Key": state_key,
                    "ConditionExpression": "v = :v",
                    "ExpressionAttributeValues": {":v": {"N": str(version)}},
                }
            }
        item = state_key | {"v": {"N": str((version or 0) + 1)}}
        item |= _state_attributes(wanted)
        put: dict[str, Any] = {"TableName": self.index_table, "Item": item}
        if version is None:
            put["ConditionExpression"] = "attribute_not_exists(PK)"
        else:
            put |= {"ConditionExpression": "v = :v", "ExpressionAttributeValues": {":v": {"N": str(version)}}}
        return {"Put": put}

    def _counter_action(self, entity_set: EntitySet, name: str, encoded: str, delta: int) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self.index_table,
                "Key": _item(counter_item_key(entity_set, name, encoded)),
                "UpdateExpression": "ADD n :d",
                "ExpressionAttributeValues": {":d": {"N": str(delta)}},
            }
        }

    def _transact(self, actions: list[dict[str, Any]]) -> bool:
        """False when a state's condition failed (another writer moved it); other failures raise."""
        try:
            self.client.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
        except self.client.exceptions.ClientError as exc:
            if CONDITION_FAILED in (cancellation_reasons(exc) or []):
                return False
            raise
        return True

    # ---- a stream batch -------------------------------------------------------------------------------------------

    def apply_batch(self, changes: Sequence[tuple[EntitySet, dict[str, Any], dict[str, Any] | None]]) -> Batch | None:
        """Move the index to the state of every row a stream batch changed, in a few calls rather than about six a
        row: the last image of each row (what `apply` of each record in turn ends at), its state read with the
        others' (BatchGetItem), postings written together, and states committed with their counts summed in
        transactions of up to 100 actions (counts still move only with their states). None when a state moved
        under it (another writer, a backfill): the caller then applies each record with `apply`, which ends at the
        same state (whatever this pass committed is already there)."""
        last: dict[tuple[str, str], tuple[EntitySet, dict[str, Any] | None]] = {}
        for entity_set, key, image in changes:
            last[(entity_set.name, row_key(entity_set, image or key))] = (entity_set, image)
        annotated = sum(
            1 for entity_set, image in last.values() if image is not None and self._annotate(entity_set, image)
        )
        states = self._states([(entity_set, k[1]) for k, (entity_set, _) in last.items()])
        moves: list[Move] = []
        for k, (entity_set, image) in last.items():
            wanted = IndexState.of(entity_set, image) if image is not None else None
            current, version = states.get(k, (None, None))
            if current != wanted:
                moves.append((entity_set, k[1], current, version, wanted))
        self._batch_write([r for move in moves for r in _posting_requests(move[0], move[1], move[2], move[4])])
        for chunk in _transactions(moves):
            if not self._commit_many(chunk):
                return None
        return Batch(rows=len(last), annotated=annotated, changed=len(moves))

    def _states(self, keys: list[tuple[EntitySet, str]]) -> dict[tuple[str, str], tuple[IndexState | None, int | None]]:
        """The index states of many rows, read together (consistently, as `_state` reads one)."""
        wanted: dict[tuple[str, str], tuple[EntitySet, str]] = {}
        for entity_set, keystring in keys:
            item_key = state_item_key(entity_set, keystring)
            wanted[(item_key["PK"], item_key["SK"])] = (entity_set, keystring)
        found: dict[tuple[str, str], tuple[IndexState | None, int | None]] = {}
        pending = [_item({"PK": pk, "SK": sk}) for pk, sk in wanted]
        for start in range(0, len(pending), 100):
            request: Any = {self.index_table: {"Keys": pending[start : start + 100], "ConsistentRead": True}}
            attempt = 0
            while request:
                response = self.client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.index_table, []):
                    entity_set, keystring = wanted[(item["PK"]["S"], item["SK"]["S"])]
                    found[(entity_set.name, keystring)] = _parsed_state(entity_set, item)
                request = response.get("UnprocessedKeys") or None
                if request:
                    attempt += 1
                    time.sleep(min(1.0, 0.02 * 2**attempt))
        return found

    def _commit_many(self, moves: list[Move]) -> bool:
        """Commit several rows' states (each conditional on its version) and their summed counts, atomically."""
        actions = [self._state_action(entity_set, k, version, wanted) for entity_set, k, _, version, wanted in moves]
        deltas: Counter[tuple[str, str, str]] = Counter()
        for entity_set, _, current, _, wanted in moves:
            for (name, encoded), delta in _deltas(current, wanted).items():
                deltas[(entity_set.name, name, encoded)] += delta
        sets = {entity_set.name: entity_set for entity_set, *_ in moves}
        actions += [
            self._counter_action(sets[set_name], name, encoded, delta)
            for (set_name, name, encoded), delta in deltas.items()
            if delta
        ]
        return self._transact(actions)

    # ---- whole tables --------------------------------------------------------------------------------------------

    def backfill(self, entity_set: EntitySet, *, segment: int = 0, segments: int = 1) -> dict[str, int]:
        """Apply every row of the set's table (one Scan segment of it): safe while the stream runs."""
        outcome: Counter[str] = Counter()
        for row in self._scan(entity_set, segment, segments):
            done = self.apply(entity_set, {k: row[k] for k in entity_set.key}, row)
            outcome["rows"] += 1
            outcome["annotated"] += done.annotated
            outcome["changed"] += done.changed
        return dict(outcome)

    def rebuild(self, entity_set: EntitySet, rows: Iterable[dict[str, Any]]) -> int:
        """Write the whole index of a set whose rows (already annotated) were just loaded into a quiet table: states,
        postings and counters in bulk. Not safe beside other writers; `backfill` is."""
        requests: list[dict[str, Any]] = []
        counts: Counter[tuple[str, str]] = Counter()
        total = 0
        for row in rows:
            total += 1
            state = IndexState.of(entity_set, row)
            keystring = row_key(entity_set, row)
            item = _item(state_item_key(entity_set, keystring)) | {"v": {"N": "1"}} | _state_attributes(state)
            requests.append({"PutRequest": {"Item": item}})
            requests += [
                {"PutRequest": {"Item": _item(posting_item_key(entity_set, word, keystring))}} for word in state.tokens
            ]
            counts.update(state.counted)
        self._batch_write(requests)
        counters = [(("", ""), total), *counts.items()]
        self._batch_write(
            [
                {"PutRequest": {"Item": _item(counter_item_key(entity_set, name, encoded)) | {"n": {"N": str(n)}}}}
                for (name, encoded), n in counters
            ]
        )
        return total

    def _scan(self, entity_set: EntitySet, segment: int, segments: int) -> Iterator[dict[str, Any]]:
        arguments: dict[str, Any] = {"TableName": self.tables[entity_set.name], "ConsistentRead": True}
        if segments > 1:
            arguments |= {"Segment": segment, "TotalSegments": segments}
        while True:
            response = self.client.scan(**arguments)
            yield from (plain_item(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return
            arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        for start in range(0, len(requests), 25):
            pending: Any = {self.index_table: requests[start : start + 25]}
            attempt = 0
            while pending:
                response = self.client.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or None
                if pending:
                    attempt += 1
                    time.sleep(min(1.0, 0.02 * 2**attempt))


Move = tuple[EntitySet, str, IndexState | None, int | None, IndexState | None]  # set, row key, from, version, to


def _transactions(moves: list[Move]) -> Iterator[list[Move]]:
    """The moves in groups whose state actions and distinct counters fit one transaction."""
    chunk: list[Move] = []
    counters: set[tuple[str, str, str]] = set()
    for move in moves:
        touched = {(move[0].name, name, encoded) for name, encoded in _deltas(move[2], move[4])}
        if chunk and len(chunk) + 1 + len(counters | touched) > MAX_TRANSACTION_ACTIONS:
            yield chunk
            chunk, counters = [], set()
        chunk.append(move)
        counters |= touched
    if chunk:
        yield chunk


def _posting_requests(
    entity_set: EntitySet, keystring: str, current: IndexState | None, wanted: IndexState | None
) -> list[dict[str, Any]]:
    """The postings a row's move adds and removes (BatchWriteItem requests)."""
    had = current.tokens if current else frozenset()
    has = wanted.tokens if wanted else frozenset()
    return [{"PutRequest": {"Item": _item(posting_item_key(entity_set, word, keystring))}} for word in has - had] + [
        {"DeleteRequest": {"Key": _item(posting_item_key(entity_set, word, keystring))}} for word in had - has
    ]


def _parsed_state(entity_set: EntitySet, item: Mapping[str, Any] | None) -> tuple[IndexState | None, int | None]:
    """A state item as the state it holds and its version (None, None: no state)."""
    if item is None:
        return None, None
    pairs = dict(pair.split(_PAIR, 1) for pair in item.get("c", {}).get("SS", []))
    counted = tuple((name, pairs[name]) for name in entity_set.counted if name in pairs)
    return IndexState(counted, frozenset(item.get("t", {}).get("SS", []))), int(item["v"]["N"])


def _deltas(current: IndexState | None, wanted: IndexState | None) -> dict[tuple[str, str], int]:
    """Counter moves from one state to another: ("", "") is the set's total, (property, value_key) per value."""
    deltas: Counter[tuple[str, str]] = Counter()
    if (current is None) != (wanted is None):
        deltas[("", "")] += 1 if wanted is not None else -1
    for pair in current.counted if current else ():
        deltas[pair] -= 1
    for pair in wanted.counted if wanted else ():
        deltas[pair] += 1
    return {pair: delta for pair, delta in deltas.items() if delta}


_PAIR = "\x1f"  # between a counted property and its value in the state item's string set


def _state_attributes(state: IndexState) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if state.counted:
        attributes["c"] = {"SS": [_PAIR.join(pair) for pair in state.counted]}
    if state.tokens:
        attributes["t"] = {"SS": sorted(state.tokens)}
    return attributes


def _same(stored: Any, value: Any) -> bool:
    if isinstance(stored, Decimal) and isinstance(value, int):
        return stored == value
    return bool(stored == value)


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float | Decimal):
        return {"N": str(value)}
    if value is None:
        return {"NULL": True}
    return {"S": str(value)}


def _item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _value(value) for name, value in values.items()}


def plain_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item (a stream image too) as plain values, numbers as Decimal."""
    from sf_edge.aws.odata_store import _plain

    return {name: _plain(value) for name, value in item.items()}
