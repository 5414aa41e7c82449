"""OData $filter/$orderby expressions: the OASIS ABNF test cases, the parser's edges, and evaluation checked
against SQLite running the equivalent SQL over the same Northwind rows."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import unquote
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, SHARED
from sf_edge.odata.expressions import (
    Binary,
    Call,
    In,
    Literal,
    Node,
    NotSupported,
    ODataSyntaxError,
    OrderItem,
    Property,
    Unary,
    compile_expression,
    evaluate,
    parse_filter,
    parse_orderby,
)

ABNF = SHARED / "odata" / "abnf" / "odata-abnf-testcases.yaml"
RULES = {"filter": "filter", "boolCommonExpr": "filter", "commonExpr": "filter", "orderby": "orderby"}


def abnf_cases() -> list[Any]:
    if not ABNF.exists():
        return []
    import yaml

    # The YAML holds raw tabs inside plain scalars; BaseLoader keeps every value a string.
    text = ABNF.read_text(encoding="utf-8").replace("\t", "    ")
    cases = yaml.load(text, Loader=yaml.BaseLoader)["TestCases"]  # noqa: S506 - BaseLoader builds only strings
    return [
        pytest.param(c, id=f"{c['Rule']}:{c['Name'][:50]}:{c.get('Input', '')[:40]}")
        for c in cases
        if c["Rule"] in RULES
    ]


def parse_option(rule: str, raw: str) -> object:
    """What the query-string layer does before the expression parser: split `$filter=` / `$orderby=`."""
    kind = RULES[rule]
    text = raw
    if rule in ("filter", "orderby"):
        name, sep, text = raw.partition("=")
        if not sep or name.lower().lstrip("$") != kind:
            raise ODataSyntaxError(f"Expected ${kind}=", 0)
    text = unquote(text)
    return parse_orderby(text) if kind == "orderby" else parse_filter(text)


@pytest.mark.parametrize("case", abnf_cases())
def test_oasis_abnf_cases(case: dict[str, str]) -> None:
    raw = case.get("Input", "")
    if "FailAt" in case:
        with pytest.raises(ODataSyntaxError):
            parse_option(case["Rule"], raw)
    else:
        # Valid OData either parses or is answered 501 (lambdas, functions of a model, JSON literals, ...).
        try:
            parsed = parse_option(case["Rule"], raw)
        except NotSupported:
            return
        # What was parsed is what was written: re-serialised fully parenthesised, it parses to the same tree, and
        # it holds the input's tokens in the input's order (brackets, blanks, keyword case and `asc` aside).
        text = render_orderby(parsed) if case["Rule"] == "orderby" else render(parsed)  # type: ignore[arg-type]
        name, sep, written = raw.partition("=") if case["Rule"] in ("filter", "orderby") else ("", "", raw)
        assert parse_option(case["Rule"], name + sep + text) == parsed
        assert _squeezed(text) == _squeezed(unquote(written))


def render(node: Node) -> str:
    """An expression tree written back as OData, every operation in brackets."""
    match node:
        case Literal(value=None):
            return "null"
        case Literal(value=bool() as value):
            return "true" if value else "false"
        case Literal(type="String", value=value):
            return "'" + value.replace("'", "''") + "'"
        case Literal(type="DateTimeOffset", value=value):
            return value.isoformat().replace("+00:00", "Z")
        case Literal(value=value):
            return str(value)
        case Property(path=path):
            return "/".join(path)
        case Call(name=name, args=args):
            return f"{name}({','.join(render(arg) for arg in args)})"
        case Binary(op=op, left=left, right=right):
            return f"({render(left)} {op} {render(right)})"
        case Unary(op="not", operand=operand):
            return f"(not {render(operand)})"
        case Unary(op=op, operand=operand):
            return f"({op}{render(operand)})"
        case In(left=left, items=items):
            return f"({render(left)} in ({','.join(render(item) for item in items)}))"
    raise AssertionError(node)


def render_orderby(items: tuple[OrderItem, ...]) -> str:
    return ",".join(render(item.expression) + (" desc" if item.descending else "") for item in items)


def _squeezed(text: str) -> str:
    return re.sub(r"[\s()]", "", text).lower().replace("asc", "")


TEXTS = [{"Name": "La Maison"}, {"Name": "Chez La Mère"}, {"Name": "Casa La"}, {"Name": "Lalande"}, {"Name": None}]


@pytest.mark.parametrize(
    ("call", "matches"),
    [
        ("startswith(Name,'La ')", ["La Maison"]),
        ("contains(Name,'La ')", ["La Maison", "Chez La Mère"]),
        ("endswith(Name,' La')", ["Casa La"]),
        ("startswith(Name,Prefix)", ["La Maison"]),
        ("contains(Name,Prefix)", ["La Maison", "Chez La Mère"]),
        ("endswith(Name,Suffix)", ["Casa La"]),
    ],
)
def test_text_functions_look_where_their_name_says(call: str, matches: list[str]) -> None:
    """A word that occurs at the start, in the middle and at the end: only the right place matches (the store's
    own `begins_with`, where it is pushed down, must not be what makes startswith right)."""
    rows = [{**row, "Prefix": "La ", "Suffix": " La"} for row in TEXTS]
    tree = parse_filter(call)
    compiled = compile_expression(tree)
    assert [r["Name"] for r in rows if evaluate(tree, r) is True] == matches
    assert [r["Name"] for r in rows if compiled(r) is True] == matches


# ---- the parser ------------------------------------------------------------------------------------------------


def test_precedence_and_associativity() -> None:
    assert parse_filter("a eq 1 or b eq 2 and not c") == Binary(
        "or",
        Binary("eq", Property(("a",)), Literal(1, "Int64")),
        Binary("and", Binary("eq", Property(("b",)), Literal(2, "Int64")), Unary("not", Property(("c",)))),
    )
    assert parse_filter("x add 2 mul 3 gt -1") == Binary(
        "gt",
        Binary("add", Property(("x",)), Binary("mul", Literal(2, "Int64"), Literal(3, "Int64"))),
        Literal(-1, "Int64"),
    )
    assert parse_filter("(a or b) and c") == Binary(
        "and", Binary("or", Property(("a",)), Property(("b",))), Property(("c",))
    )


@pytest.mark.parametrize(
    ("text", "literal"),
    [
        ("'O''Neil'", Literal("O'Neil", "String")),
        ("''", Literal("", "String")),
        ("42", Literal(42, "Int64")),
        ("-7", Literal(-7, "Int64")),
        ("3.50", Literal(Decimal("3.50"), "Decimal")),
        ("1.5e3", Literal(1500.0, "Double")),
        ("2.5d", Literal(2.5, "Double")),
        ("true", Literal(True, "Boolean")),
        ("FALSE", Literal(False, "Boolean")),
        ("null", Literal(None, "Null")),
        ("1996-07-04", Literal(date(1996, 7, 4), "Date")),
        ("1996-07-04T10:00:00Z", Literal(datetime(1996, 7, 4, 10, tzinfo=UTC), "DateTimeOffset")),
        ("01234567-89ab-cdef-0123-456789abcdef", Literal(UUID("01234567-89ab-cdef-0123-456789abcdef"), "Guid")),
    ],
)
def test_literals(text: str, literal: Literal) -> None:
    assert parse_filter(f"x eq {text}") == Binary("eq", Property(("x",)), literal)


def test_salesforce_shapes() -> None:
    # Lookups, global search and SOQL IN (...) as Salesforce Connect sends them.
    assert parse_filter("CustomerID eq 'ALFKI'") == Binary("eq", Property(("CustomerID",)), Literal("ALFKI", "String"))
    search = parse_filter("contains(CompanyName,'Alfreds') eq true or contains(City,'Alfreds') eq true")
    assert isinstance(search, Binary)
    assert search.op == "or"
    chain = " or ".join(f"OrderID eq {10248 + i}" for i in range(300))
    assert isinstance(parse_filter(chain), Binary)
    assert parse_filter("CustomerID in ('ALFKI','ANATR')") == In(
        Property(("CustomerID",)), (Literal("ALFKI", "String"), Literal("ANATR", "String"))
    )
    assert parse_filter("Name EQ 'Milk' AND Price LT 2.55") == parse_filter("Name eq 'Milk' and Price lt 2.55")
    assert parse_filter("tolower(City) eq 'berlin'") == Binary(
        "eq", Call("tolower", (Property(("City",)),)), Literal("berlin", "String")
    )


def test_orderby() -> None:
    items = parse_orderby("Country desc,CompanyName, length(City) asc")
    assert [(i.expression, i.descending) for i in items] == [
        (Property(("Country",)), True),
        (Property(("CompanyName",)), False),
        (Call("length", (Property(("City",)),)), False),
    ]


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("Name eq", 7),
        ("Name eq 'x", 8),
        ("(Name eq 'x'", 12),
        ("Name eq 'x')", 11),
        ("eq 1", 0),
        ("contains(Name)", 0),
        ("Name eq 'a' and", 15),
        ("Price gt 1.2.3", 9),
        ("x in (1, y)", 5),
        ("Model.Thing", 11),
    ],
)
def test_syntax_errors_carry_their_offset(text: str, offset: int) -> None:
    with pytest.raises(ODataSyntaxError) as caught:
        parse_filter(text)
    assert caught.value.offset == offset


@pytest.mark.parametrize(
    "text",
    [
        "Orders/any(o:o/Freight gt 10)",
        "geo.distance(Location, x) lt 1",
        "$it eq 1",
        "Style has Sales.Pattern'Yellow'",
        "duration'P1D' eq x",
    ],
)
def test_valid_but_unsupported(text: str) -> None:
    with pytest.raises(NotSupported):
        parse_filter(text)


# ---- evaluation, checked against SQLite ------------------------------------------------------------------------

NORTHWIND = ROOT / "data" / "northwind"


@pytest.fixture(scope="module")
def orders() -> tuple[list[dict[str, Any]], sqlite3.Connection]:
    rows = json.loads((NORTHWIND / "Orders.json").read_text(encoding="utf-8"), parse_float=Decimal)
    db = sqlite3.connect(":memory:")
    columns = list(rows[0])
    db.execute(f"create table Orders ({', '.join(columns)})")
    db.executemany(
        f"insert into Orders values ({', '.join('?' for _ in columns)})",  # noqa: S608 - placeholders only
        [[float(r[c]) if isinstance(r[c], Decimal) else r[c] for c in columns] for r in rows],
    )
    return rows, db


EQUIVALENTS = [
    ("Freight gt 100", "Freight > 100"),
    ("ShipCountry eq 'France' and Freight lt 20", "ShipCountry = 'France' and Freight < 20"),
    ("ShipRegion eq null", "ShipRegion is null"),
    ("ShipRegion ne 'RJ'", "ShipRegion is not 'RJ'"),  # OData: null ne 'RJ' is true
    ("not (ShipCountry eq 'USA') and ShipRegion ne null", "not (ShipCountry = 'USA') and ShipRegion is not null"),
    ("CustomerID in ('ALFKI','VINET','TOMSP')", "CustomerID in ('ALFKI','VINET','TOMSP')"),
    (
        "startswith(ShipName,'Vins') or contains(ShipCity,'ch')",
        "substr(ShipName,1,4) = 'Vins' or instr(ShipCity,'ch') > 0",
    ),
    ("endswith(ShipName,'s')", "substr(ShipName,-1) = 's'"),
    ("tolower(ShipCity) eq 'reims'", "lower(ShipCity) = 'reims'"),
    ("toupper(ShipCity) eq 'LYON'", "upper(ShipCity) = 'LYON'"),
    ("length(ShipName) gt 30", "length(ShipName) > 30"),
    ("indexof(ShipName,'a') eq 1", "instr(ShipName,'a') = 2"),
    ("substring(ShipCountry,1,3) eq 'erm'", "substr(ShipCountry,2,3) = 'erm'"),
    ("substring(ShipCountry,2) eq 'ance'", "substr(ShipCountry,3) = 'ance'"),
    ("concat(ShipCity,ShipCountry) eq 'ReimsFrance'", "ShipCity || ShipCountry = 'ReimsFrance'"),
    ("trim(ShipName) eq ShipName", "trim(ShipName) = ShipName"),
    (
        "year(OrderDate) eq 1997 and month(OrderDate) le 3",
        "strftime('%Y',OrderDate) = '1997' and cast(strftime('%m',OrderDate) as int) <= 3",
    ),
    ("day(ShippedDate) eq 1", "cast(strftime('%d',ShippedDate) as int) = 1"),
    ("OrderDate ge 1998-01-01T00:00:00Z", "OrderDate >= '1998-01-01T00:00:00Z'"),
    ("OrderDate lt 1996-08-01", "OrderDate < '1996-08-01'"),
    ("Freight add 10 gt 50 and EmployeeID mod 2 eq 0", "Freight + 10 > 50 and EmployeeID % 2 = 0"),
    ("Freight mul 2 le 10", "Freight * 2 <= 10"),
    ("round(Freight) eq 33", "round(Freight) = 33"),
    ("floor(Freight) eq 32", "Freight >= 32 and Freight < 33"),
    ("ceiling(Freight) eq 33", "Freight > 32 and Freight <= 33"),
    ("ShipVia eq 1 or ShipVia eq 3 and Freight gt 500", "ShipVia = 1 or (ShipVia = 3 and Freight > 500)"),
]


@pytest.mark.parametrize(("odata", "sql"), EQUIVALENTS, ids=[e[0] for e in EQUIVALENTS])
def test_evaluation_matches_sqlite(
    orders: tuple[list[dict[str, Any]], sqlite3.Connection], odata: str, sql: str
) -> None:
    rows, db = orders
    expected = {r[0] for r in db.execute(f"select OrderID from Orders where {sql}")}  # noqa: S608 - test-owned SQL
    tree = parse_filter(odata)
    assert {r["OrderID"] for r in rows if evaluate(tree, r) is True} == expected
    compiled = compile_expression(tree)
    assert {r["OrderID"] for r in rows if compiled(r) is True} == expected
    assert expected, "the equivalence must select something to mean anything"


COMPILED_TOKENS = [
    "Freight", "ShipCountry", "ShipRegion", "EmployeeID", "OrderDate", "ShipName", "CustomerID", "eq", "ne", "gt",
    "le", "lt", "ge", "and", "or", "not", "in", "add", "(", ")", ",", "'France'", "'RJ'", "'VINET'", "null", "1",
    "5", "32.38", "1e2", "true", "1997-01-01T00:00:00Z", "1996-07-04", "contains(ShipName,'a')",
    "startswith(ShipCity,'R')", "tolower(", "length(",
]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(words=st.lists(st.sampled_from(COMPILED_TOKENS), min_size=1, max_size=14))
def test_compiled_evaluation_agrees_with_the_interpreter(
    orders: tuple[list[dict[str, Any]], sqlite3.Connection], words: list[str]
) -> None:
    """The per-request compiled filter (what the engine runs) gives exactly what `evaluate` gives, null included."""
    rows, _ = orders
    try:
        tree = parse_filter(" ".join(words))
    except (ODataSyntaxError, NotSupported):
        return
    compiled = compile_expression(tree)
    for row in rows[:80]:
        try:
            expected: Any = evaluate(tree, row)
        except (TypeError, ValueError, ArithmeticError, NotSupported) as error:
            expected = type(error)
        try:
            got: Any = compiled(row)
        except (TypeError, ValueError, ArithmeticError, NotSupported) as error:
            got = type(error)
        assert got == expected, (" ".join(words), row["OrderID"])


def test_a_thousand_term_chain_compiles_and_runs_without_recursion() -> None:
    chain = parse_filter(" or ".join(["EmployeeID eq 99"] * 999 + ["EmployeeID eq 5"]))
    assert compile_expression(chain)({"EmployeeID": 5}) is True
    chain = parse_filter(" and ".join(["Freight gt 1"] * 1000))
    assert compile_expression(chain)({"Freight": Decimal(2)}) is True


OPTION_NAMES = ("$top", "$skip", "$count", "$search", "$select", "top=", "skip=", "search=", "select=")


def abnf_option_cases() -> list[Any]:
    if not ABNF.exists():
        return []
    import yaml

    text = ABNF.read_text(encoding="utf-8").replace("\t", "    ")
    cases = yaml.load(text, Loader=yaml.BaseLoader)["TestCases"]  # noqa: S506 - BaseLoader builds only strings
    return [
        pytest.param(c, id=f"{c['Rule']}:{c.get('Input', '')[:60]}")
        for c in cases
        if c["Rule"] in ("select", "queryOptions") and any(o in c.get("Input", "").lower() for o in OPTION_NAMES)
    ]


@pytest.mark.parametrize("case", abnf_option_cases())
def test_oasis_abnf_query_option_cases(case: dict[str, str]) -> None:
    """$select/$top/$skip/$count/$search as the ABNF tests them, bound to an entity set that declares every name
    the case uses: valid cases are answered or 501, invalid ones are 400."""
    import re

    from sf_edge.odata.request import ODataError, bind_options, parse_query_string
    from sf_edge.odata.schema import EntitySet, Prop

    raw = case.get("Input", "")
    names = sorted(set(re.findall(r"[A-Za-z_]\w*", raw)) - {"and", "or", "not", "eq", "asc", "desc"})
    permissive = EntitySet("Things", "Thing", (names[0],), tuple(Prop(n) for n in names), "THINGS_TABLE")
    try:
        bind_options(permissive, parse_query_string(raw))
        outcome = 200
    except ODataError as error:
        outcome = error.status
    assert outcome == 400 if "FailAt" in case else outcome in (200, 501), (raw, outcome)
