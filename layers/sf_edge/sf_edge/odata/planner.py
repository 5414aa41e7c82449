"""The cheapest read that answers a request, from the declared access patterns alone (no AWS here).

In order of preference:
- the full key fixed by `eq` (or an `or`-chain / `in` of keys, as Salesforce turns SOQL `IN` into): get the items;
- `$search`: the token index's postings, then the matching rows;
- `$orderby` on a declared order: a Query on its index that reads the page, within the partition an equality
  fixes (Orders of a customer) or across the set's shards (merged); a range on the sorted property narrows the
  sort key;
- no `$orderby`: a Query when an equality fixes a partition (the table's own partition key for children with a
  composite key, a sorted index's partition, an equality-only GSI), a range on a sorted property, else a Scan.
An `$orderby` no index serves is read on the best path above and sorted in memory; the plan names the index that
would serve it, and the feed logs it and counts it in a metric.

Counts come from the maintained counters when the filter is absent or is one equality on a counted property;
otherwise they count what is read. The conjuncts DynamoDB evaluates exactly as OData does are pushed down as a
FilterExpression; the engine applies the whole filter again to whatever is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sf_edge.odata.expressions import OrderItem
from sf_edge.odata.indexing import MAX_SORT_CHARS, SortRange, prefix_range, range_for
from sf_edge.odata.request import QueryOptions
from sf_edge.odata.schema import BUCKET, EntitySet, SortOrder
from sf_edge.odata.search import SearchNode
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
    chain,
    fits,
    fold,
    is_logical,
)

MAX_PARTITIONS = 100  # values of an `or` / `in` read as one Query each
_RANGE_LITERALS = {
    "String": {"String"},
    "Int16": {"Int64"},
    "Int32": {"Int64"},
    "Int64": {"Int64"},
    "Decimal": {"Int64", "Decimal", "Double"},
    "Double": {"Int64", "Decimal", "Double"},
    "Single": {"Int64", "Decimal", "Double"},
    "DateTimeOffset": {"DateTimeOffset"},
    "Boolean": {"Boolean"},
}


@dataclass(frozen=True)
class IndexRead:
    """A Query on the table (index None) or a GSI, over one or several partition values (merged in sort order)."""

    index: str | None
    partition_attribute: str
    partitions: tuple[Any, ...]
    sort_attribute: str | None  # None: an equality-only GSI, rows in DynamoDB's order
    encoded: bool  # the sort attribute is one of ours (indexing.sort_value), not a native key attribute
    sort_range: SortRange | None = None
    descending: bool = False

    def describe(self) -> str:
        where = (
            f"over {len(self.partitions)} shard(s)"
            if self.partition_attribute == BUCKET
            else f"where {self.partition_attribute} = {self.partitions[0]!r}"
        )
        ranged = " in a range" if self.sort_range else ""
        return f"query {self.index or 'table'} {where}{ranged}{' descending' if self.descending else ''}"


@dataclass(frozen=True)
class Plan:
    """How a collection request reads."""

    kind: str  # get | query | scan | search
    keys: tuple[dict[str, Any], ...] = ()
    read: IndexRead | None = None
    pushed: tuple[Node, ...] = ()  # conjuncts DynamoDB can evaluate as a FilterExpression
    residual: Node | None = None  # what the engine must still check on each row read (None: nothing)
    ordered: bool = True  # rows arrive in $orderby's order (any order when there is no $orderby)
    count_key: tuple[str, Any] | None = None  # ("", None): the set's total; (property, value): per value
    search: SearchNode | None = None
    unserved_order: SortOrder | None = None  # the declared order that would serve this $orderby

    def describe(self) -> str:
        pushed = f" + {len(self.pushed)} condition(s) pushed down" if self.pushed else ""
        match self.kind:
            case "get":
                return f"get {len(self.keys)} key(s)"
            case "search":
                return "search the token index"
            case "query":
                assert self.read is not None
                return self.read.describe() + pushed
        return f"scan{pushed}"


def plan(entity_set: EntitySet, options: QueryOptions) -> Plan:
    """The plan for a collection (or `/$count`) request."""
    conjuncts = _conjuncts(options.filter) if options.filter is not None else []
    count_key = _count_key(entity_set, conjuncts) if options.search is None else None
    fixed = {
        name: value for name, value in map(_equality, conjuncts) if name and _fits(entity_set, name, value, key=True)
    }
    if all(k in fixed for k in entity_set.key):
        return Plan("get", ({k: fixed[k] for k in entity_set.key},), ordered=False, residual=options.filter)
    match entity_set.key:
        case (key,):
            for conjunct in conjuncts:
                values = _key_alternatives(conjunct, key)
                if values is not None and all(_fits(entity_set, key, v, key=True) for v in values):
                    keys = tuple({key: v} for v in dict.fromkeys(values))
                    return Plan("get", keys, ordered=False, residual=options.filter)
    if options.search is not None:
        return Plan("search", search=options.search, ordered=False, residual=options.filter)
    ranges = _ranges(entity_set, conjuncts)
    alternatives = _partition_alternatives(entity_set, conjuncts)
    wanted = _wanted_order(entity_set, options.orderby)
    read: IndexRead | None = None
    if wanted is not None:
        read = _ordered_read(entity_set, wanted[0], wanted[1], fixed, ranges, alternatives)
    ordered = read is not None or not options.orderby
    if read is None:
        read = _unordered_read(entity_set, fixed, ranges, alternatives)
    unserved = None
    if not ordered:
        unserved = SortOrder(wanted[0]) if wanted else SortOrder(_first_property(options.orderby))
    residual = _residual(entity_set, conjuncts, read, ranges)
    return Plan(
        "scan" if read is None else "query",
        read=read,
        pushed=_pushable(entity_set, [c for c in conjuncts if c in residual]),
        residual=_and_all(residual),
        ordered=ordered,
        count_key=count_key,
        unserved_order=unserved,
    )


def _wanted_order(entity_set: EntitySet, orderby: tuple[OrderItem, ...]) -> tuple[str, bool] | None:
    """(property, descending) when $orderby is one property, optionally followed by the rest of the key in the
    same direction (the tie-break every sort attribute already has)."""
    names: list[str] = []
    directions = set()
    for item in orderby:
        match item.expression:
            case Property(path=(name,)):
                names.append(name)
                directions.add(item.descending)
            case _:
                return None
    if not names or len(directions) != 1:
        return None
    first, rest = names[0], names[1:]
    key_rest = [k for k in entity_set.key if k != first]
    if rest and rest != key_rest[: len(rest)]:
        return None
    return first, directions.pop()


def _first_property(orderby: tuple[OrderItem, ...]) -> str:
    expression = orderby[0].expression
    return expression.path[0] if isinstance(expression, Property) else "?"


def _ordered_read(
    entity_set: EntitySet,
    name: str,
    descending: bool,
    fixed: dict[str, Any],
    ranges: dict[str, SortRange],
    alternatives: dict[str, list[Any]],
) -> IndexRead | None:
    sort_range = ranges.get(name)
    for partition, values in [*((p, [v]) for p, v in fixed.items()), *alternatives.items()]:
        order = entity_set.order_for(name, partition)
        if order is not None:
            return IndexRead(
                order.index_name, partition, tuple(values), order.sort_attribute, True, sort_range, descending
            )
    if len(entity_set.key) == 2 and entity_set.key[0] in fixed and name == entity_set.key[1]:
        return _children(entity_set, fixed[entity_set.key[0]], descending)
    order = entity_set.order_for(name, None)
    if order is not None:
        return IndexRead(
            order.index_name, BUCKET, tuple(range(entity_set.shards)), order.sort_attribute, True, sort_range,
            descending,
        )  # fmt: skip
    return None


def _unordered_read(
    entity_set: EntitySet, fixed: dict[str, Any], ranges: dict[str, SortRange], alternatives: dict[str, list[Any]]
) -> IndexRead | None:
    if len(entity_set.key) == 2 and entity_set.key[0] in fixed:
        return _children(entity_set, fixed[entity_set.key[0]], False)
    for order in entity_set.orders:  # an equality on a partition property is among its alternatives (one value)
        if order.within in alternatives:
            values = tuple(alternatives[order.within])
            return IndexRead(order.index_name, order.within, values, order.sort_attribute, True, ranges.get(order.by))
    for name, index in entity_set.indexes.items():
        if name in fixed:
            return IndexRead(index, name, (fixed[name],), None, False)
    for order in entity_set.orders:
        if order.within is None and order.by in ranges:
            return IndexRead(
                order.index_name, BUCKET, tuple(range(entity_set.shards)), order.sort_attribute, True, ranges[order.by]
            )
    return None


def _partition_alternatives(entity_set: EntitySet, conjuncts: list[Node]) -> dict[str, list[Any]]:
    """`P eq a or P eq b ...` / `P in (a, b)` on a property some sorted index is partitioned by: one Query per
    value (a lookup over a batch of parents, as Salesforce sends for a related list of many records)."""
    found: dict[str, list[Any]] = {}
    partitions = {order.within for order in entity_set.orders if order.within}
    for conjunct in conjuncts:
        for name in partitions:
            values = _key_alternatives(conjunct, name)
            if values and len(values) <= MAX_PARTITIONS and all(_fits(entity_set, name, v, key=True) for v in values):
                found[name] = list(dict.fromkeys(values))
    return found


def _residual(
    entity_set: EntitySet, conjuncts: list[Node], read: IndexRead | None, ranges: dict[str, SortRange]
) -> list[Node]:
    """The conjuncts the read does not already enforce exactly: its partition equality (or alternatives) and,
    on the sorted property, the comparisons its sort-key range was built from (exact, except for strings longer
    than a sort key holds)."""
    if read is None:
        return conjuncts
    sorted_by = read.sort_attribute.removeprefix("_s_") if read.encoded and read.sort_attribute else None
    prop = entity_set.property(sorted_by) if sorted_by else None
    exact_range = (
        prop is not None
        and read.sort_range is not None
        and read.sort_range == ranges.get(prop.name)
        and not (prop.type == "String" and (prop.max_length is None or prop.max_length >= MAX_SORT_CHARS))
    )
    kept = []
    for conjunct in conjuncts:
        name, _value = _equality(conjunct)
        if name == read.partition_attribute and len(read.partitions) == 1:
            continue
        if len(read.partitions) > 1 and _key_alternatives(conjunct, read.partition_attribute) is not None:
            continue
        if exact_range and prop is not None:
            found = _range_of(entity_set, conjunct)
            if found is not None and found[0] == prop.name:
                continue  # the key condition's range holds exactly this conjunct's rows
        kept.append(conjunct)
    return kept


def _and_all(conjuncts: list[Node]) -> Node | None:
    node: Node | None = None
    for conjunct in conjuncts:
        node = conjunct if node is None else Binary("and", node, conjunct)
    return node


def _children(entity_set: EntitySet, parent: Any, descending: bool) -> IndexRead:
    """The table's own partition: the children of one parent, in the order of the key's second part."""
    parent_key, child_key = entity_set.key
    return IndexRead(None, parent_key, (parent,), child_key, False, None, descending)


def _count_key(entity_set: EntitySet, conjuncts: list[Node]) -> tuple[str, Any] | None:
    if not conjuncts:
        return ("", None)
    if len(conjuncts) == 1:
        name, value = _equality(conjuncts[0])
        if name in entity_set.counted and _fits(entity_set, name, value, key=True):
            return (name, value)
    return None


def _ranges(entity_set: EntitySet, conjuncts: list[Node]) -> dict[str, SortRange]:
    """Sort-key ranges on the sorted properties, from the comparisons of a property with a literal."""
    ranges: dict[str, SortRange] = {}
    for conjunct in conjuncts:
        found = _range_of(entity_set, conjunct)
        if found is not None:
            name, sort_range = found
            ranges[name] = ranges[name].narrowed(sort_range) if name in ranges else sort_range
    return ranges


def _range_of(entity_set: EntitySet, conjunct: Node) -> tuple[str, SortRange] | None:
    """(property, the sort-key range holding exactly its rows) of a comparison or `startswith` on a sorted
    property; None for anything a range does not express."""
    prefix = _startswith(conjunct)
    if prefix is not None:
        prop = entity_set.property(prefix[0])
        if prop is None or prop.name not in entity_set.sorted_properties:
            return None
        found = prefix_range(prop, prefix[1])
        return (prop.name, found) if found is not None else None
    comparison = _comparison(conjunct)
    if comparison is None:
        return None
    name, op, literal = comparison
    prop = entity_set.property(name)
    if prop is None or name not in entity_set.sorted_properties:
        return None
    if literal.type != "Null" and literal.type not in _RANGE_LITERALS.get(prop.type, set()):
        return None
    found = range_for(prop, op, literal.value)
    return (name, found) if found is not None else None


def _startswith(node: Node) -> tuple[str, str] | None:
    """(property, prefix) of `startswith(Property, 'text')`."""
    if isinstance(node, Call) and node.name == "startswith":
        target, text = node.args
        if (
            isinstance(target, Property)
            and len(target.path) == 1
            and isinstance(text, Literal)
            and isinstance(text.value, str)
            and text.value
        ):
            return target.path[0], text.value
    return None


def _comparison(node: Node) -> tuple[str, str, Literal] | None:
    if not (isinstance(node, Binary) and node.op in FLIPPED):
        return None
    left, right, op = node.left, node.right, node.op
    if isinstance(left, Literal) and isinstance(right, Property):
        left, right, op = right, left, FLIPPED[op]
    if isinstance(left, Property) and len(left.path) == 1 and isinstance(right, Literal):
        return left.path[0], op, right
    return None


def _pushable(entity_set: EntitySet, conjuncts: list[Node]) -> tuple[Node, ...]:
    """The conjuncts DynamoDB can check first (a FilterExpression), minus what the key condition already applies.

    A pushed condition must hold whenever the OData condition holds (it may hold more often: the engine checks
    the whole filter again), so DynamoDB never drops a row OData keeps. See `pushable` for what qualifies."""
    # The partition equality is never among them: the residual leaves out what the key condition applies.
    return tuple(conjunct for conjunct in conjuncts if pushable(entity_set, conjunct))


def pushable(entity_set: EntitySet, node: Node) -> bool:
    """Whether sf_edge.aws.odata_store can state the node as a DynamoDB condition that holds whenever the node is
    true: the table's rows with a DynamoDB rendering (comparisons, `startswith` / `contains`) over a property and a
    literal DynamoDB compares as OData does (`tree.fits`; `ne` as "absent or different"), `eq null` / `ne null`,
    `in (...)`, a pushable call `eq true`, and `and` / `or` of those. Dates are not pushed: stored texts may be
    written another way."""

    def leave(current: Node, inside: list[bool]) -> bool:
        match current:
            case Binary(op="and" | "or"):
                return all(inside)
            case Binary(op="eq", left=Call() as function, right=Literal(value=True)):
                return leave(function, [])
            case Call(name=name, args=(Property(path=(prop_name,)), Literal(value=str() as text))):
                prop = entity_set.property(prop_name)
                return FUNCTIONS[name].dynamo is not None and prop is not None and prop.type == "String" and text != ""
            case In(left=Property(path=(name,)), items=items):
                return 0 < len(items) <= 100 and all(_fits(entity_set, name, i.value, key=False) for i in items)
        comparison = _comparison(current)
        if comparison is None or OPERATORS[comparison[1]].dynamo is None:
            return False
        name, op, literal = comparison
        if literal.value is None:
            return op in ("eq", "ne") and entity_set.property(name) is not None
        return _fits(entity_set, name, literal.value, key=False)

    # Only `and` / `or` are walked into: anything else is judged whole, as the store renders it.
    return fold(node, leave, is_logical)


def _fits(entity_set: EntitySet, name: str, value: Any, *, key: bool) -> bool:
    """Whether DynamoDB compares the value with the property's attribute exactly as OData does (`key`: looks it up
    as a key value, where a mistyped or empty one would be an error, not a miss)."""
    prop = entity_set.property(name)
    return prop is not None and fits(prop.type, value, key=key)


def _conjuncts(node: Node) -> list[Node]:
    return chain(node, "and")


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
    values: list[Any] = []
    for term in chain(node, "or"):
        if isinstance(term, In) and term.left == Property((key,)):
            values += [item.value for item in term.items if item.value is not None]
            continue
        name, value = _equality(term)
        if name != key:
            return None
        values.append(value)
    return values
