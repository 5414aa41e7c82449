"""DynamoDB for the OData feeds: the reads a plan asks for, and conditional writes that keep index attributes.

Reads go through the low-level client (thread-safe, and its items are turned into rows here, typed by the
declarations, at a fraction of boto3's deserializer cost). Every call's items read (ScannedCount: what DynamoDB
bills, whatever a FilterExpression keeps) and the time the request waited on it are added to the request's
`ReadStats`. Several partitions of a sorted index are queried concurrently; so are the segments of a parallel Scan.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from sf_edge.aws.faults import conditional
from sf_edge.aws.update_expressions import set_or_remove
from sf_edge.domain_errors import ConditionNotMet, Conflict, NotFound, PreconditionFailed
from sf_edge.odata.engine import Limit, ReadStats
from sf_edge.odata.indexing import (
    SEP,
    count_item_key,
    index_attribute_changes,
    index_attributes,
    posting_partition,
)
from sf_edge.odata.planner import IndexRead
from sf_edge.odata.schema import BUCKET, EntitySet
from sf_edge.odata.tree import (
    FLIPPED,
    FUNCTIONS,
    OPERATORS,
    Binary,
    Call,
    In,
    Literal,
    Node,
    Property,
    fold,
    is_logical,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.service_resource import Table

BATCH_GET_LIMIT = 100
MAX_SEGMENTS = 8
ROWS_PER_SEGMENT = 5000


@cache
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=MAX_SEGMENTS * 2, thread_name_prefix="odata-read")


class EntityStore:
    """The reads of one request on one entity set's table (and the index table's counts and postings)."""

    def __init__(
        self,
        entity_set: EntitySet,
        client: DynamoDBClient,
        table_name: str,
        index_table_name: str | None = None,
        stats: ReadStats | None = None,
    ) -> None:
        self.entity_set = entity_set
        self.client = client
        self.table_name = table_name
        self.index_table_name = index_table_name
        self.stats = stats or ReadStats()
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, Any], int | None] = {}
        self._convert = _converters(entity_set)
        self._keep: frozenset[str] | None = None
        self._order: tuple[str, ...] = ()
        self._exact: frozenset[str] = frozenset()

    def keep(
        self, names: frozenset[str] | None, order: tuple[str, ...] = (), exact: frozenset[str] | None = None
    ) -> bool:
        """Rows from now on carry only these attributes (None: all), those of `order` first and in that order: a
        request converts what it uses. Decimals not in `exact` (None: all) stay DynamoDB's number text, as
        orjson fragments: written to JSON exactly as stored, never computed with. True when each row will be
        exactly `order` (absent attributes as None)."""
        self._keep, self._order = names, order
        self._exact = frozenset(names or ()) if exact is None else exact
        return names is not None and names == frozenset(order)

    # ---- the Store protocol of sf_edge.odata.engine ----------------------------------------------------------------

    def get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        """One entity by its full key (None for a key no item can have, such as an empty string)."""
        if any(value == "" for value in key.values()):
            return None
        response = self._call(self.client.get_item, TableName=self.table_name, Key=_item(key))
        item = response.get("Item")
        if item is None:
            return None
        self.stats.items_read += 1
        return self._row(item)

    def get_many(self, keys: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """The entities of these keys that exist (BatchGetItem, unprocessed keys retried with back-off)."""
        keys = [k for k in keys if all(v != "" for v in k.values())]
        if len(keys) == 1:
            row = self.get(keys[0])
            if row is not None:
                yield row
            return
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            request: Any = {self.table_name: {"Keys": [_item(k) for k in keys[start : start + BATCH_GET_LIMIT]]}}
            attempt = 0
            while request:
                response = self._call(self.client.batch_get_item, RequestItems=request)
                items = response.get("Responses", {}).get(self.table_name, [])
                self.stats.items_read += len(items)
                yield from (self._row(item) for item in items)
                request = response.get("UnprocessedKeys") or None
                if request:
                    attempt += 1
                    time.sleep(min(1.0, 0.02 * 2**attempt))

    def query(
        self,
        read: IndexRead,
        partition: Any,
        *,
        pushed: Sequence[Node],
        start: Any,
        limit: Limit | None,
        skip: int = 0,
    ) -> Iterator[dict[str, Any]]:
        """One partition of the table or an index in its sort order, from `start` on (inclusive; a key dict for
        an equality-only GSI, exclusive), past `skip` items, fetched in chunks of `limit()` items; the first chunk
        starts loading now."""
        names = {"#p": read.partition_attribute}
        values: dict[str, Any] = {":p": _value(partition)}
        condition = "#p = :p"
        low, high = (read.sort_range.low, read.sort_range.high) if read.sort_range else (None, None)
        if start is not None and read.sort_attribute is not None:
            if read.descending:
                high = start if high is None else min(high, start)
            else:
                low = start if low is None else max(low, start)
        if read.sort_attribute is not None and (low is not None or high is not None):
            if low is not None and high is not None and low > high:
                return iter(())
            names["#s"] = read.sort_attribute
            if low is not None and high is not None:
                condition += " AND #s BETWEEN :lo AND :hi"
                values |= {":lo": _value(low), ":hi": _value(high)}
            elif low is not None:
                condition += " AND #s >= :lo"
                values[":lo"] = _value(low)
            else:
                condition += " AND #s <= :hi"
                values[":hi"] = _value(high)
        arguments: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": condition,
            "ScanIndexForward": not read.descending,
        }
        if read.index:
            arguments["IndexName"] = read.index
        if isinstance(start, dict):
            arguments["ExclusiveStartKey"] = _item(start)
        _add_filter(arguments, pushed, names, values)
        if skip and not self._skip(self.client.query, arguments, skip):
            return iter(())
        return self._pages(self.client.query, arguments, limit)

    def scan(
        self,
        *,
        pushed: Sequence[Node],
        after: dict[str, Any] | None,
        limit: Limit | None,
        parallel: bool = False,
        skip: int = 0,
    ) -> Iterator[dict[str, Any]]:
        """The table in storage order after `after` (a key) and past `skip` items, in chunks; or whole, as a
        parallel Scan whose segments are concatenated in segment order (the same order for every page)."""
        arguments: dict[str, Any] = {"TableName": self.table_name}
        _add_filter(arguments, pushed, {}, {})
        if after is not None:
            arguments["ExclusiveStartKey"] = _item(after)
        if skip and not self._skip(self.client.scan, arguments, skip):
            return iter(())
        segments = self._segments() if parallel and after is None else 1
        if segments == 1:
            return self._pages(self.client.scan, arguments, limit)
        return self._parallel_scan(arguments, segments)

    def _skip(self, operation: Callable[..., Any], arguments: dict[str, Any], skip: int) -> bool:
        """Move `arguments` past `skip` items with COUNT reads: DynamoDB reads them (they are billed and counted)
        but sends none back, so nothing is parsed or converted. False when fewer items remain."""
        counting = {**arguments, "Select": "COUNT"}
        remaining = skip
        while remaining > 0:
            counting["Limit"] = remaining
            response = self._call(operation, **counting)
            self.stats.items_read += response.get("ScannedCount", 0)
            remaining -= response.get("Count", 0)
            if "LastEvaluatedKey" not in response:
                return False
            counting["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        arguments["ExclusiveStartKey"] = counting["ExclusiveStartKey"]
        return True

    def count(self, count_key: tuple[str, Any]) -> int | None:
        """A maintained count (None when the index table holds none: the rows are counted by reading them)."""
        if self.index_table_name is None:
            return None
        if count_key not in self._counts:
            response = self._call(
                self.client.get_item,
                TableName=self.index_table_name,
                Key=_item(count_item_key(self.entity_set, count_key)),
            )
            item = response.get("Item")
            self.stats.items_read += 1 if item else 0
            self._counts[count_key] = max(0, int(item["n"]["N"])) if item and "n" in item else None
        return self._counts[count_key]

    def search_keys(self, word: str) -> set[str]:
        """The keys (indexing.row_key) of the rows holding a word that starts with `word`."""
        if self.index_table_name is None:
            raise LookupError("no index table: $search needs the token index")
        arguments: dict[str, Any] = {
            "TableName": self.index_table_name,
            "KeyConditionExpression": "PK = :p AND begins_with(SK, :w)",
            "ExpressionAttributeValues": {":p": {"S": posting_partition(self.entity_set, word)}, ":w": {"S": word}},
            "ProjectionExpression": "SK",
        }
        keys: set[str] = set()
        while True:
            response = self._call(self.client.query, **arguments)
            self.stats.items_read += response.get("ScannedCount", 0)
            keys.update(item["SK"]["S"].split(SEP, 1)[1] for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return keys
            arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # ---- plumbing --------------------------------------------------------------------------------------------------

    def _segments(self) -> int:
        total = self.count(("", None))
        if total is None:
            return 1
        return max(1, min(MAX_SEGMENTS, -(-total // ROWS_PER_SEGMENT)))

    def _call(self, operation: Callable[..., Any], **arguments: Any) -> Any:
        started = time.perf_counter()
        try:
            return operation(**arguments)
        finally:
            self._waited(started)

    def _wait(self, future: Future[Any]) -> Any:
        started = time.perf_counter()
        try:
            return future.result()
        finally:
            self._waited(started)

    def _waited(self, started: float) -> None:
        with self._lock:
            self.stats.store_seconds += time.perf_counter() - started

    def _pages(
        self, operation: Callable[..., Any], arguments: dict[str, Any], limit: Limit | None
    ) -> Iterator[dict[str, Any]]:
        if limit is not None:
            arguments["Limit"] = limit()
        first = _executor().submit(operation, **arguments)
        return self._follow(operation, arguments, limit, first)

    def _follow(
        self, operation: Callable[..., Any], arguments: dict[str, Any], limit: Limit | None, first: Future[Any]
    ) -> Iterator[dict[str, Any]]:
        response = self._wait(first)
        while True:
            self.stats.items_read += response.get("ScannedCount", len(response.get("Items", [])))
            yield from (self._row(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return
            arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]
            if limit is not None:
                arguments["Limit"] = limit()
            response = self._call(operation, **arguments)

    def _parallel_scan(self, arguments: dict[str, Any], segments: int) -> Iterator[dict[str, Any]]:
        def whole(segment: int) -> tuple[list[dict[str, Any]], int]:
            items: list[dict[str, Any]] = []
            scanned = 0
            kwargs = {**arguments, "Segment": segment, "TotalSegments": segments}
            while True:
                response = self.client.scan(**kwargs)
                items.extend(response.get("Items", []))
                scanned += response.get("ScannedCount", 0)
                if "LastEvaluatedKey" not in response:
                    return items, scanned
                kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

        futures = [_executor().submit(whole, segment) for segment in range(segments)]
        for future in futures:
            items, scanned = self._wait(future)
            self.stats.items_read += scanned
            yield from (self._row(item) for item in items)

    def _row(self, item: dict[str, Any]) -> dict[str, Any]:
        keep = self._keep
        try:
            if keep is None:
                return {name: self._convert.get(name, _plain)(value) for name, value in item.items()}
            return _row_builder(self.entity_set, keep, self._order, self._exact)(item)
        except (KeyError, ValueError, TypeError):  # stored with another type than declared (another writer's row)
            return {name: _plain(value) for name, value in item.items() if keep is None or name in keep}


# How each declared type is read from a DynamoDB attribute value, as Python source for the row builders.
_READ = {
    "String": 'v["S"]',
    "DateTimeOffset": 'v["S"]',
    "Int16": 'int(v["N"])',
    "Int32": 'int(v["N"])',
    "Int64": 'int(v["N"])',
    "Single": 'float(v["N"])',
    "Double": 'float(v["N"])',
    "Decimal": 'Decimal(v["N"])',
    "Boolean": 'v["BOOL"]',
}


@cache
def _row_builder(
    entity_set: EntitySet, names: frozenset[str], order: tuple[str, ...], exact: frozenset[str]
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A function turning one item into a row of exactly these attributes (`order` first), typed by the
    declarations: straight-line code generated once per entity set and attribute set (a page calls it thousands
    of times, and a per-attribute loop costs twice as much). The names are declared properties and our index
    attributes, never request text."""
    reads = []
    ordered = [n for n in order if n in names] + sorted(names - set(order))
    for i, name in enumerate(ordered):
        prop = entity_set.property(name)
        if prop is not None and prop.type == "Decimal" and name not in exact:
            expression = 'Fragment(v["N"])'
        elif prop is not None:
            expression = _READ[prop.type]
        elif name == BUCKET or name == "_v":
            expression = 'int(v["N"])'
        elif name.startswith("_s_"):
            expression = 'v["S"]'
        else:
            raise ValueError(f"{entity_set.name} has no attribute {name!r} to read")
        reads.append((i, name, expression.replace("v[", f"v{i}[").replace("(v)", f"(v{i})")))
    source = ["def build(item):", "    get = item.get"]
    source += [f"    v{i} = get({name!r})" for i, name, _ in reads]
    source += ["    return {", *(f"        {name!r}: None if v{i} is None else {e}," for i, name, e in reads), "    }"]
    from orjson import Fragment

    namespace: dict[str, Any] = {"Decimal": Decimal, "Fragment": Fragment}
    exec(compile("\n".join(source), f"<rows of {entity_set.name}>", "exec"), namespace)  # noqa: S102 - our source
    return namespace["build"]  # type: ignore[no-any-return]


def _converters(entity_set: EntitySet) -> dict[str, Callable[[dict[str, Any]], Any]]:
    """Per declared property, DynamoDB's attribute value → the declared Python type (whole rows: entity reads)."""
    table: dict[str, Callable[[dict[str, Any]], Any]] = {}
    for prop in entity_set.properties:
        if prop.type in ("Int16", "Int32", "Int64"):
            table[prop.name] = lambda av: int(av["N"]) if "N" in av else _plain(av)
        elif prop.type in ("Single", "Double"):
            table[prop.name] = lambda av: float(av["N"]) if "N" in av else _plain(av)
    return table


def _plain(av: dict[str, Any]) -> Any:
    """A DynamoDB attribute value as boto3's resource layer would give it (numbers as Decimal)."""
    ((kind, value),) = av.items()
    match kind:
        case "S" | "BOOL" | "B":
            return value
        case "N":
            return Decimal(value)
        case "NULL":
            return None
        case "L":
            return [_plain(v) for v in value]
        case "M":
            return {k: _plain(v) for k, v in value.items()}
        case "SS" | "BS":
            return set(value)
        case "NS":
            return {Decimal(v) for v in value}
    return value


def _value(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute value."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float | Decimal):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, dict):
        return {"M": {k: _value(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [_value(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__}")


def _item(values: dict[str, Any]) -> dict[str, Any]:
    return {name: _value(value) for name, value in values.items()}


# DynamoDB's limits on one expression (developer guide, "Constraints": expression parameters).
MAX_EXPRESSION_OPERATORS = 300
MAX_EXPRESSION_BYTES = 4096
# What DynamoDB counts as operators and functions in our renderings: comparators, AND/OR/NOT/IN, function calls.
_OPERATORS = re.compile(r"<>|<=|>=|[=<>]|\b(?:AND|OR|NOT|IN)\b|\w+\(")


def _add_filter(
    arguments: dict[str, Any], pushed: Sequence[Node], names: dict[str, str], values: dict[str, Any]
) -> None:
    """The pushed-down conjuncts as a FilterExpression (planner.pushable chose them: each holds whenever its OData
    condition holds); names and values join those of the key condition. Only as many as fit DynamoDB's limits on
    one expression (300 operators, 4 KB): pushing down only narrows what is read, since the engine checks the whole
    filter on every row, so a conjunct past them is left to the engine rather than refused by DynamoDB."""
    terms: list[str] = []
    operators, length = 0, 0
    for node in pushed:
        names_before, values_before = len(names), len(values)
        term = _condition(node, names, values)
        term_operators = len(_OPERATORS.findall(term)) + (1 if terms else 0)
        if operators + term_operators > MAX_EXPRESSION_OPERATORS or length + len(term) + 7 > MAX_EXPRESSION_BYTES:
            # Left to the engine: its placeholders go (the last ones added), not the whole map copied per term.
            for added, before in ((names, names_before), (values, values_before)):
                while len(added) > before:
                    added.popitem()
            continue
        terms.append(term)
        operators, length = operators + term_operators, length + len(term) + 7  # "(...) AND "
    if terms:
        arguments["FilterExpression"] = " AND ".join(f"({term})" for term in terms)
    if names:
        arguments["ExpressionAttributeNames"] = names
    if values:
        arguments["ExpressionAttributeValues"] = values


def _condition(node: Node, names: dict[str, str], values: dict[str, Any]) -> str:
    def name_of(attribute: str) -> str:
        alias = f"#f{len(names)}"
        names[alias] = attribute
        return alias

    def value_of(value: Any) -> str:
        alias = f":f{len(values)}"
        values[alias] = _value(value)
        return alias

    def leave(current: Node, inside: list[str]) -> str:
        match current:
            case Binary(op="and" | "or"):
                joiner = " AND " if current.op == "and" else " OR "
                return f"({inside[0]}){joiner}({inside[1]})"
            case Binary(op="eq", left=Call() as function, right=Literal(value=True)):
                return leave(function, [])
            case Call(name=name, args=(Property(path=(attribute,)), Literal(value=text))):
                return f"{FUNCTIONS[name].dynamo}({name_of(attribute)}, {value_of(text)})"
            case In(left=Property(path=(attribute,)), items=items):
                return f"{name_of(attribute)} IN ({', '.join(value_of(item.value) for item in items)})"
            case Binary(op=op, left=left, right=right):
                if isinstance(left, Literal) and isinstance(right, Property):
                    left, right, op = right, left, FLIPPED[op]
                assert isinstance(left, Property)
                assert isinstance(right, Literal)
                attribute = name_of(left.path[0])
                if right.value is None:
                    null = value_of(None)  # placeholder for attribute_type's argument below
                    values[null] = {"S": "NULL"}
                    if op == "eq":
                        return f"attribute_not_exists({attribute}) OR attribute_type({attribute}, {null})"
                    return f"attribute_exists({attribute}) AND NOT attribute_type({attribute}, {null})"
                literal = value_of(right.value)
                if op == "ne":  # OData: a missing value is "not equal"; DynamoDB: a comparison with nothing is false
                    return f"attribute_not_exists({attribute}) OR {attribute} <> {literal}"
                return f"{attribute} {OPERATORS[op].dynamo} {literal}"
        raise ValueError(f"not a pushable condition: {current!r}")

    # The table's DynamoDB rendering of each node planner.pushable chose; only `and` / `or` are walked into.
    return fold(node, leave, is_logical)


class EntityWrites:
    """Conditional writes for one entity set, with the version that backs its ETags and the index attributes its
    declared orders need (so a write shows in list views without waiting for the stream)."""

    def __init__(self, entity_set: EntitySet, table: Table) -> None:
        self.entity_set = entity_set
        self.table = table

    def create(self, values: dict[str, Any]) -> dict[str, Any]:
        """Insert a new entity (Conflict when the key exists)."""
        from sf_edge.row_version import VERSION

        item = {k: v for k, v in values.items() if v is not None} | {VERSION: 1}
        item |= index_attributes(self.entity_set, item)
        try:
            conditional(
                self.table.put_item,
                Item=item,
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": self.entity_set.key[0]},
            )
        except ConditionNotMet:
            raise Conflict(f"{self.entity_set.entity_type} already exists") from None
        return item

    def update(self, key: dict[str, Any], values: dict[str, Any], expected: int | None) -> dict[str, Any]:
        """Set (or, for None, remove) properties of an existing entity; the new state."""
        changes = {k: v for k, v in values.items() if k not in key}
        update = set_or_remove(
            changes | index_attribute_changes(self.entity_set, key, changes),
            more_sets=["#v = if_not_exists(#v, :zero) + :one"],  # the version (#v is added by _conditional)
        )
        return self._conditional(
            key,
            expected,
            "update",
            UpdateExpression=update.expression,
            ExpressionAttributeNames=update.names,
            ExpressionAttributeValues=update.values | {":zero": 0, ":one": 1},
            ReturnValues="ALL_NEW",
        )

    def replace(self, key: dict[str, Any], values: dict[str, Any], expected: int | None) -> dict[str, Any]:
        """Replace an existing entity whole (properties left out become null)."""
        current = self.table.get_item(Key=key, ConsistentRead=True).get("Item")
        if current is None:
            return self._missing(key)
        from sf_edge.row_version import VERSION, version_of

        read_version = version_of(current)
        if expected is not None and expected != read_version:
            raise _precondition_failed()
        item = {k: v for k, v in values.items() if v is not None} | key
        item[VERSION] = read_version + 1
        item |= index_attributes(self.entity_set, item)
        # Conditional on the version read, not only on the one asked for: two writers replacing the same version
        # cannot both succeed (the second gets 412 and must read again).
        self._conditional(key, read_version, "put", Item=item)
        return item

    def delete(self, key: dict[str, Any], expected: int | None) -> None:
        """Delete an existing entity."""
        self._conditional(key, expected, "delete")

    def _conditional(self, key: dict[str, Any], expected: int | None, action: str, **kwargs: Any) -> dict[str, Any]:

        from sf_edge.row_version import VERSION

        names = dict(kwargs.pop("ExpressionAttributeNames", {})) | {"#k": self.entity_set.key[0]}
        if expected is not None or action == "update":  # DynamoDB refuses names an expression does not use
            names["#v"] = VERSION
        values = dict(kwargs.pop("ExpressionAttributeValues", {}))
        condition = "attribute_exists(#k)"
        if expected is not None:
            values[":expected"] = expected
            condition += " AND (#v = :expected" + (" OR attribute_not_exists(#v))" if expected == 0 else ")")
        call: Any = {"update": self.table.update_item, "put": self.table.put_item, "delete": self.table.delete_item}[
            action
        ]
        if action != "put":
            kwargs["Key"] = key
        arguments = {"ConditionExpression": condition, "ExpressionAttributeNames": names, **kwargs}
        if values:
            arguments["ExpressionAttributeValues"] = values
        try:
            response = conditional(call, **arguments)
        except ConditionNotMet:
            if self.table.get_item(Key=key, ConsistentRead=True).get("Item") is None:
                return self._missing(key)
            raise _precondition_failed() from None
        return dict(response.get("Attributes") or kwargs.get("Item") or {})

    def _missing(self, key: dict[str, Any]) -> dict[str, Any]:
        raise NotFound(f"No {self.entity_set.entity_type} with key {key}")


def _precondition_failed() -> Exception:
    return PreconditionFailed("The entity has changed since it was read (ETag mismatch)")
