"""OData 4.01 expressions: `$filter` and `$orderby` parsed into a small AST, and evaluated over rows.

Parsing is ours because no maintained Python library parses OData 4.01 expressions into an AST we can plan
DynamoDB access from. The grammar follows the OASIS ABNF (common expressions, literals with quote escaping, the
4.01 `in` operator); what parses but is not served (lambdas, `$root`, geo functions, casts) raises
`NotSupported` (answered 501), anything malformed raises `ODataSyntaxError` (answered 400) with the offset.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import partial
from typing import Any
from uuid import UUID

from sf_edge.odata import ODataEngineError
from sf_edge.odata.tree import (
    FUNCTIONS,
    OPERATORS,
    UNARY,
    UNSUPPORTED_FUNCTIONS,
    Binary,
    Call,
    In,
    Literal,
    Node,
    Property,
    Unary,
    as_temporal,
    balanced,
    call,
    chain,
    equal,
    evaluate,
    fold,
    group,
    walk,
)

__all__ = [
    "Binary",
    "Call",
    "In",
    "Literal",
    "Node",
    "NotSupported",
    "ODataSyntaxError",
    "OrderItem",
    "Property",
    "Unary",
    "compile_expression",
    "depth",
    "evaluate",
    "expression_size",
    "parse_filter",
    "parse_orderby",
]


class ODataSyntaxError(ODataEngineError, ValueError):
    """Malformed expression: a 400 with the offset where parsing failed."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} (at offset {offset})")
        self.offset = offset


class NotSupported(ODataEngineError):  # noqa: N818 - an answer (501), not a failure of ours
    """Valid OData that this service does not implement: a 501."""


# ---- tokens ------------------------------------------------------------------------------------------------------

_DATE = r"-?\d{4,}-\d{2}-\d{2}"
_TIME = r"\d{2}:\d{2}(?::\d{2}(?:\.\d{1,12})?)?"
_TOKEN_RE = re.compile(
    r"""
    (?P<ws>[ \t]+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<datetime>"""
    + _DATE
    + "T"
    + _TIME
    + r"""(?:Z|[+-]\d{2}:\d{2}))
  | (?P<guid>[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![\w-]))
  | (?P<date>"""
    + _DATE
    + r"""(?![\dT:]))
  | (?P<timeofday>\d{2}:\d{2}:\d{2}(?:\.\d{1,12})?(?![\w:]))
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?:[mMdDfFlL])?(?![\w.]))
  | (?P<name>\$?[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)
  | (?P<punct>[(),/:])
  | (?P<minus>-)
  | (?P<json>[\[\]{}"])
  | (?P<at>@)
  | (?P<other>[\s\S])
    """,
    re.VERBOSE,
)

# The parser's precedence groups, from the operator table (`has` parses, and is answered 501).
COMPARISON = group("comparison") | {"has"}
ADDITIVE = group("additive")
MULTIPLICATIVE = group("multiplicative")
KEYWORDS = COMPARISON | ADDITIVE | MULTIPLICATIVE | {"and", "or", "not", "in", "asc", "desc"}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    offset: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    offset = 0
    while offset < len(text):
        match = _TOKEN_RE.match(text, offset)
        assert match is not None  # `other` matches any character; the parser reports it where it stands
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Token(kind, match.group(), offset))
        offset = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


# ---- parser ------------------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, *, v2: bool) -> None:
        self.v2 = v2
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def _next(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _is_word(self, *words: str) -> bool:
        # ABNF literal strings are case-insensitive: 4.01 accepts `EQ`, `And`, `Desc`.
        return self.token.kind == "name" and self.token.text.lower() in words

    def _word(self) -> str:
        return self._next().text.lower()

    def _expect(self, text: str) -> None:
        if self.token.text != text:
            raise ODataSyntaxError(f"Expected {text!r}, found {self.token.text or 'end of input'!r}", self.token.offset)
        self.index += 1

    def expression(self) -> Node:
        return self._or()

    def _or(self) -> Node:
        operands = [self._and()]
        while self._is_word("or"):
            self._next()
            operands.append(self._and())
        return balanced(partial(Binary, "or"), operands)

    def _and(self) -> Node:
        operands = [self._not()]
        while self._is_word("and"):
            self._next()
            operands.append(self._not())
        return balanced(partial(Binary, "and"), operands)

    def _not(self) -> Node:
        if self._is_word("not"):
            self._next()
            return Unary("not", self._not())
        return self._comparison()

    def _comparison(self) -> Node:
        node = self._additive()
        if self._is_word(*COMPARISON):
            op = self._word()
            if op == "has":
                raise NotSupported("The has operator (enumeration flags) is not supported")
            return Binary(op, node, self._additive())
        if self._is_word("in"):
            self._next()
            return In(node, self._list())
        return node

    def _list(self) -> tuple[Literal, ...]:
        if self.token.kind == "json":
            raise NotSupported("JSON arrays after in are not supported; use a parenthesized list")
        start = self.token.offset
        self._expect("(")
        if self.token.text == ")":
            self._next()
            return ()
        items: list[Node] = [self.expression()]
        while self.token.text == ",":
            self._next()
            items.append(self._primary())
        self._expect(")")
        literals = [item for item in items if isinstance(item, Literal)]
        if len(literals) == len(items):
            return tuple(literals)
        if len(items) == 1:
            raise NotSupported("in with a collection-valued expression is not supported")
        raise ODataSyntaxError("Lists may only hold primitive literals", start)

    def _additive(self) -> Node:
        node = self._multiplicative()
        while self._is_word(*ADDITIVE):
            node = Binary(self._word(), node, self._multiplicative())
        return node

    def _multiplicative(self) -> Node:
        node = self._unary()
        while self._is_word(*MULTIPLICATIVE):
            node = Binary(self._word(), node, self._unary())
        return node

    def _unary(self) -> Node:
        if self.token.kind == "minus":
            self._next()
            return Unary("-", self._unary())
        return self._primary()

    def _primary(self) -> Node:
        token = self.token
        kind = token.kind
        if kind == "punct" and token.text == "(":
            self._next()
            node = self.expression()
            if self.token.text == ",":
                raise ODataSyntaxError("Lists are only allowed right of the in operator", self.token.offset)
            self._expect(")")
            return node
        if kind in ("string", "number", "date", "datetime", "timeofday", "guid"):
            self._next()
            return _literal(token)
        if kind == "name":
            return self._name()
        if kind in ("json", "at"):
            raise NotSupported("JSON array and object literals and annotation values are not supported")
        raise ODataSyntaxError(f"Expected an expression, found {token.text or 'end of input'!r}", token.offset)

    def _name(self) -> Node:
        token = self._next()
        word = token.text
        if word.lower() in ("true", "false"):
            return Literal(word.lower() == "true", "Boolean")
        if word.lower() == "null":
            return Literal(None, "Null")
        if word in ("INF", "NaN"):
            return Literal(float(word.replace("INF", "inf")), "Double")
        if word.lower() in KEYWORDS:
            raise ODataSyntaxError(f"Expected an expression, found the operator {word!r}", token.offset)
        if word.startswith("$"):
            raise NotSupported(f"{word} is not supported")
        adjacent = self.token.offset == token.offset + len(word)
        if word in ("any", "all") and self.token.text == "(":
            raise ODataSyntaxError(f"{word}() needs a collection path before it", token.offset)
        if self.token.text == "(" and adjacent:
            return self._call(word, token.offset)
        if self.token.kind == "string" and adjacent and self.v2 and word.lower() in _V2_TYPED:
            return _v2_literal(word.lower(), self._next())
        if self.token.kind == "string" and adjacent:
            raise NotSupported(f"Typed literal {word}'...' (duration, enumeration, geography) is not supported")
        if "." in word:
            if self.token.text == "/" and adjacent:
                raise NotSupported(f"Type cast {word} is not supported")
            raise ODataSyntaxError(f"Qualified name {word} must be a function call or a type cast", self.token.offset)
        path = [word]
        while self.token.text == "/" and self.token.offset == token.offset + len("/".join(path)):
            self._next()
            segment = self._next()
            if segment.kind == "at":
                raise NotSupported("Annotation values are not supported")
            if segment.kind != "name" or segment.text.lower() in KEYWORDS:
                raise ODataSyntaxError("Expected a property name after '/'", segment.offset)
            if segment.text == "all" and self.token.text == "(" and self.tokens[self.index + 1].text == ")":
                raise ODataSyntaxError("all() needs a lambda expression", segment.offset)
            if (
                segment.text.startswith("$")
                or segment.text in ("any", "all")
                or (self.token.text == "(" or "." in segment.text)
            ):
                raise NotSupported(f"Path segment {segment.text} (lambda, function, cast, count) is not supported")
            path.append(segment.text)
        return Property(tuple(path))

    def _call(self, name: str, offset: int) -> Node:
        if self.v2 and name == "substringof":  # OData 2.0: substringof(part, text) is contains(text, part)
            self._expect("(")
            part = self.expression()
            self._expect(",")
            text = self.expression()
            self._expect(")")
            return Call("contains", (text, part))
        if name.lower() in UNSUPPORTED_FUNCTIONS or name not in FUNCTIONS:
            # Bound and unbound custom functions, key access and the functions we do not serve are valid OData.
            raise NotSupported(f"The function or key access {name}(...) is not supported")
        self._expect("(")
        args: list[Node] = []
        if self.token.text != ")":
            args.append(self.expression())
            while self.token.text == ",":
                self._next()
                args.append(self.expression())
        self._expect(")")
        low, high = FUNCTIONS[name].arity
        if not low <= len(args) <= high:
            raise ODataSyntaxError(f"{name} takes {low if low == high else f'{low} to {high}'} argument(s)", offset)
        return Call(name, tuple(args))

    def finish(self) -> None:
        if self.token.kind != "end":
            raise ODataSyntaxError(f"Unexpected {self.token.text!r}", self.token.offset)


def _literal(token: _Token) -> Literal:
    text = token.text
    try:
        match token.kind:
            case "string":
                return Literal(text[1:-1].replace("''", "'"), "String")
            case "number":
                suffix = text[-1].lower() if text[-1].isalpha() else ""  # the token's m, d, f or l
                digits = text[:-1] if suffix else text
                if suffix in ("d", "f") or "e" in digits.lower():
                    return Literal(float(digits), "Double")
                if suffix == "m" or "." in digits:
                    return Literal(Decimal(digits), "Decimal")
                return Literal(int(digits), "Int64")
            case "date":
                return Literal(date.fromisoformat(text), "Date")
            case "datetime":
                return Literal(datetime.fromisoformat(text.replace("Z", "+00:00")), "DateTimeOffset")
            case "timeofday":
                return Literal(time.fromisoformat(text), "TimeOfDay")
            case _:
                return Literal(UUID(text), "Guid")
    except ValueError:
        raise ODataSyntaxError(f"Invalid {token.kind} literal {text!r}", token.offset) from None


_V2_TYPED = {"datetime", "datetimeoffset", "guid", "time"}


def _v2_literal(kind: str, token: _Token) -> Literal:
    """OData 2.0 typed literals: datetime'1996-07-04T00:00:00' (UTC when no offset), datetimeoffset'...', guid'...'."""
    text = token.text[1:-1]
    try:
        if kind == "guid":
            return Literal(UUID(text), "Guid")
        if kind == "time":
            raise NotSupported("time'...' (durations) is not supported")
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return Literal(moment if moment.tzinfo else moment.replace(tzinfo=UTC), "DateTimeOffset")
    except ValueError:
        raise ODataSyntaxError(f"Invalid {kind} literal {token.text}", token.offset) from None


MAX_DEPTH = 100  # levels of a parsed expression: every walk over the tree stays far from Python's recursion limit


def depth(node: Node) -> int:
    """The levels of an expression."""
    return fold(node, lambda _node, levels: 1 + max(levels, default=0))


def _too_deep() -> ODataSyntaxError:
    return ODataSyntaxError(f"The expression is nested too deeply: at most {MAX_DEPTH} levels are allowed", 0)


def _expression(parser: _Parser) -> Node:
    """One expression; nesting past what the recursive-descent parser can follow is the same refusal as depth."""
    try:
        return parser.expression()
    except RecursionError:
        raise _too_deep() from None


def _within_depth(node: Node) -> Node:
    if depth(node) > MAX_DEPTH:
        raise _too_deep()
    return node


def parse_filter(text: str, *, v2: bool = False) -> Node:
    """The AST of a `$filter` value (`v2`: OData 2.0's substringof and typed literals)."""
    if not text.strip():
        raise ODataSyntaxError("A filter expression cannot be empty", 0)
    if text != text.strip(" \t"):
        raise ODataSyntaxError(
            "An expression may not start or end with whitespace", 0 if text[0] in " \t" else len(text)
        )
    parser = _Parser(text, v2=v2)
    node = _expression(parser)
    parser.finish()
    return _within_depth(node)


@dataclass(frozen=True)
class OrderItem:
    expression: Node
    descending: bool = False


def parse_orderby(text: str, *, v2: bool = False) -> tuple[OrderItem, ...]:
    """The items of an `$orderby` value: expressions with asc/desc."""
    parser = _Parser(text, v2=v2)
    items: list[OrderItem] = []
    while True:
        node = _within_depth(_expression(parser))
        descending = False
        if parser._is_word("asc", "desc"):
            descending = parser._word() == "desc"
        items.append(OrderItem(node, descending))
        if parser.token.text != ",":
            break
        parser._next()
    parser.finish()
    return tuple(items)


# ---- compiled evaluation ----------------------------------------------------------------------------------------

Evaluator = Callable[[dict[str, Any]], Any]
_FAST_TYPES = (str, int, Decimal)


def compile_expression(node: Node) -> Evaluator:
    """`evaluate` as a function of the row, built once per request (a fold over the tree): the same primitives and
    null semantics, without walking the tree for every row. `and`/`or` chains are flat (one loop over the terms,
    however the chain nests) and an `or` of equalities of one property with literals is a set lookup."""
    chains: dict[Evaluator, tuple[str, list[Evaluator]]] = {}  # a chain's evaluator -> its op and terms

    def leave(current: Node, inside: list[Evaluator]) -> Evaluator:
        if isinstance(current, Binary) and current.op in ("and", "or"):
            return _compile_chain(current, inside, chains)
        return _compiled(current, inside)

    return fold(node, leave)


def _compiled(node: Node, inside: list[Evaluator]) -> Evaluator:
    match node:
        case Literal(value=value):
            return lambda row: value
        case Property(path=(name,)):
            return lambda row: row.get(name)
        case Property():
            return lambda row: evaluate(node, row)
        case Unary(op="not"):
            inner = inside[0]

            def negated(row: dict[str, Any]) -> Any:
                value = inner(row)
                return None if value is None else not value

            return negated
        case Unary(op=op):
            operand, apply = inside[0], UNARY[op].evaluate
            return lambda row: apply(operand(row))
        case In(items=items):
            return _compile_in(inside[0], [item.value for item in items])
        case Binary(op=op, left=left, right=right) if OPERATORS[op].group == "comparison":
            return _compile_comparison(op, left, right, inside)
        case Binary(op=op):
            get_left, get_right = inside
            apply_operator = OPERATORS[op].evaluate
            return lambda row: apply_operator(get_left(row), get_right(row))
        case Call(name=name, args=args):
            return _compile_call(name, args, inside)
    return lambda row: evaluate(node, row)


def _compile_chain(
    node: Binary, inside: list[Evaluator], chains: dict[Evaluator, tuple[str, list[Evaluator]]]
) -> Evaluator:
    op = node.op
    if op == "or":
        same = _equalities_of_one_property(chain(node, "or"))
        if same is not None:
            name, values = same
            return _compile_in(lambda row: row.get(name), values)
    terms: list[Evaluator] = []
    for term in inside:  # a nested chain of the same op: its terms join this one's loop
        nested = chains.get(term)
        terms += nested[1] if nested is not None and nested[0] == op else [term]
    stop = op == "or"  # `or` is decided by the first true term, `and` by the first false one

    def evaluator(row: dict[str, Any]) -> Any:
        unknown = False
        for term in terms:
            value = term(row)
            if value is stop:
                return stop
            unknown = unknown or value is None
        return None if unknown else not stop

    chains[evaluator] = (op, terms)
    return evaluator


def _equalities_of_one_property(terms: list[Node]) -> tuple[str, list[Any]] | None:
    name: str | None = None
    values: list[Any] = []
    for term in terms:
        if not (isinstance(term, Binary) and term.op == "eq"):
            return None
        prop, literal = term.left, term.right
        if isinstance(prop, Literal):
            prop, literal = literal, prop
        if not (isinstance(prop, Property) and isinstance(literal, Literal)) or literal.value is None:
            return None
        match prop.path:
            case (single,) if name in (None, single):
                name = single
            case _:
                return None
        values.append(literal.value)
    return (name, values) if name is not None else None


def _compile_in(needle: Evaluator, values: list[Any]) -> Evaluator:
    plain = [v for v in values if v is not None]
    fast = frozenset(v for v in plain if type(v) in (str, int))

    def member(row: dict[str, Any]) -> bool:
        value = needle(row)
        if value is None:
            return False
        # Only which of two paths answers (the set lookup, or `equal` item by item, the differential tests hold them
        # to the same answers): this guard's mutants cannot be told apart, so it is not mutated.
        if type(value) is str or type(value) is int:  # pragma: no mutate
            if value in fast:
                return True
            if len(fast) == len(plain):
                return False
        return any(equal(value, item) for item in plain)

    return member


def _compile_comparison(op: str, left: Node, right: Node, inside: list[Evaluator]) -> Evaluator:
    get_left, get_right = inside
    compare = OPERATORS[op].evaluate
    if isinstance(left, Property) and isinstance(right, Literal) and type(right.value) in _FAST_TYPES:
        literal, kind = right.value, type(right.value)
        numeric = kind is not str

        def against_literal(row: dict[str, Any]) -> Any:
            value = get_left(row)
            # As above: a direct comparison of like types, else the table's evaluator; not mutated.
            like = type(value) is kind or (numeric and type(value) in (int, Decimal))  # pragma: no mutate
            if value is not None and like:  # pragma: no mutate
                match op:
                    case "eq":
                        return value == literal
                    case "ne":
                        return value != literal
                    case "gt":
                        return value > literal
                    case "ge":
                        return value >= literal
                    case "lt":
                        return value < literal
                    case "le":
                        return value <= literal
            return compare(value, literal)

        return against_literal
    if isinstance(right, Literal) and isinstance(right.value, datetime | date):
        parsed: dict[str, Any] = {}  # stored date-times repeat: parse each text once per request
        literal_moment = right.value

        def against_moment(row: dict[str, Any]) -> Any:
            value = get_left(row)
            if isinstance(value, str):
                if value not in parsed:
                    parsed[value] = as_temporal(value, literal_moment)
                value = parsed[value]
            return compare(value, literal_moment)

        return against_moment
    return lambda row: compare(get_left(row), get_right(row))


def _compile_call(name: str, args: tuple[Node, ...], compiled: list[Evaluator]) -> Evaluator:
    if (
        name in ("contains", "startswith", "endswith")
        and isinstance(args[1], Literal)
        and isinstance(args[1].value, str)
    ):
        get_text, part = compiled[0], args[1].value

        def text_test(row: dict[str, Any]) -> Any:
            text = get_text(row)
            if type(text) is str:
                if name == "contains":
                    return part in text
                return text.startswith(part) if name == "startswith" else text.endswith(part)
            return call(name, [text, part])

        return text_test
    return lambda row: call(name, [arg(row) for arg in compiled])


def expression_size(node: Node) -> int:
    """The number of nodes in an expression, an `in` list's values included."""
    return sum(1 + (len(current.items) if isinstance(current, In) else 0) for current in walk(node))
