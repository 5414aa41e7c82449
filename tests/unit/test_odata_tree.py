"""sf_edge.odata.tree: one walk over the expression tree, one row per operator and function.

The tables are what every pass reads, so they are checked as tables: each function's row is what the parser,
the binder and the evaluator use; each comparison's flip is a flip. The walk is checked at depths no recursion
survives, and every request path is refused cleanly (400) at 5,000 levels, never a RecursionError or a 500.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from fakes.odata_store import MemoryTable
from sf_edge.odata import planner
from sf_edge.odata.dialects import V2
from sf_edge.odata.expressions import NotSupported, compile_expression, depth, expression_size, parse_filter
from sf_edge.odata.feed import Feed, FeedAuth, FeedRequest
from sf_edge.odata.request import ODataError, bind_options
from sf_edge.odata.schema import BY_NAME
from sf_edge.odata.tree import (
    FLIPPED,
    FUNCTIONS,
    OPERATORS,
    UNSUPPORTED_FUNCTIONS,
    Binary,
    Call,
    Literal,
    Property,
    Unary,
    evaluate,
    fits,
    fold,
    walk,
)

ORDERS = BY_NAME["Orders"]
ROOT_URL = "https://edge.example/odata/v4/"
ROW = {"ShipName": "Vins et alcools Chevalier", "Freight": Decimal("32.38"), "OrderDate": "1996-07-04T00:00:00Z"}
# A sample argument of each kind (what a row of the table may be called with).
SAMPLES = {"string": "ShipName", "number": "Freight", "date": "OrderDate"}


# ---- the tables ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_function_row_is_what_the_parser_binder_and_evaluator_use(name: str) -> None:
    function = FUNCTIONS[name]
    low, high = function.arity
    arguments = [SAMPLES[kind] for kind in function.arguments[:low]]
    node = parse_filter(f"{name}({','.join(arguments)}) ne null")
    assert isinstance(node, Binary)
    assert isinstance(node.left, Call)
    bind_options(ORDERS, {"$filter": f"{name}({','.join(arguments)}) ne null"})  # the kinds the row names bind
    value = evaluate(node.left, ROW)
    assert value is not None
    assert compile_expression(node.left)(ROW) == value  # the compiled evaluator reads the same row
    # One argument too many is the parser's 400, from the row's arity.
    with pytest.raises(Exception, match="argument"):
        parse_filter(f"{name}({','.join([*arguments, *[SAMPLES[k] for k in function.arguments[low:]], 'ShipName'])})")
    # A null argument makes the call null (the table's evaluators never see one).
    assert evaluate(Call(name, tuple(Literal(None, "Null") for _ in range(high))), {}) is None


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_a_wrong_argument_kind_is_refused_by_the_row(name: str) -> None:
    function = FUNCTIONS[name]
    wrong = {"string": "Freight", "number": "ShipName", "date": "ShipName"}
    arguments = [wrong[kind] for kind in function.arguments[: function.arity[0]]]
    with pytest.raises(ODataError) as refused:
        bind_options(ORDERS, {"$filter": f"{name}({','.join(arguments)}) ne null"})
    assert refused.value.status == 400
    assert f"{name}() argument 1 takes a {function.arguments[0]}" in refused.value.message


def test_functions_outside_the_table_are_501_not_400() -> None:
    for name in sorted(UNSUPPORTED_FUNCTIONS - {"geo.distance", "geo.intersects", "geo.length"}):
        with pytest.raises(NotSupported):
            parse_filter(f"{name}(ShipName) eq 1")
    with pytest.raises(NotSupported):
        parse_filter("reverse(ShipName) eq 'x'")  # not (yet) a row


@pytest.mark.parametrize("op", sorted(FLIPPED))
@pytest.mark.parametrize("left", [1, 5, None])
def test_every_flip_keeps_the_truth(op: str, left: Any) -> None:
    assert FLIPPED[FLIPPED[op]] == op
    forward = evaluate(Binary(op, Literal(left, "Int64"), Property(("N",))), {"N": 3})
    flipped = evaluate(Binary(FLIPPED[op], Property(("N",)), Literal(left, "Int64")), {"N": 3})
    assert forward == flipped


def test_every_comparison_has_a_flip_and_a_dynamodb_operator() -> None:
    comparisons = {name for name, operator in OPERATORS.items() if operator.group == "comparison"}
    assert comparisons == set(FLIPPED)
    assert all(OPERATORS[name].dynamo for name in comparisons)


@pytest.mark.parametrize(
    ("edm_type", "value", "as_value", "as_key"),
    [
        ("String", "ALFKI", True, True),
        ("String", "", True, False),  # DynamoDB refuses an empty key value
        ("Int32", 10248, True, True),
        ("Int32", True, False, False),  # a boolean is never a number
        ("Int64", 10**38, False, False),  # past DynamoDB's 38 digits
        ("Decimal", Decimal("1.5"), True, False),
        ("Decimal", 2, True, False),
        ("Boolean", False, True, False),
        ("Double", 1.5, False, False),  # not compared exactly: never pushed down
        ("DateTimeOffset", datetime(2020, 1, 1, tzinfo=UTC), False, False),
    ],
)
def test_one_literal_fits_type(edm_type: str, value: Any, as_value: bool, as_key: bool) -> None:
    assert fits(edm_type, value) is as_value
    assert fits(edm_type, value, key=True) is as_key


# ---- the walk, at any depth ----------------------------------------------------------------------------------------


def _deep_not(levels: int) -> Any:
    node: Any = Binary("gt", Property(("Freight",)), Literal(1, "Int64"))
    for _ in range(levels):
        node = Unary("not", node)
    return node


def test_the_walk_is_iterative_at_depths_no_recursion_survives() -> None:
    node = _deep_not(50_000)
    assert depth(node) == 50_002
    assert expression_size(node) == 50_003
    assert evaluate(node, {"Freight": 5}) is True  # an even number of nots
    assert sum(1 for _ in walk(node)) == 50_003
    assert fold(node, lambda current, inside: 1 + sum(inside)) == 50_003
    assert planner.pushable(ORDERS, node) is False  # judged without descending


def test_fold_hands_children_in_order() -> None:
    node = parse_filter("concat(ShipName, 'x') eq 'y' and Freight sub 1 gt 2")
    order = fold(node, lambda current, inside: [name for names in inside for name in names] + [type(current).__name__])
    assert order == [
        "Property",
        "Literal",
        "Call",
        "Literal",
        "Binary",
        "Property",
        "Literal",
        "Binary",
        "Literal",
        "Binary",
        "Binary",
    ]


# ---- every request path at 5,000 levels -----------------------------------------------------------------------------

N = 5_000
SHAPES = {
    "parentheses": "(" * N + "Freight gt 1" + ")" * N,
    "not": "not " * N + "(Freight gt 1)",
    "negation": "-" * N + "Freight gt 1",
    "functions": "tolower(" * N + "ShipName" + ")" * N + " eq 'x'",
    "arithmetic": "Freight add (" * N + "1" + ")" * N + " gt 1",
}


def _feed() -> Feed:
    table = MemoryTable(ORDERS, [{"OrderID": 1, "CustomerID": "ALFKI", "Freight": Decimal(5), "ShipName": "x"}])
    return Feed(lambda _s, stats: table.store(stats), FeedAuth("none"), page_size=100, entity_sets=(ORDERS,))


def _answer(path: str, query: str, *, v2: bool = False) -> tuple[int, dict[str, Any]]:
    request = FeedRequest("GET", path, query, {"Accept": "application/json"}, ROOT_URL)
    response = _feed().handle(request, V2() if v2 else None)
    return response.status, json.loads(response.body)


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("option", ["$filter", "$orderby"])
@pytest.mark.parametrize("v2", [False, True], ids=["v4", "v2"])
def test_5000_levels_are_refused_cleanly_on_every_path(shape: str, option: str, v2: bool) -> None:
    text = SHAPES[shape] if option == "$filter" else SHAPES[shape].rsplit(" ", 2)[0]
    status, body = _answer("/Orders", f"{option}={text}", v2=v2)
    assert status == 400, body
    message = body["error"]["message"]
    assert "nested too deeply" in (message if isinstance(message, str) else message["value"])


def test_5000_levels_in_a_key_and_in_search_are_refused_cleanly() -> None:
    status, body = _answer("/Orders(" + "(" * N + "1" + ")" * N + ")", "")
    assert status == 400, body
    # $search: these were a RecursionError (a 500) before the search parser had a depth limit.
    for deep in ("(" * N + "x" + ")" * N, "NOT " * N + "x"):
        status, body = _answer("/Orders", "$search=" + deep)
        assert status == 400, body
        assert "nested too deeply" in body["error"]["message"]


def test_a_long_search_chain_is_served_however_long() -> None:
    for joiner in (" OR ", " AND ", " "):
        status, body = _answer("/Orders", "$search=" + joiner.join(["x"] * N) + "&$select=OrderID")
        assert status == 200, body
        assert [row["OrderID"] for row in body["value"]] == [1]


def test_a_long_chain_is_served_however_long() -> None:
    chain = " or ".join(f"OrderID eq {n}" for n in range(1, 5_001))
    status, body = _answer("/Orders", f"$filter={chain}&$select=OrderID")
    assert status == 200, body
    assert [row["OrderID"] for row in body["value"]] == [1]


# ---- the query string, parsed once ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("$format=json&$filter=Freight gt 1", 200),  # negotiation and the read share one parse
        ("$format=json&$top=2&$top=3", 400),  # malformed: negotiation, the read and the error answer share it
        ("$filter=Freight gt 1", 200),
    ],
)
def test_the_query_string_is_parsed_once_per_request(query: str, status: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from sf_edge.odata import feed as feed_module

    calls: list[str] = []
    parse = feed_module.parse_query_string

    def counted(raw: str) -> dict[str, str]:
        calls.append(raw)
        return parse(raw)

    monkeypatch.setattr(feed_module, "parse_query_string", counted)
    answered, _body = _answer("/Orders", query)
    assert answered == status
    assert calls == [query]


@pytest.mark.parametrize(
    ("stored", "expected"),
    [("1996-07-04T10:20:30.25Z", Decimal("0.25")), ("1996-07-04T00:00:00Z", Decimal(0)), (None, None)],
)
def test_fractionalseconds_is_one_row(stored: str | None, expected: Decimal | None) -> None:
    """The row added to show what a function costs (see the tree's docstring): parsed, bound, evaluated."""
    node = parse_filter("fractionalseconds(OrderDate) gt 0.1")
    bind_options(ORDERS, {"$filter": "fractionalseconds(OrderDate) gt 0.1"})
    assert isinstance(node, Binary)
    assert evaluate(node.left, {"OrderDate": stored}) == expected
    assert compile_expression(node)({"OrderDate": stored}) is (expected is not None and expected > Decimal("0.1"))


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [((1, 0), ""), ((1, -2), ""), ((-5,), "abc"), ((-5, 2), "ab"), ((1, 1), "b"), ((1,), "bc")],
)
def test_substring_clamps_as_odata_says(arguments: tuple[int, ...], expected: str) -> None:
    """A negative start counts from 0 and a negative or zero length takes nothing (the edges of the row's
    evaluator, which the SQLite comparisons do not reach)."""
    assert FUNCTIONS["substring"].evaluate("abc", *arguments) == expected
