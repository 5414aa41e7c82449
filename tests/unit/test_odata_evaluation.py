"""What a `$filter` means, value by value: OData's three-valued logic, arithmetic, null, text functions and typed
literals, each checked on the interpreter and on the compiled evaluator the engine runs (their fast paths for
or-chains of one property and comparisons with a literal must answer exactly as the interpreter does)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from itertools import product
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sf_edge.odata.expressions import (
    Literal,
    NotSupported,
    ODataSyntaxError,
    Property,
    compile_expression,
    evaluate,
    expression_size,
    parse_filter,
    parse_orderby,
)
from sf_edge.odata.tree import FUNCTIONS

BOTH = ("interpreted", "compiled")


def value_of(text: str, row: dict[str, Any], how: str, *, v2: bool = False) -> Any:
    node = parse_filter(text, v2=v2)
    return evaluate(node, row) if how == "interpreted" else compile_expression(node)(row)


def same(got: Any, expected: Any) -> bool:
    """Equal and of the same kind: True is not 1, None is not False."""
    return got == expected and type(got) is type(expected)


@pytest.mark.parametrize("how", BOTH)
@pytest.mark.parametrize(("a", "b"), list(product([True, False, None], repeat=2)))
def test_and_or_not_follow_three_valued_logic(how: str, a: bool | None, b: bool | None) -> None:
    row = {"A": a, "B": b}
    expected_and = False if False in (a, b) else None if None in (a, b) else True
    expected_or = True if True in (a, b) else None if None in (a, b) else False
    assert same(value_of("A and B", row, how), expected_and)
    assert same(value_of("A or B", row, how), expected_or)
    assert same(value_of("not A", row, how), None if a is None else not a)


@pytest.mark.parametrize("how", BOTH)
@pytest.mark.parametrize(
    ("values", "expected_and", "expected_or"),
    [
        ((None, True, True), None, True),
        ((True, None, True), None, True),
        ((None, False, False), False, None),
        ((False, False, None), False, None),
        ((True, True, True), True, True),
        ((False, False, False), False, False),
    ],
)
def test_a_long_chain_remembers_an_unknown_term(
    how: str, values: tuple[bool | None, ...], expected_and: bool | None, expected_or: bool | None
) -> None:
    row = dict(zip("ABC", values, strict=True))
    assert same(value_of("A and B and C", row, how), expected_and)
    assert same(value_of("A or B or C", row, how), expected_or)


ROW: dict[str, Any] = {"Q": 7, "N": None, "D": Decimal("7.5"), "Z": 0, "F": 2.5, "Name": "Alfreds"}


@pytest.mark.parametrize("how", BOTH)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Q add 2", 9),
        ("Q sub 2", 5),
        ("Q mul 3", 21),
        ("Q div 2", 3),  # integer division truncates
        ("Q div -2", -3),  # toward zero
        ("Q divby 2", Decimal("3.5")),
        ("Q mod 3", 1),
        ("D div 2", Decimal("3.75")),
        ("F div 2", 1.25),
        ("-Q", -7),
        ("-D", Decimal("-7.5")),
        ("Q div Z", None),  # no division by zero: null, whatever the number types
        ("D div Z", None),
        ("F div Z", None),
        ("Q divby Z", None),
        ("Q mod Z", None),
        ("D mod Z", None),
        ("Q div 1", 7),
        ("Q div -1", -7),
        ("Q mod -1", 0),
        ("D div -1", Decimal("-7.5")),
        ("N add 1", None),
        ("N mul 2", None),
        ("-N", None),
    ],
)
def test_arithmetic(how: str, text: str, expected: Any) -> None:
    assert same(value_of(text, ROW, how), expected)


@pytest.mark.parametrize("how", BOTH)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("N gt 1", False),
        ("N le 1", False),
        ("N eq null", True),
        ("N ne null", False),
        ("Q eq null", False),
        ("Q ne null", True),
        ("Q ge 7", True),
        ("Q gt 7", False),
        ("Q le 7", True),
        ("Q lt 7", False),
        ("Q ge 8", False),
        ("Q le 6", False),
        ("D ge 7.5", True),
        ("D gt 7.5", False),
        ("D le 7.5", True),
        ("D lt 7.5", False),
        ("Q lt 7.5", True),
        ("Name ge 'Alfreds'", True),
        ("Name gt 'Alfreds'", False),
        ("Name le 'Alfreds'", True),
        ("Name lt 'B'", True),
    ],
)
def test_comparisons_and_null(how: str, text: str, expected: bool) -> None:
    assert same(value_of(text, ROW, how), expected)


@pytest.mark.parametrize("how", BOTH)
@pytest.mark.parametrize(
    ("text", "row", "expected"),
    [
        ("Q eq 1 or Q eq 7", {"Q": 7}, True),
        ("Q eq 1 or Q eq 2", {"Q": 7}, False),
        ("Q eq 1 or Q eq 7", {"Q": Decimal("7")}, True),  # a stored Decimal equals an integer literal
        ("Q eq 1 or Q eq 7.0", {"Q": 7}, True),
        ("Q eq 'x' or Q eq 7", {"Q": 7}, True),
        ("7 eq Q or 1 eq Q", {"Q": 7}, True),  # literal first
        ("Q eq 1 or P eq 7", {"Q": 1, "P": 0}, True),  # two properties: not a list
        ("Q eq 1 or P eq 7", {"Q": 0, "P": 7}, True),
        ("Q eq 1 or P eq 7", {"Q": 0, "P": 0}, False),
        ("Q eq null or Q eq 7", {"Q": None}, True),
        ("Q eq 1 or Q eq 7", {"Q": None}, False),
        ("Q eq 1 or Q eq 7", {}, False),
        ("Name eq 'Alfreds' or Name eq 'Ana'", {"Name": "Ana"}, True),
        ("Name eq 'Alfreds' or Name eq 'Ana'", {"Name": "ana"}, False),
        ("Q in (1, 7)", {"Q": 7}, True),
        ("Q in (1, 2)", {"Q": None}, False),
    ],
)
def test_or_chains_of_one_property_are_membership(how: str, text: str, row: dict[str, Any], expected: bool) -> None:
    assert same(value_of(text, row, how), expected)


@pytest.mark.parametrize("how", BOTH)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("startswith(Name,'Alf')", True),
        ("startswith(Name,'fre')", False),  # inside, not at the start
        ("endswith(Name,'eds')", True),
        ("endswith(Name,'Alf')", False),
        ("contains(Name,'fre')", True),
        ("contains(Name,'xyz')", False),
        ("startswith(N,'Alf')", None),
        ("contains(N,'fre')", None),
    ],
)
def test_text_functions(how: str, text: str, expected: bool | None) -> None:
    assert same(value_of(text, ROW, how), expected)


def test_a_path_reads_a_nested_value() -> None:
    node = parse_filter("Address/City eq 'Berlin'")
    assert node.left == Property(("Address", "City"))  # type: ignore[attr-defined]
    assert compile_expression(node)({"Address": {"City": "Berlin"}}) is True
    assert compile_expression(node)({"Address": None}) is False


def test_odata_2_typed_literals() -> None:
    moment = parse_filter("OrderDate ge datetime'1996-07-04T00:00:00'", v2=True).right  # type: ignore[attr-defined]
    assert moment == Literal(datetime(1996, 7, 4, tzinfo=UTC), "DateTimeOffset")  # no offset: UTC
    guid = parse_filter("Key eq guid'01234567-89ab-cdef-0123-456789abcdef'", v2=True).right  # type: ignore[attr-defined]
    assert guid == Literal(UUID("01234567-89ab-cdef-0123-456789abcdef"), "Guid")
    with pytest.raises(NotSupported):
        parse_filter("Length eq time'PT1H'", v2=True)
    with pytest.raises(NotSupported):  # 4.0 has no such literals
        parse_filter("OrderDate ge datetime'1996-07-04T00:00:00'")
    with pytest.raises(ODataSyntaxError):
        parse_filter("Key eq guid'not-a-guid'", v2=True)
    substring = parse_filter("substringof('fre', Name)", v2=True)
    assert compile_expression(substring)({"Name": "Alfreds"}) is True
    with pytest.raises(NotSupported):  # not a 4.0 function
        parse_filter("substringof('fre', Name)")


@pytest.mark.parametrize(("text", "offset"), [(" Q eq 1", 0), ("Q eq 1 ", 7), ("\tQ eq 1", 0)])
def test_surrounding_whitespace_is_refused_where_it_is(text: str, offset: int) -> None:
    with pytest.raises(ODataSyntaxError) as refused:
        parse_filter(text)
    assert refused.value.offset == offset


@pytest.mark.parametrize("text", ["Q eq and", "and eq 1", "Q eq", "(Q eq 1", "Q/and eq 1", "Q/ eq 1"])
def test_malformed_filters_are_syntax_errors(text: str) -> None:
    with pytest.raises(ODataSyntaxError):
        parse_filter(text)


VALUES = st.one_of(
    st.none(),
    st.integers(-3, 3),
    st.decimals(-3, 3, places=1, allow_nan=False),
    st.sampled_from(["", "a", "ab", "b", "Alfreds"]),
    st.booleans(),
)
LITERALS = st.sampled_from(["null", "0", "1", "-2", "1.5", "'a'", "'ab'", "true", "false"])


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["A", "B", "C"]), VALUES),
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "C"]),
            st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le"]),
            LITERALS,
        ),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from(["and", "or"]),
)
def test_the_compiled_filter_answers_as_the_interpreter(
    row: dict[str, Any], terms: list[tuple[str, str, str]], joiner: str
) -> None:
    text = f" {joiner} ".join(f"{name} {op} {literal}" for name, op, literal in terms)
    node = parse_filter(text)
    try:
        expected = evaluate(node, row)
    except TypeError:  # a comparison OData does not define (text with a number): both must refuse
        with pytest.raises(TypeError):
            compile_expression(node)(row)
        return
    assert same(compile_expression(node)(row), expected), text


# OData 4.01 Part 2 §5.1.1 (canonical functions): the arity the standard gives each one, served or not. The
# served ones are the rows of sf_edge.odata.tree.FUNCTIONS; each must take what the standard says.
STANDARD_ARITY = {
    "contains": (2, 2),
    "startswith": (2, 2),
    "endswith": (2, 2),
    "length": (1, 1),
    "indexof": (2, 2),
    "substring": (2, 3),
    "matchespattern": (2, 2),
    "tolower": (1, 1),
    "toupper": (1, 1),
    "trim": (1, 1),
    "concat": (2, 2),
    "year": (1, 1),
    "month": (1, 1),
    "day": (1, 1),
    "hour": (1, 1),
    "minute": (1, 1),
    "second": (1, 1),
    "fractionalseconds": (1, 1),
    "totalseconds": (1, 1),
    "date": (1, 1),
    "time": (1, 1),
    "totaloffsetminutes": (1, 1),
    "mindatetime": (0, 0),
    "maxdatetime": (0, 0),
    "now": (0, 0),
    "round": (1, 1),
    "floor": (1, 1),
    "ceiling": (1, 1),
    "hassubset": (2, 2),
    "hassubsequence": (2, 2),
}
ARITY = {name: STANDARD_ARITY[name] for name in FUNCTIONS}


def test_every_served_function_is_a_canonical_one() -> None:
    assert set(FUNCTIONS) <= set(STANDARD_ARITY)
    assert {name: function.arity for name, function in FUNCTIONS.items()} == ARITY


@pytest.mark.parametrize(("name", "arity"), sorted(ARITY.items()))
def test_each_function_takes_the_arguments_the_standard_gives_it(name: str, arity: tuple[int, int]) -> None:
    """OData 4.01 Part 2, 5.1.1.5-5.1.1.7: a call with one argument too few or too many is a syntax error
    naming the function and what it takes."""
    low, high = arity
    for count in range(low, high + 1):
        parse_filter(f"{name}({', '.join(['Name'] * count)}) eq null")
    takes = f"{low}" if low == high else f"{low} to {high}"
    for count in (low - 1, high + 1):
        with pytest.raises(ODataSyntaxError, match=rf"^{name} takes {takes} argument\(s\)"):
            parse_filter(f"{name}({', '.join(['Name'] * count)}) eq null")


@pytest.mark.parametrize("how", BOTH)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("substring(Name, 1)", "lfreds"),
        ("substring(Name, 0)", "Alfreds"),
        ("round(Name)", None),  # not a number: no value, no crash
        ("substring(Name, -2)", "Alfreds"),
        ("substring(Name, 0, 3)", "Alf"),
        ("substring(Name, 1, 2)", "lf"),
        ("substring(Name, -1, 2)", "Al"),
        ("substring(Name, 2, 0)", ""),
        ("length(Name)", 7),
        ("indexof(Name, 'fre')", 2),
        ("concat(Name, '!')", "Alfreds!"),
        ("tolower(Name)", "alfreds"),
        ("toupper(Name)", "ALFREDS"),
        ("Q div 1", 7),
        ("Q mod 1", 0),
        ("Q mod Z", None),
        ("(Q add 1) mul 2", 16),
        ("Q add (1 mul 2)", 9),
    ],
)
def test_functions_and_grouping(how: str, text: str, expected: Any) -> None:
    assert same(value_of(text, ROW, how), expected)


@pytest.mark.parametrize("how", BOTH)
@pytest.mark.parametrize(
    ("text", "row", "expected"),
    [
        ("Q eq 7 and Q eq 1", {"Q": 7}, False),  # an and-chain of equalities is not a list
        ("N eq null or N eq null", {"N": None}, True),  # null tests are no list of values either
        ("N eq null or N eq 5", {"N": None}, True),
        ("N eq null or N eq 5", {"N": 5}, True),
        ("N eq null or N eq 5", {"N": 6}, False),
        ("Q eq 7 and Q eq 7", {"Q": 7}, True),
        ("A/B eq 1 or A/B eq 2", {"A": {"B": 2}, "B": 5}, True),  # a path, not the top-level B
        ("A/B eq 1 or A/B eq 2", {"A": {"B": 5}, "B": 2}, False),
        ("Q eq P or Q eq 1", {"Q": 3, "P": 3}, True),  # property against property
        ("Q eq P or Q eq 1", {"Q": 3, "P": 4}, False),
        ("Q eq 1 or P eq null", {"Q": 0, "P": None}, True),
        ("Q eq 1 or P eq null", {"Q": 0, "P": 0}, False),
        ("OrderDate ge 1996-07-04T00:00:00Z", {"OrderDate": "1996-07-04T00:00:00"}, True),  # stored without a zone
        ("OrderDate lt 1996-07-04T00:00:00Z", {"OrderDate": "1996-07-03T23:59:59"}, True),
        ("OrderDate eq 1996-07-04", {"OrderDate": "1996-07-04T10:00:00Z"}, True),
    ],
)
def test_chains_paths_and_stored_dates(how: str, text: str, row: dict[str, Any], expected: bool) -> None:
    assert same(value_of(text, row, how), expected)


@pytest.mark.parametrize(("text", "kind"), [("1.5m", Decimal), ("2d", float), ("3e2", float), ("7", int)])
def test_number_literals_take_their_suffix(text: str, kind: type) -> None:
    node = parse_filter(f"Q eq {text}")
    assert type(node.right.value) is kind  # type: ignore[attr-defined]


def test_an_empty_filter_is_refused_at_its_start() -> None:
    with pytest.raises(ODataSyntaxError, match="cannot be empty") as refused:
        parse_filter("")
    assert refused.value.offset == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(Freight gt 1", "Expected ')', found 'end of input' (at offset 13)"),
        ("contains(ShipName", "Expected ')', found 'end of input' (at offset 17)"),
        ("Freight gt", "Expected an expression, found 'end of input' (at offset 10)"),
        ("OrderDate eq 2020-02-30", "Invalid date literal '2020-02-30' (at offset 13)"),
        ("OrderDate lt 2020-02-30T25:00:00Z", "Invalid datetime literal '2020-02-30T25:00:00Z' (at offset 13)"),
        ("T eq 25:00:00", "Invalid timeofday literal '25:00:00' (at offset 5)"),
        (
            "(" * 3000 + "Freight" + ")" * 3000,
            "The expression is nested too deeply: at most 100 levels are allowed (at offset 0)",
        ),
        ("Freight eq )", "Expected an expression, found ')' (at offset 11)"),
        ("Freight eq ,", "Expected an expression, found ',' (at offset 11)"),
    ],
)
def test_a_malformed_filter_says_what_is_wrong_and_where(text: str, message: str) -> None:
    with pytest.raises(ODataSyntaxError) as raised:
        parse_filter(text)
    assert str(raised.value) == message


def test_a_malformed_orderby_says_what_is_wrong_and_where() -> None:
    with pytest.raises(ODataSyntaxError) as raised:
        parse_orderby("(" * 3000 + "Freight" + ")" * 3000 + " desc")
    assert (str(raised.value), raised.value.offset) == (
        "The expression is nested too deeply: at most 100 levels are allowed (at offset 0)",
        0,
    )
    with pytest.raises(ODataSyntaxError) as raised:
        parse_orderby("Freight desc,")
    assert str(raised.value) == "Expected an expression, found 'end of input' (at offset 13)"


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("A", 1),
        ("A eq 1", 3),
        ("not A", 2),
        ("-A gt 1", 4),
        ("A in (1, 2, 3)", 5),  # the membership, its property and each item
        ("contains(Name, 'x') and A eq 1", 7),
        (" or ".join(f"A eq {n}" for n in range(1000)), 3 * 1000 + 999),
    ],
)
def test_the_size_of_a_filter_counts_every_node_it_evaluates(text: str, size: int) -> None:
    # What the feed weighs against the rows a filter would run over (FilterTooComplex).
    assert expression_size(parse_filter(text)) == size


@pytest.mark.parametrize("text", ["Order_Details/any", "Order_Details/all", "Order_Details/any(d:d/Quantity gt 5)"])
def test_lambda_paths_are_answered_as_not_supported(text: str) -> None:
    with pytest.raises(NotSupported):
        parse_filter(f"{text} eq true" if "(" not in text else text)


def test_an_orderby_is_read_as_4_0_unless_the_2_0_feed_asks() -> None:
    with pytest.raises(NotSupported):
        parse_orderby("substringof('x', ShipName)")
    [item] = parse_orderby("substringof('x', ShipName) desc", v2=True)
    assert (type(item.expression).__name__, item.descending) == ("Call", True)


@pytest.mark.parametrize("how", BOTH)
@pytest.mark.parametrize("stored", ["not a date", "", "2020-13-45"])
def test_a_stored_text_that_is_no_date_matches_no_date_comparison(how: str, stored: str) -> None:
    row = {"When": stored}
    for text in ("When gt 2020-01-01T00:00:00Z", "When eq 2020-01-01", "When lt 2999-01-01T00:00:00Z"):
        assert value_of(text, row, how) is not True, text  # no match (and no crash)
