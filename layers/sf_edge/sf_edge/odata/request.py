"""An OData request as the feed sees it: the resource path and the system query options, parsed and bound to
the entity set's declaration. Every problem is an `ODataError` with the status the protocol calls for.

The query string is parsed here, from the raw string: `+` means a space (Salesforce Connect sends `+` between
words), and `%2B` a plus.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import unquote

from sf_edge.domain_errors import Conflict, DomainError, Invalid, NotFound, PreconditionFailed, Unavailable
from sf_edge.odata import ODataEngineError
from sf_edge.odata.expressions import NotSupported, ODataSyntaxError, OrderItem, parse_filter, parse_orderby
from sf_edge.odata.schema import EntitySet
from sf_edge.odata.search import SearchNode, SearchSyntaxError, parse_search
from sf_edge.odata.tree import (
    FUNCTIONS,
    LITERAL_KINDS,
    OPERATORS,
    PROPERTY_KINDS,
    UNARY,
    Binary,
    Call,
    In,
    Literal,
    Node,
    Property,
    Unary,
    fits,
    fold,
)

MAX_TOP = 1_000_000


class ODataError(ODataEngineError):
    """An error answered as OData error JSON: {"error": {"code", "message", "target"}}."""

    @classmethod
    def of(cls, error: DomainError) -> ODataError:
        """A refusal of the store or the domain, as the OData status and code that say it."""
        status, code = next(
            (found for kind, found in _DOMAIN_ERRORS.items() if isinstance(error, kind)), (400, "InvalidValue")
        )
        return cls(status, code, error.message, next(iter(error.fields), None))

    def __init__(self, status: int, code: str, message: str, target: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.target = target

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        return {"error": error}


def parse_query_string(raw: str) -> dict[str, str]:
    """Name → value; `+` is a space, percent-escapes are decoded after; a repeated system option is a 400."""
    if "#" in raw:
        raise ODataError(400, "InvalidQuery", "A query string cannot contain an unescaped '#'")
    options: dict[str, str] = {}
    for pair in filter(None, raw.split("&")):
        name, equals, value = pair.partition("=")
        if not equals:
            raise ODataError(400, "InvalidQuery", f"Query option {unquote(name)} has no value", unquote(name))
        if ";" in value and name.lstrip("$").lower() == "search":
            raise ODataError(400, "InvalidQuery", "An unescaped ';' cannot appear in $search", "$search")
        name = unquote(name.replace("+", " "))
        value = unquote(value.replace("+", " "))
        if name in options and name.startswith("$"):
            raise ODataError(400, "DuplicateOption", f"The query option {name} is given twice", name)
        options[name] = value
    return options


@dataclass(frozen=True)
class QueryOptions:
    """The system query options of a collection request, validated against the entity set."""

    filter: Node | None = None
    orderby: tuple[OrderItem, ...] = ()
    select: tuple[str, ...] | None = None
    top: int | None = None
    skip: int = 0
    count: bool = False
    search: SearchNode | None = None
    skiptoken: SkipToken = field(default_factory=lambda: SkipToken(0))
    raw: dict[str, str] = field(default_factory=dict)


_SUPPORTED = {"$filter", "$orderby", "$select", "$top", "$skip", "$count", "$search", "$skiptoken", "$format"}
_UNSUPPORTED = {"$expand", "$apply", "$compute", "$index", "$schemaversion", "$levels", "$deltatoken", "$id"}


def bind_options(entity_set: EntitySet, raw: dict[str, str], *, v2: bool = False) -> QueryOptions:
    """Validate the system query options (4.01: names without `$` and in any case are accepted too)."""
    options: dict[str, str] = {}
    for name, value in raw.items():
        canonical = "$" + name.lstrip("$").lower() if name.startswith("$") or name.lower() in _NAMES else name
        if canonical in options:  # 4.01: system query options are case-insensitive, `$` optional: one of each
            raise ODataError(400, "DuplicateOption", f"The query option {canonical} is given twice", canonical)
        if canonical in _UNSUPPORTED:
            if not _balanced(value):
                raise ODataError(400, "SyntaxError", f"Unbalanced parentheses in {canonical}", canonical)
            raise ODataError(501, "NotImplemented", f"{canonical} is not supported", canonical)
        if canonical.startswith("$") and canonical not in _SUPPORTED:
            raise ODataError(400, "UnknownOption", f"Unknown system query option {name}", name)
        if canonical.startswith("$"):
            options[canonical] = value
    if options.get("$format", "json").split(";")[0].lower() not in ("json", "application/json"):
        raise ODataError(501, "NotImplemented", "Only JSON is served", "$format")
    filter_node = _parsed(partial(parse_filter, v2=v2), options, "$filter") if "$filter" in options else None
    orderby = _parsed(partial(parse_orderby, v2=v2), options, "$orderby") if options.get("$orderby") else ()
    if filter_node is not None and _bind(entity_set, filter_node, "$filter") not in ("boolean", "any"):
        raise ODataError(400, "InvalidExpression", "$filter must be a condition (true or false)", "$filter")
    for item in orderby:
        _bind(entity_set, item.expression, "$orderby")
    return QueryOptions(
        filter=filter_node,
        orderby=orderby,
        select=_select(entity_set, options.get("$select")),
        top=_non_negative(options, "$top"),
        skip=_non_negative(options, "$skip") or 0,
        count=_boolean(options.get("$count", "false")),
        search=_search(options.get("$search")),
        skiptoken=decode_skiptoken(options["$skiptoken"]) if "$skiptoken" in options else SkipToken(0),
        raw=options,
    )


_NAMES = {n.lstrip("$") for n in _SUPPORTED | _UNSUPPORTED}


def _balanced(text: str) -> bool:
    """Parentheses balance outside quoted strings (enough to tell a malformed $expand from one we do not serve)."""
    depth = 0
    for part in re.split(r"'(?:[^']|'')*'", text):
        for char in part:
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth < 0:
                return False
    return depth == 0


def _parsed(parser: Any, options: dict[str, str], name: str) -> Any:
    try:
        return parser(options[name])
    except ODataSyntaxError as exc:
        raise ODataError(400, "SyntaxError", f"{name}: {exc}", name) from None
    except NotSupported as exc:
        raise ODataError(501, "NotImplemented", f"{name}: {exc}", name) from None


def _bind(entity_set: EntitySet, node: Node, option: str) -> str:
    """Every property an expression names must be declared (a typo is a 400, not an empty result), and every
    operator and function must get operands of a kind it takes, as its row of the tables says (`length(OrderID)`,
    `-CompanyName` are 400s, not errors while rows are read). Returns the expression's kind: string, number,
    boolean, date, other, or any."""

    def refuse(why: str) -> ODataError:
        return ODataError(400, "InvalidExpression", f"{option}: {why}", option)

    def takes(kind: str | None, given: str, what: str) -> None:
        if kind is not None and given not in (kind, "any"):
            raise refuse(f"{what} takes a {kind}, not a {given}")

    def kind_of(current: Node, operands: list[str]) -> str:
        match current:
            case Property(path=path):
                if len(path) > 1:
                    raise ODataError(501, "NotImplemented", f"Navigation {'/'.join(path)} is not supported", option)
                prop = entity_set.property(path[0])
                if prop is None:
                    raise ODataError(400, "UnknownProperty", f"{entity_set.name} has no property {path[0]}", option)
                return PROPERTY_KINDS.get(prop.type, "other")
            case Literal(type=type_):
                return LITERAL_KINDS.get(type_, "other")
            case Unary(op=op):
                unary = UNARY[op]
                takes(unary.operand, operands[0], unary.says)
                return unary.result
            case Binary(op=op):
                operator = OPERATORS[op]
                for operand in operands:
                    takes(operator.operands, operand, op)
                return operator.result
            case In():
                return "boolean"
            case Call(name=name):
                function = FUNCTIONS[name]
                for position, (kind, given) in enumerate(zip(function.arguments, operands, strict=False)):
                    takes(kind, given, f"{name}() argument {position + 1}")
                return function.result
        return "any"

    return fold(node, kind_of)


def _select(entity_set: EntitySet, value: str | None) -> tuple[str, ...] | None:
    if value is None or value.strip() in ("", "*"):
        return None
    names = tuple(part.strip() for part in value.split(","))
    for name in names:
        if name == "*":
            return None
        if any(mark in name for mark in "/(.@"):
            raise ODataError(501, "NotImplemented", f"$select of {name} is not supported", "$select")
        if entity_set.property(name) is None:
            raise ODataError(400, "UnknownProperty", f"{entity_set.name} has no property {name}", "$select")
    return names


def _non_negative(options: dict[str, str], name: str) -> int | None:
    value = options.get(name)
    if value is None:
        return None
    if not re.fullmatch(r"\d{1,9}", value):
        raise ODataError(400, "InvalidOption", f"{name} must be a non-negative integer, not {value!r}", name)
    return min(int(value), MAX_TOP)


def _boolean(value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise ODataError(400, "InvalidOption", f"$count must be true or false, not {value!r}", "$count")
    return value.lower() == "true"


def _search(value: str | None) -> SearchNode | None:
    """A free-text `$search` in the OData 4.01 search grammar (sf_edge.odata.search)."""
    if value is None:
        return None
    try:
        return parse_search(value)
    except SearchSyntaxError as exc:
        raise ODataError(400, "SyntaxError", f"$search: {exc}", "$search") from None


@dataclass(frozen=True)
class SkipToken:
    """Where the previous page stopped: rows of the window served, and (streamed pages) the position of the last
    row served in the plan's order, with the plan it belongs to."""

    served: int
    position: Any = None
    signature: str | None = None
    offset_only: bool = False


def encode_skiptoken(served: int, position: Any = None, signature: str | None = None) -> str:
    """An opaque token for the next link."""
    payload: dict[str, Any] = {"o": served} if position is None else {"n": served, "p": position, "s": signature}
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def _scalar(value: Any) -> bool:
    """A resume position's value: what a key or a sort value may be (a string, or an integer DynamoDB holds)."""
    return fits("String", value) or fits("Int64", value)


def decode_skiptoken(token: str) -> SkipToken:
    """The token this service issued, or a 400 (a forged one must never reach the store as a malformed key)."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if "p" in payload:
            served, position, signature = payload["n"], payload["p"], payload["s"]
            valid = isinstance(signature, str) and (
                _scalar(position)
                or (isinstance(position, dict) and bool(position) and all(map(_scalar, position.values())))
            )
            result = SkipToken(served, position, signature)
        else:
            served, valid = payload["o"], True
            result = SkipToken(served, None, offset_only=True)
    except (ValueError, KeyError, TypeError, AttributeError):
        valid, served, result = False, -1, SkipToken(0)
    if not valid or not isinstance(served, int) or isinstance(served, bool) or served < 0:
        raise ODataError(400, "InvalidSkipToken", "The $skiptoken is not one this service issued", "$skiptoken")
    return result


@dataclass(frozen=True)
class ResourcePath:
    """What the path addresses: the service document, $metadata, a collection, its $count, or one entity."""

    kind: str  # service | metadata | collection | count | entity
    entity_set: str | None = None
    key: dict[str, Any] | None = None


_SEGMENT = re.compile(r"^(?P<set>[A-Za-z_]\w*)(?:\((?P<key>.*)\))?$")


# Service-level resources of OData 4.0 (URL Conventions §4.x; Protocol §11.7 batch requests) this feed does not serve:
# a 501 says so (Protocol §9.3.1), where a 404 would say they do not exist. Salesforce Connect sends no batch.
_UNSERVED_RESOURCES = frozenset({"$batch", "$entity", "$all", "$crossjoin", "$root"})


def parse_path(path: str, entity_sets: dict[str, EntitySet]) -> ResourcePath:
    """`/`, `$metadata`, `Orders`, `Orders/$count`, `Orders(10248)`, `Order_Details(OrderID=1,ProductID=2)`."""
    segments = [unquote(s) for s in path.strip("/").split("/")] if path.strip("/") else []
    if not segments:
        return ResourcePath("service")
    if segments == ["$metadata"]:
        return ResourcePath("metadata")
    if segments[0].split("(", 1)[0] in _UNSERVED_RESOURCES:  # OData defines them; we do not serve them (§9.3.1)
        raise ODataError(
            501,
            "NotImplemented",
            f"{segments[0][:40]} is not supported: send each request on its own",
            segments[0][:40],
        )
    match = _SEGMENT.match(segments[0])
    if match is None or match.group("set") not in entity_sets:
        raise ODataError(404, "NotFound", f"No resource {segments[0]}")
    entity_set = entity_sets[match.group("set")]
    rest = segments[1:]
    if match.group("key") is None:
        if rest == ["$count"]:
            return ResourcePath("count", entity_set.name)
        if rest:
            raise ODataError(501, "NotImplemented", f"Path {'/'.join(segments)} is not supported")
        return ResourcePath("collection", entity_set.name)
    if rest:
        raise ODataError(501, "NotImplemented", f"Path {'/'.join(segments)} is not supported")
    return ResourcePath("entity", entity_set.name, parse_key(entity_set, match.group("key")))


def parse_key(entity_set: EntitySet, text: str) -> dict[str, Any]:
    """Key values, typed by the declaration; a single-part key may omit its name."""
    parts = [p for p in re.split(r",(?=(?:[^']*'[^']*')*[^']*$)", text) if p.strip()]
    if len(parts) == 1 and "=" not in parts[0].split("'")[0]:
        named = {entity_set.key[0]: parts[0]} if len(entity_set.key) == 1 else {}
    else:
        named = {}
        for part in parts:
            name, sep, value = part.partition("=")
            if not sep:
                raise ODataError(400, "InvalidKey", f"Key part {part!r} must be Name=value")
            named[name.strip()] = value.strip()
    if set(named) != set(entity_set.key):
        raise ODataError(400, "InvalidKey", f"{entity_set.name} is keyed by {', '.join(entity_set.key)}")
    key: dict[str, Any] = {}
    for name, literal_text in named.items():
        try:
            literal = parse_filter(literal_text)
        except (ODataSyntaxError, NotSupported):
            raise ODataError(400, "InvalidKey", f"{literal_text!r} is not a literal") from None
        prop = entity_set.property(name)
        assert prop is not None
        if not isinstance(literal, Literal) or not fits(prop.type, literal.value):  # an empty key: a 404 later
            raise ODataError(400, "InvalidKey", f"{name} must be an {prop.edm_type} literal, not {literal_text!r}")
        key[name] = literal.value
    return key


_DOMAIN_ERRORS: dict[type[DomainError], tuple[int, str]] = {
    NotFound: (404, "NotFound"),
    Conflict: (409, "Conflict"),
    PreconditionFailed: (412, "PreconditionFailed"),
    Invalid: (400, "InvalidValue"),
    Unavailable: (503, "ServiceUnavailable"),
}
