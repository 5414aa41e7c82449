"""DynamoDB access for the OData feeds: the cheapest read that can answer a `$filter`.

- every key part fixed by `eq` (or a chain of key `eq` joined by `or`, or key `in (...)`, as Salesforce turns
  SOQL `IN` into): GetItem / BatchGetItem;
- an `eq` on a property a GSI is keyed on (Orders by CustomerID, ...): Query on that index;
- anything else: Scan.
The engine then applies the whole `$filter` to what was read, so a plan only has to be a superset. Items read are
counted and logged per request.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sf_edge.odata.expressions import Binary, Call, In, Literal, Node, Property
from sf_edge.odata.schema import EntitySet

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource, Table

_BATCH_GET_LIMIT = 100


@dataclass
class ReadPlan:
    """How a request reads: `get` (keys), `query` (index, property, value) or `scan`; with the part of the
    filter DynamoDB can apply itself (`pushed`, a boto3 condition), so less comes back over the wire."""

    kind: str
    keys: list[dict[str, Any]] = field(default_factory=list)
    index: str | None = None
    attribute: str | None = None
    value: Any = None
    pushed: Any = None
    pushed_terms: int = 0

    def describe(self) -> str:
        pushed = f" + {self.pushed_terms} condition(s) pushed down" if self.pushed_terms else ""
        if self.kind == "get":
            return f"get {len(self.keys)} key(s)"
        if self.kind == "query":
            return f"query {self.index} where {self.attribute} = {self.value!r}{pushed}"
        return f"scan{pushed}"


def plan(entity_set: EntitySet, filter_node: Node | None) -> ReadPlan:
    """The read that returns a superset of the rows the filter keeps, as cheaply as the declarations allow."""
    if filter_node is None:
        return ReadPlan("scan")
    conjuncts = _conjuncts(filter_node)
    fixed = {
        name: value for name, value in (_equality(c) for c in conjuncts) if name and _fits(entity_set, name, value)
    }
    if all(k in fixed for k in entity_set.key):
        return ReadPlan("get", [{k: fixed[k] for k in entity_set.key}])
    if len(entity_set.key) == 1:
        for conjunct in conjuncts:
            values = _key_alternatives(conjunct, entity_set.key[0])
            if values is not None and all(_fits(entity_set, entity_set.key[0], v) for v in values):
                return ReadPlan("get", [{entity_set.key[0]: v} for v in dict.fromkeys(values)])
    for name, value in fixed.items():
        if name in entity_set.indexes:
            rest = [c for c in conjuncts if _equality(c)[0] != name]  # the key condition already applies it
            pushed, terms = _pushdown(entity_set, rest)
            return ReadPlan(
                "query", index=entity_set.indexes[name], attribute=name, value=value, pushed=pushed, pushed_terms=terms
            )
    pushed, terms = _pushdown(entity_set, conjuncts)
    return ReadPlan("scan", pushed=pushed, pushed_terms=terms)


_COMPARISONS = {"eq": "eq", "gt": "gt", "ge": "gte", "lt": "lt", "le": "lte"}
_FLIPPED = {"gt": "lt", "ge": "le", "lt": "gt", "le": "ge", "eq": "eq"}


def _pushdown(entity_set: EntitySet, conjuncts: list[Node]) -> tuple[Any, int]:
    """A FilterExpression for the conjuncts DynamoDB evaluates exactly as OData does; the rest stays in Python.

    Only comparisons of a string or integer property with a literal of its own type, and `startswith` /
    `contains` on strings: where null, type or date semantics differ (`ne`, dates, decimals), nothing is pushed.
    """
    from boto3.dynamodb.conditions import Attr

    condition: Any = None
    terms = 0
    for conjunct in conjuncts:
        pushed: Any = None
        if isinstance(conjunct, Binary) and conjunct.op in _COMPARISONS:
            left, right, op = conjunct.left, conjunct.right, conjunct.op
            if isinstance(left, Literal) and isinstance(right, Property):
                left, right, op = right, left, _FLIPPED[op]
            if (
                isinstance(left, Property)
                and len(left.path) == 1
                and isinstance(right, Literal)
                and right.value is not None
                and _fits(entity_set, left.path[0], right.value)
            ):
                pushed = getattr(Attr(left.path[0]), _COMPARISONS[op])(right.value)
        elif isinstance(conjunct, Call) and conjunct.name in ("startswith", "contains"):
            target, text = conjunct.args
            if (
                isinstance(target, Property)
                and len(target.path) == 1
                and isinstance(text, Literal)
                and isinstance(text.value, str)
                and _fits(entity_set, target.path[0], text.value)
            ):
                attribute = Attr(target.path[0])
                pushed = (
                    attribute.begins_with(text.value)
                    if conjunct.name == "startswith"
                    else attribute.contains(text.value)
                )
        if pushed is not None:
            condition = pushed if condition is None else condition & pushed
            terms += 1
    return condition, terms


def _fits(entity_set: EntitySet, name: str, value: Any) -> bool:
    """Whether DynamoDB can compare the value with the attribute (a mistyped key would be an error, not a miss)."""
    prop = entity_set.property(name)
    if prop is None:
        return False
    if prop.type == "String":
        return isinstance(value, str)
    if prop.type in ("Int16", "Int32", "Int64"):
        return isinstance(value, int) and not isinstance(value, bool)
    return False


def _conjuncts(node: Node) -> list[Node]:
    if isinstance(node, Binary) and node.op == "and":
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


def _equality(node: Node) -> tuple[str | None, Any]:
    if isinstance(node, Binary) and node.op == "eq":
        for prop, lit in ((node.left, node.right), (node.right, node.left)):
            if (
                isinstance(prop, Property)
                and len(prop.path) == 1
                and isinstance(lit, Literal)
                and lit.value is not None
            ):
                return prop.path[0], lit.value
    return None, None


def _key_alternatives(node: Node, key: str) -> list[Any] | None:
    """Values of `key eq a or key eq b ...` or `key in (a, b)`; None when the node is anything else."""
    if isinstance(node, In) and node.left == Property((key,)):
        return [item.value for item in node.items if item.value is not None]
    if isinstance(node, Binary) and node.op == "or":
        left, right = _key_alternatives(node.left, key), _key_alternatives(node.right, key)
        return None if left is None or right is None else left + right
    name, value = _equality(node)
    return [value] if name == key else None


class EntityTable:
    """Reads one entity set's table, converting DynamoDB numbers to the declared types."""

    def __init__(self, entity_set: EntitySet, table: Table, resource: DynamoDBServiceResource) -> None:
        self.entity_set = entity_set
        self.table = table
        self.resource = resource
        self.items_read = 0
        self._ints = {p.name for p in entity_set.properties if p.type in ("Int16", "Int32", "Int64")}
        self._floats = {p.name for p in entity_set.properties if p.type in ("Single", "Double")}

    def read(
        self, read_plan: ReadPlan, after: dict[str, Any] | None = None, batch: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """The rows the plan reads, typed; `after` resumes a scan or query after that item's keys, `batch` caps
        each DynamoDB call (a page then reads about what it returns)."""
        start: dict[str, Any] = {"ExclusiveStartKey": after} if after else {}
        if batch:
            start["Limit"] = batch
        if read_plan.pushed is not None:
            start["FilterExpression"] = read_plan.pushed
        match read_plan.kind:
            case "get":
                yield from self._get(read_plan.keys)
            case "query":
                from boto3.dynamodb.conditions import Key

                yield from self._paginate(
                    self.table.query,
                    IndexName=read_plan.index,
                    KeyConditionExpression=Key(read_plan.attribute or "").eq(read_plan.value),
                    **start,
                )
            case _:
                yield from self._paginate(self.table.scan, **start)

    def resume_keys(self, read_plan: ReadPlan) -> tuple[str, ...]:
        """The attributes DynamoDB needs to resume after an item: the table key, plus the index key for a query."""
        extra = (read_plan.attribute,) if read_plan.kind == "query" and read_plan.attribute else ()
        return tuple(dict.fromkeys((*self.entity_set.key, *extra)))

    def get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        """One entity by its full key."""
        rows = list(self._get([key]))
        return rows[0] if rows else None

    def _get(self, keys: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        if len(keys) == 1:
            item = self.table.get_item(Key=keys[0]).get("Item")
            self.items_read += 1 if item else 0
            if item:
                yield self._typed(item)
            return
        for start in range(0, len(keys), _BATCH_GET_LIMIT):
            request: Any = {self.table.name: {"Keys": keys[start : start + _BATCH_GET_LIMIT]}}
            while request:
                response = self.resource.batch_get_item(RequestItems=request)
                items = response.get("Responses", {}).get(self.table.name, [])
                self.items_read += len(items)
                yield from (self._typed(item) for item in items)
                request = response.get("UnprocessedKeys") or None

    def _paginate(self, operation: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        while True:
            response = operation(**kwargs)
            items = response.get("Items", [])
            self.items_read += response.get("ScannedCount", len(items))  # read, whatever a FilterExpression kept
            yield from (self._typed(item) for item in items)
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _typed(self, item: dict[str, Any]) -> dict[str, Any]:
        row = dict(item)
        for name, value in item.items():
            if isinstance(value, Decimal):
                if name in self._ints:
                    row[name] = int(value)
                elif name in self._floats:
                    row[name] = float(value)
        return row


class EntityWrites:
    """Conditional writes for one entity set, with the version that backs its ETags."""

    def __init__(self, entity_set: EntitySet, table: Table) -> None:
        self.entity_set = entity_set
        self.table = table

    def create(self, values: dict[str, Any]) -> dict[str, Any]:
        """Insert a new entity (409 when the key exists)."""
        from botocore.exceptions import ClientError

        from sf_edge.odata.request import ODataError
        from sf_edge.odata.writes import VERSION

        item = {k: v for k, v in values.items() if v is not None} | {VERSION: 1}
        try:
            self.table.put_item(
                Item=item,
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": self.entity_set.key[0]},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ODataError(409, "Conflict", f"{self.entity_set.entity_type} already exists") from None
            raise
        return item

    def update(self, key: dict[str, Any], values: dict[str, Any], expected: int | None) -> dict[str, Any]:
        """Set (or, for None, remove) properties of an existing entity; the new state."""
        changes = {k: v for k, v in values.items() if k not in key}
        sets = {k: v for k, v in changes.items() if v is not None}
        removes = [k for k, v in changes.items() if v is None]
        names = {f"#p{i}": name for i, name in enumerate([*sets, *removes])}
        by_name = {name: alias for alias, name in names.items()}
        values_map: dict[str, Any] = {f":p{i}": v for i, v in enumerate(sets.values())}
        expression = "SET " + ", ".join(
            [f"{by_name[k]} = :p{i}" for i, k in enumerate(sets)] + ["#v = if_not_exists(#v, :zero) + :one"]
        )
        if removes:
            expression += " REMOVE " + ", ".join(by_name[k] for k in removes)
        values_map |= {":zero": 0, ":one": 1}
        return self._conditional(
            key,
            expected,
            "update",
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values_map,
            ReturnValues="ALL_NEW",
        )

    def replace(self, key: dict[str, Any], values: dict[str, Any], expected: int | None) -> dict[str, Any]:
        """Replace an existing entity whole (properties left out become null)."""
        current = self.table.get_item(Key=key, ConsistentRead=True).get("Item")
        if current is None:
            return self._missing(key)
        from sf_edge.odata.writes import VERSION

        item = {k: v for k, v in values.items() if v is not None} | key
        item[VERSION] = int(str(current.get(VERSION) or 0)) + 1
        self._conditional(key, expected, "put", Item=item)
        return item

    def delete(self, key: dict[str, Any], expected: int | None) -> None:
        """Delete an existing entity."""
        self._conditional(key, expected, "delete")

    def _conditional(self, key: dict[str, Any], expected: int | None, action: str, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        from sf_edge.odata.request import ODataError
        from sf_edge.odata.writes import VERSION

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
            response = call(**arguments)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            if self.table.get_item(Key=key, ConsistentRead=True).get("Item") is None:
                return self._missing(key)
            raise ODataError(
                412, "PreconditionFailed", "The entity has changed since it was read (ETag mismatch)"
            ) from None
        return dict(response.get("Attributes") or kwargs.get("Item") or {})

    def _missing(self, key: dict[str, Any]) -> dict[str, Any]:
        from sf_edge.odata.request import ODataError

        raise ODataError(404, "NotFound", f"No {self.entity_set.entity_type} with key {key}")
