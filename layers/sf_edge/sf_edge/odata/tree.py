"""The OData expression tree: its nodes, one iterative walk over them, and one table per operator and function.

Every pass over a parsed `$filter` or `$orderby` (binding, the properties it reads, planning, compiling, its size,
its DynamoDB condition) is a `fold` over this tree, never a recursion of its own, so a deep expression costs a
list, not the stack. What an operator or a function *is* lives in one row of `OPERATORS`, `UNARY` or `FUNCTIONS`:
its arity and argument kinds (binding), its evaluator (rows), its DynamoDB rendering, which is also what makes it
pushable (storage), and for a comparison its flip (a literal on the left). Adding a function is one row here plus
its evaluator; adding an operator is one row here plus, for the parser, its precedence group.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from typing import Any

# ---- nodes -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    value: Any
    type: str  # Edm type name: String, Int64, Decimal, Double, Boolean, Date, DateTimeOffset, TimeOfDay, Guid, Null


@dataclass(frozen=True)
class Property:
    path: tuple[str, ...]


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Binary:
    op: str  # a key of OPERATORS
    left: Node
    right: Node


@dataclass(frozen=True)
class Unary:
    op: str  # a key of UNARY
    operand: Node


@dataclass(frozen=True)
class In:
    left: Node
    items: tuple[Literal, ...]


Node = Literal | Property | Call | Binary | Unary | In


def children(node: Node) -> tuple[Node, ...]:
    """The expressions directly inside a node (an `in` list's literals are not: they are values)."""
    match node:
        case Binary(left=left, right=right):
            return (left, right)
        case Unary(operand=operand):
            return (operand,)
        case In(left=left):
            return (left,)
        case Call(args=args):
            return args
    return ()


def fold[T](node: Node, leave: Callable[[Node, list[T]], T], enter: Callable[[Node], bool] | None = None) -> T:
    """The one walk: `leave(node, [the results of its children, in order])`, children first, iteratively.
    `enter(node)` False: the node's children are not walked (`leave` gets [] and reads the node itself)."""
    results: list[T] = []
    pending: list[tuple[Node, int]] = [(node, -1)]
    while pending:
        current, count = pending.pop()
        if count >= 0:
            taken = results[len(results) - count :] if count else []
            del results[len(results) - count :]
            results.append(leave(current, taken))
            continue
        inside = children(current) if enter is None or enter(current) else ()
        pending.append((current, len(inside)))
        pending += [(child, -1) for child in reversed(inside)]
    return results[0]


def walk(node: Node) -> Iterator[Node]:
    """Every node, parents before children (iterative)."""
    pending = [node]
    while pending:
        current = pending.pop()
        yield current
        pending += reversed(children(current))


def is_logical(node: Node) -> bool:
    """An `and` or an `or`: what a pass that judges conditions whole walks into (an `enter` for `fold`)."""
    return isinstance(node, Binary) and node.op in ("and", "or")


def balanced[T](pair: Callable[[T, T], T], operands: list[T]) -> T:
    """A chain of an associative operator as a balanced tree, `pair` joining two: a chain of any length is
    log2(terms) deep (the filter's and the search's parsers build their `and`/`or` chains so)."""
    while len(operands) > 1:
        paired = [pair(operands[i], operands[i + 1]) for i in range(0, len(operands) - 1, 2)]
        operands = paired + operands[len(operands) - len(operands) % 2 :]
    return operands[0]


def chain(node: Node, op: str) -> list[Node]:
    """The terms of an `and` (or `or`) chain, left to right, however it is nested (iterative)."""
    terms: list[Node] = []
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, Binary) and current.op == op:
            pending += [current.right, current.left]
        else:
            terms.append(current)
    return terms


# ---- kinds and literals -----------------------------------------------------------------------------------------

# What binding calls an expression's type: string, number, boolean, date, other, or any (null, unknown).
LITERAL_KINDS = {
    "String": "string",
    "Int64": "number",
    "Decimal": "number",
    "Double": "number",
    "Boolean": "boolean",
    "Date": "date",
    "DateTimeOffset": "date",
    "Null": "any",
}
PROPERTY_KINDS = {
    "String": "string",
    "Int16": "number",
    "Int32": "number",
    "Int64": "number",
    "Decimal": "number",
    "Double": "number",
    "Single": "number",
    "Boolean": "boolean",
    "DateTimeOffset": "date",
}
INTEGER_TYPES = frozenset({"Int16", "Int32", "Int64"})
_DYNAMO_NUMBER_LIMIT = 10**38  # DynamoDB numbers hold 38 digits


def fits(edm_type: str, value: Any, *, key: bool = False) -> bool:
    """The one "is this value of this type" test: whether DynamoDB compares `value` with an attribute of
    `edm_type` exactly as OData compares them: a string with a String, an integer DynamoDB can hold with an
    integer type, an integer or decimal with a Decimal, a boolean with a Boolean (never a boolean as a number).
    `key`: as a key value, which DynamoDB refuses empty, and keys are strings or integers."""
    if isinstance(value, bool):
        return edm_type == "Boolean" and not key
    if edm_type == "String":
        return isinstance(value, str) and (value != "" or not key)
    if edm_type in INTEGER_TYPES:
        return isinstance(value, int) and abs(value) < _DYNAMO_NUMBER_LIMIT
    if key:
        return False
    return edm_type == "Decimal" and isinstance(value, int | Decimal)


# ---- evaluation primitives (OData's null semantics) ---------------------------------------------------------------


def as_temporal(text: str, like: date) -> Any:
    """Stored ISO strings compared with date or date-time literals."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if isinstance(like, datetime):
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return parsed.date()


def comparable(left: Any, right: Any) -> tuple[Any, Any]:
    """Bring numbers, dates and date-times to a common type."""
    if {type(left), type(right)} == {Decimal, float}:
        return float(left), float(right)
    if isinstance(left, str) and isinstance(right, datetime | date):
        return as_temporal(left, right), right
    if isinstance(right, str) and isinstance(left, datetime | date):
        return left, as_temporal(right, left)
    if isinstance(left, datetime) and isinstance(right, date) and not isinstance(right, datetime):
        return left.date(), right
    if isinstance(right, datetime) and isinstance(left, date) and not isinstance(left, datetime):
        return left, right.date()
    return left, right


def equal(left: Any, right: Any) -> bool:
    left, right = comparable(left, right)
    return bool(left == right)


def both_and(left: Any, right: Any) -> Any:
    if left is False or right is False:
        return False
    return None if left is None or right is None else True


def either_or(left: Any, right: Any) -> Any:
    if left is True or right is True:
        return True
    return None if left is None or right is None else False


def _eq(left: Any, right: Any) -> Any:
    return (left is None and right is None) or (left is not None and right is not None and equal(left, right))


def _ne(left: Any, right: Any) -> Any:
    return not _eq(left, right)


def _valued(operation: Callable[[Any, Any], Any], absent: Any) -> Callable[[Any, Any], Any]:
    """An operator of two values: `absent` when either is null; values of different types (or a number past
    Decimal's range) are no match, never a crash."""

    def apply(left: Any, right: Any) -> Any:
        if left is None or right is None:
            return absent
        left, right = comparable(left, right)
        try:
            return operation(left, right)
        except (TypeError, ArithmeticError):
            return None

    return apply


def _divide(integral: bool, left: Any, right: Any) -> Any:  # by zero: an ArithmeticError, so null
    if integral and isinstance(left, int) and isinstance(right, int):
        return int(left / right)
    return Decimal(left) / Decimal(right) if not isinstance(left, float) else left / right


# ---- operators ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operator:
    """A binary operator: its parser group (precedence), the kind its operands take (None: any), its result kind,
    its evaluator, and for a comparison its flip and DynamoDB's operator (which makes it pushable)."""

    group: str  # logical | comparison | additive | multiplicative
    operands: str | None
    result: str
    evaluate: Callable[[Any, Any], Any]
    flipped: str | None = None
    dynamo: str | None = None


def _compare(name: str) -> Callable[[Any, Any], Any]:
    return _valued(getattr(operator, name), False)


OPERATORS: dict[str, Operator] = {
    "and": Operator("logical", "boolean", "boolean", both_and),
    "or": Operator("logical", "boolean", "boolean", either_or),
    "eq": Operator("comparison", None, "boolean", _eq, flipped="eq", dynamo="="),
    "ne": Operator("comparison", None, "boolean", _ne, flipped="ne", dynamo="<>"),
    "gt": Operator("comparison", None, "boolean", _compare("gt"), flipped="lt", dynamo=">"),
    "ge": Operator("comparison", None, "boolean", _compare("ge"), flipped="le", dynamo=">="),
    "lt": Operator("comparison", None, "boolean", _compare("lt"), flipped="gt", dynamo="<"),
    "le": Operator("comparison", None, "boolean", _compare("le"), flipped="ge", dynamo="<="),
    "add": Operator("additive", "number", "number", _valued(lambda a, b: a + b, None)),
    "sub": Operator("additive", "number", "number", _valued(lambda a, b: a - b, None)),
    "mul": Operator("multiplicative", "number", "number", _valued(lambda a, b: a * b, None)),
    "div": Operator("multiplicative", "number", "number", _valued(partial(_divide, True), None)),
    "divby": Operator("multiplicative", "number", "number", _valued(partial(_divide, False), None)),
    "mod": Operator("multiplicative", "number", "number", _valued(lambda a, b: a % b, None)),
}
# The one flip table: `5 lt Price` is `Price gt 5`.
FLIPPED = {name: row.flipped for name, row in OPERATORS.items() if row.flipped}


def group(name: str) -> frozenset[str]:
    """The operators of one parser group."""
    return frozenset(op for op, row in OPERATORS.items() if row.group == name)


@dataclass(frozen=True)
class UnaryOperator:
    operand: str
    result: str
    evaluate: Callable[[Any], Any]
    says: str  # how a refusal names it


UNARY: dict[str, UnaryOperator] = {
    "not": UnaryOperator("boolean", "boolean", lambda value: None if value is None else not value, "not"),
    "-": UnaryOperator("number", "number", lambda value: None if value is None else -value, "negation (-)"),
}


# ---- functions ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Function:
    """A canonical function: the kinds of its arguments (the last `optional` may be left out), its result kind,
    its evaluator (called with non-null values only: a null argument makes the call null), and DynamoDB's
    condition function when a call on a string property with a non-empty string literal can be pushed down."""

    arguments: tuple[str, ...]
    result: str
    evaluate: Callable[..., Any]
    optional: int = 0
    dynamo: str | None = None

    @property
    def arity(self) -> tuple[int, int]:
        return len(self.arguments) - self.optional, len(self.arguments)


def _substring(text: Any, start: Any, length: Any = None) -> str:
    begin = max(0, int(start))
    return str(text)[begin:] if length is None else str(text)[begin : begin + max(0, int(length))]


_A_MOMENT = datetime(2000, 1, 1, tzinfo=UTC)  # what `as_temporal` reads a stored text as: a date-time


def _moment(value: Any) -> Any:
    """A date or date-time value, a stored ISO text read as one."""
    return as_temporal(value, _A_MOMENT) if isinstance(value, str) else value


def _part_of(moment_part: str, value: Any) -> Any:
    return getattr(_moment(value), moment_part, None)


def _fractional_seconds(value: Any) -> Any:
    moment = _moment(value)
    return Decimal(moment.microsecond) / 1_000_000 if isinstance(moment, datetime) else None


def _integral(rounding: str, number: Any) -> Any:
    try:
        return Decimal(str(number)).to_integral_value(rounding=rounding)
    except ArithmeticError:  # past what Decimal's context holds (round(1e308)): no value, no crash
        return None


FUNCTIONS: dict[str, Function] = {
    "contains": Function(("string", "string"), "boolean", lambda t, p: str(p) in str(t), dynamo="contains"),
    "startswith": Function(
        ("string", "string"), "boolean", lambda t, p: str(t).startswith(str(p)), dynamo="begins_with"
    ),
    "endswith": Function(("string", "string"), "boolean", lambda t, p: str(t).endswith(str(p))),
    "length": Function(("string",), "number", len),
    "indexof": Function(("string", "string"), "number", lambda t, p: str(t).find(str(p))),
    "substring": Function(("string", "number", "number"), "string", _substring, optional=1),
    "tolower": Function(("string",), "string", lambda t: str(t).lower()),
    "toupper": Function(("string",), "string", lambda t: str(t).upper()),
    "trim": Function(("string",), "string", lambda t: str(t).strip()),
    "concat": Function(("string", "string"), "string", lambda a, b: f"{a}{b}"),
    **{
        part: Function(("date",), "number", partial(_part_of, part))
        for part in ("year", "month", "day", "hour", "minute", "second")
    },
    "fractionalseconds": Function(("date",), "number", _fractional_seconds),
    "round": Function(("number",), "number", partial(_integral, ROUND_HALF_UP)),
    "floor": Function(("number",), "number", partial(_integral, "ROUND_FLOOR")),
    "ceiling": Function(("number",), "number", partial(_integral, "ROUND_CEILING")),
}
# Valid OData this service does not serve (answered 501, not 400).
UNSUPPORTED_FUNCTIONS = frozenset(
    {
        "matchespattern",
        "totalseconds",
        "date",
        "time",
        "totaloffsetminutes",
        "now",
        "maxdatetime",
        "mindatetime",
        "cast",
        "isof",
        "geo.distance",
        "geo.intersects",
        "geo.length",
        "hassubset",
        "hassubsequence",
        "case",
    }
)


def call(name: str, values: list[Any]) -> Any:
    """A function's value: null when any argument is."""
    if any(value is None for value in values):
        return None
    return FUNCTIONS[name].evaluate(*values)


def evaluate(node: Node, row: dict[str, Any]) -> Any:
    """The value of an expression for one row, by the tables (the reference the compiled evaluator is held to):
    null propagates as OData says (comparisons with null are false)."""

    def leave(current: Node, values: list[Any]) -> Any:
        match current:
            case Literal(value=value):
                return value
            case Property(path=path):
                found: Any = row
                for segment in path:
                    found = found.get(segment) if isinstance(found, dict) else None
                return found
            case Unary(op=op):
                return UNARY[op].evaluate(values[0])
            case In(items=items):
                needle = values[0]
                return needle is not None and any(equal(needle, item.value) for item in items)
            case Binary(op=op):
                return OPERATORS[op].evaluate(values[0], values[1])
            case Call(name=name):
                return call(name, values)
        raise TypeError(f"not an expression: {current!r}")

    return fold(node, leave)
