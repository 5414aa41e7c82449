"""The OData engine over the Northwind rows: $metadata from the declarations, query options alone and combined
(checked against SQLite running the equivalent SQL), server-driven paging, keys and every error shape."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from lxml import etree

from conftest import ROOT, shared_fixture
from fakes.odata_store import MemoryTable
from sf_edge.odata.csdl import EDM, metadata_xml, service_document
from sf_edge.odata.engine import project
from sf_edge.odata.feed import Feed, FeedAuth, FeedRequest
from sf_edge.odata.request import ODataError, bind_options, parse_key, parse_path, parse_query_string
from sf_edge.odata.schema import BY_NAME, ENTITY_SETS

ROOT_URL = "https://api.example.com/live/odata/v4/"
ORDERS = BY_NAME["Orders"]
ROWS = json.loads((ROOT / "data" / "northwind" / "Orders.json").read_text(encoding="utf-8"), parse_float=Decimal)


_TABLES: dict[int, MemoryTable] = {}


def run(query: str, page_size: int = 2000, rows: list[dict[str, Any]] = ROWS) -> dict[str, Any]:
    """The feed's answer over the rows (an in-memory table indexed as the stream would index it)."""
    table = _TABLES.setdefault(id(rows), MemoryTable(ORDERS, rows))
    feed = Feed(lambda _set, stats: table.store(stats), FeedAuth("none"), page_size=page_size, entity_sets=(ORDERS,))
    response = feed.handle(FeedRequest("GET", "/Orders", query, {}, ROOT_URL))
    assert response.status == 200, response.body
    return dict(json.loads(response.body))


# ---- $metadata and the service document ------------------------------------------------------------------------


# Columns the worker fills from Salesforce fields take those fields' lengths (Account Name 255, BillingCity 40, ...).
WIDENED = {
    ("Customer", name)
    for name in ("CustomerID", "CompanyName", "Address", "City", "Region", "PostalCode", "Country", "Phone", "Fax")
} | {
    ("Order", name)
    for name in ("CustomerID", "ShipName", "ShipAddress", "ShipCity", "ShipRegion", "ShipPostalCode", "ShipCountry")
}


def test_metadata_matches_northwinds_published_types() -> None:
    ours = etree.fromstring(metadata_xml(ENTITY_SETS))
    assert ours.tag == "{http://docs.oasis-open.org/odata/ns/edmx}Edmx"
    assert ours.get("Version") == "4.0"
    published = etree.parse(str(shared_fixture("odata", "Northwind.v2.service.edmx"))).getroot()
    v2_types = {"DateTime": "DateTimeOffset"}
    for entity_type in ours.iter(f"{{{EDM}}}EntityType"):
        theirs = next(t for t in published.iter("{*}EntityType") if t.get("Name") == entity_type.get("Name"))
        assert [k.get("Name") for k in entity_type.iter(f"{{{EDM}}}PropertyRef")] == [
            k.get("Name") for k in theirs.iter("{*}PropertyRef")
        ]
        their_props = {p.get("Name"): p for p in theirs.findall("{*}Property")}
        for prop in entity_type.findall(f"{{{EDM}}}Property"):
            name = prop.get("Name")
            if name.startswith("Salesforce") or name in ("CreditLimit", "LinesStatus", "LinesProblem"):
                continue  # our additions: the links to Salesforce records, credit, an Order's lines state
            theirs_prop = their_props[name]
            their_type = theirs_prop.get("Type").removeprefix("Edm.")
            assert prop.get("Type") == f"Edm.{v2_types.get(their_type, their_type)}", name
            assert prop.get("Nullable") == theirs_prop.get("Nullable"), name
            if prop.get("Type") == "Edm.Decimal":
                assert (prop.get("Precision"), prop.get("Scale")) == ("19", "4")
            if prop.get("Type") == "Edm.String" and (entity_type.get("Name"), name) not in WIDENED:
                assert prop.get("MaxLength").lower() == theirs_prop.get("MaxLength").lower(), name
            elif prop.get("Type") == "Edm.String":
                assert int(prop.get("MaxLength")) > int(theirs_prop.get("MaxLength")), name


def test_service_document_lists_every_set() -> None:
    document = service_document(ENTITY_SETS, ROOT_URL)
    assert document["@odata.context"] == ROOT_URL + "$metadata"
    assert [s["name"] for s in document["value"]] == [
        "Customers",
        "Orders",
        "Order_Details",
        "Products",
        "Categories",
        "Suppliers",
        "Shippers",
        "Employees",
    ]


# ---- query options against SQLite ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def db() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:")
    columns = list(ROWS[0])
    connection.execute(f"create table Orders ({', '.join(columns)})")
    connection.executemany(
        f"insert into Orders values ({', '.join('?' for _ in columns)})",  # noqa: S608 - placeholders only
        [[float(r[c]) if isinstance(r[c], Decimal) else r[c] for c in columns] for r in ROWS],
    )
    return connection


# Ties in any order are broken by the key, in the direction of the last $orderby item (as the sorted indexes do).
CASES = [
    ("$orderby=OrderID&$top=5", "1=1", "OrderID", 5, 0),
    ("$orderby=OrderID&$skip=825", "1=1", "OrderID", None, 825),
    ("$orderby=Freight desc&$top=10", "1=1", "Freight desc, OrderID desc", 10, 0),
    ("$orderby=ShipCountry,OrderDate desc&$top=20&$skip=5", "1=1", "ShipCountry, OrderDate desc, OrderID desc", 20, 5),
    ("$orderby=OrderDate desc&$top=30&$skip=7", "1=1", "OrderDate desc, OrderID desc", 30, 7),
    ("$orderby=OrderDate&$top=30", "1=1", "OrderDate, OrderID", 30, 0),
    ("$filter=ShipCountry+eq+'Germany'&$orderby=OrderID desc", "ShipCountry = 'Germany'", "OrderID desc", None, 0),
    (
        "$filter=Freight gt 50 and ShipRegion eq null&$orderby=Freight&$top=7&$skip=3",
        "Freight > 50 and ShipRegion is null",
        "Freight, OrderID",
        7,
        3,
    ),
    (
        "$filter=contains(ShipName,'La')&$orderby=ShipName,OrderID",
        "instr(ShipName,'La') > 0",
        "ShipName, OrderID",
        None,
        0,
    ),
    (
        "$filter=CustomerID in ('ALFKI','ANATR')&$orderby=OrderDate",
        "CustomerID in ('ALFKI','ANATR')",
        "OrderDate, OrderID",
        None,
        0,
    ),
    ("$orderby=ShipRegion,OrderID&$top=30", "1=1", "ShipRegion is not null, ShipRegion, OrderID", 30, 0),
    # Ties of every $orderby item are broken by the key, in the direction of the last item.
    ("$orderby=ShipVia,ShipCountry desc&$top=40", "1=1", "ShipVia, ShipCountry desc, OrderID desc", 40, 0),
    ("$orderby=ShipCountry desc,ShipVia&$top=40&$skip=3", "1=1", "ShipCountry desc, ShipVia, OrderID", 40, 3),
    # No $orderby: the key's order, also for rows fetched by key.
    ("$filter=OrderID in (10250, 10249, 10248, 12000)", "OrderID in (10250, 10249, 10248)", "OrderID", None, 0),
    # What a request filters and sorts by is read even when it selects none of it.
    (
        "$select=OrderID&$orderby=ShipCountry,Freight desc&$top=20",
        "1=1",
        "ShipCountry, Freight desc, OrderID desc",
        20,
        0,
    ),
    (
        "$select=OrderID&$filter=contains(ShipName,'La') and Freight gt 20&$orderby=Freight desc",
        "instr(ShipName,'La') > 0 and Freight > 20",
        "Freight desc, OrderID desc",
        None,
        0,
    ),
]


@pytest.mark.parametrize(("query", "where", "order", "limit", "offset"), CASES, ids=[c[0] for c in CASES])
def test_options_alone_and_combined(
    db: sqlite3.Connection, query: str, where: str, order: str, limit: int | None, offset: int
) -> None:
    sql = f"select OrderID from Orders where {where} order by {order} limit {limit or -1} offset {offset}"  # noqa: S608
    expected = [r[0] for r in db.execute(sql)]
    body = run(query + "&$count=true")
    assert [row["OrderID"] for row in body["value"]] == expected
    total = db.execute(f"select count(*) from Orders where {where}").fetchone()[0]  # noqa: S608
    assert body["@odata.count"] == total  # the filtered total, before $top and $skip


def test_select_projects_and_names_the_context() -> None:
    body = run("$select=OrderID,Freight&$orderby=OrderID&$top=1&$count=false")
    assert body["@odata.context"] == ROOT_URL + "$metadata#Orders(OrderID,Freight)"
    assert body["value"] == [{"OrderID": 10248, "Freight": 32.38}]
    assert "@odata.count" not in body


def test_search_matches_every_term_in_searchable_fields() -> None:
    body = run("$search=Reims France&$select=OrderID,ShipCity")
    assert body["value"]
    assert all(row["ShipCity"] == "Reims" for row in body["value"])
    assert {r["OrderID"] for r in body["value"]} == {r["OrderID"] for r in ROWS if r["ShipCity"] == "Reims"}


def test_full_entities_carry_every_declared_property() -> None:
    [row] = run("$filter=OrderID eq 10248")["value"]
    assert list(row) == [p.name for p in ORDERS.properties]
    assert row["ShipRegion"] is None
    assert row["OrderDate"] == "1996-07-04T00:00:00Z"


# ---- server-driven paging --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "$count=true",
        "$orderby=ShipCountry desc,OrderID&$count=true",
        "$filter=Freight gt 10&$select=OrderID&$count=true",
        "$top=450&$skip=100",
    ],
)
def test_paging_walks_the_whole_result_exactly_once(query: str) -> None:
    expected = [r["OrderID"] for r in run(query, page_size=100_000)["value"]]
    seen: list[int] = []
    body = run(query, page_size=97)
    pages = 1
    while True:
        seen += [r["OrderID"] for r in body["value"]]
        assert len(body["value"]) <= 97
        link = body.get("@odata.nextLink")
        if link is None:
            break
        assert link.startswith(ROOT_URL + "Orders?")
        query_string = urlsplit(link).query
        kept = dict(parse_qsl(query_string))
        for name, value in parse_query_string(query).items():
            assert kept[name] == value  # $select, $filter, $orderby, $count survive into the link
        body = run(query_string, page_size=97)
        pages += 1
    assert seen == expected
    assert pages == -(-len(expected) // 97)


def test_no_next_link_on_a_short_last_page() -> None:
    assert "@odata.nextLink" not in run("$top=10", page_size=10)
    assert "@odata.nextLink" in run("$top=11", page_size=10)


@pytest.mark.parametrize(
    ("query", "taken"),
    [
        ("$top=7", slice(0, 7)),
        ("$skip=5&$top=3", slice(5, 8)),
        ("$top=250&$skip=100", slice(100, 350)),
        ("$skip=820", slice(820, None)),
    ],
)
@pytest.mark.parametrize("page_size", [2000, 97])
def test_top_and_skip_without_orderby_take_that_slice_of_the_default_order(
    query: str, taken: slice, page_size: int
) -> None:
    """A related list or a lookup sends `$top` with no `$orderby`: exactly `$top` rows after `$skip`, in the order
    the unsorted feed gives, whatever the page size, and no link once `$top` is served."""
    everything = [r["OrderID"] for r in run("$select=OrderID", page_size=100_000)["value"]]
    assert len(everything) == len(ROWS)
    seen: list[int] = []
    body = run(query + "&$select=OrderID", page_size=page_size)
    while True:
        seen += [r["OrderID"] for r in body["value"]]
        link = body.get("@odata.nextLink")
        if link is None:
            break
        body = run(urlsplit(link).query, page_size=page_size)
    assert seen == everything[taken]


# ---- paths and keys --------------------------------------------------------------------------------------------


def test_paths() -> None:
    assert parse_path("/", BY_NAME).kind == "service"
    assert parse_path("/$metadata", BY_NAME).kind == "metadata"
    assert parse_path("/Orders", BY_NAME).entity_set == "Orders"
    assert parse_path("/Orders/$count", BY_NAME).kind == "count"
    assert parse_path("/Orders(10248)", BY_NAME).key == {"OrderID": 10248}
    assert parse_path("/Customers('O''HARA')", BY_NAME).key == {"CustomerID": "O'HARA"}
    assert parse_path("/Order_Details(OrderID=10248,ProductID=11)", BY_NAME).key == {"OrderID": 10248, "ProductID": 11}
    assert parse_path("/Order_Details(ProductID=11,OrderID=10248)", BY_NAME).key == {"OrderID": 10248, "ProductID": 11}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/Nothing", 404),
        ("/Orders('x')", 400),
        ("/Customers(1)", 400),
        ("/Order_Details(10248)", 400),
        ("/Order_Details(OrderID=1)", 400),
        ("/Orders(10248)/Customer", 501),
        ("/Orders/$ref", 501),
        ("/$batch", 501),  # OData defines it, we do not serve it: 501, not 404 (Protocol §9.3.1; issue 25.11)
        ("/$crossjoin(Orders,Customers)", 501),
        ("/$all", 501),
        ("/$entity", 501),
    ],
)
def test_bad_paths(path: str, status: int) -> None:
    with pytest.raises(ODataError) as caught:
        parse_path(path, BY_NAME)
    assert caught.value.status == status
    assert set(caught.value.body()["error"]) >= {"code", "message"}


@pytest.mark.parametrize(
    ("query", "status", "target"),
    [
        ("$filter=Freight gt", 400, "$filter"),
        ("$filter=Fraight gt 1", 400, "$filter"),
        ("$orderby=Nope", 400, "$orderby"),
        ("$select=OrderID,Nope", 400, "$select"),
        ("$top=-1", 400, "$top"),
        ("$top=ten", 400, "$top"),
        ("$skip=1.5", 400, "$skip"),
        ("$count=yes", 400, "$count"),
        ("$skiptoken=garbage", 400, "$skiptoken"),
        ("$bogus=1", 400, "$bogus"),
        ("$top=1&$top=2", 400, "$top"),
        ("$expand=Customer", 501, "$expand"),
        ("$filter=Orders/any(o:o/Freight gt 1)", 501, "$filter"),
        ("$format=xml", 501, "$format"),
        ('$search="unbalanced', 400, "$search"),
        # Ill-typed expressions are refused when bound, before a row is read (they crashed the evaluator: 500).
        ("$filter=length(OrderID) eq 5", 400, "$filter"),
        ("$filter=substring(ShipName,'a') eq 'x'", 400, "$filter"),
        ("$filter=round(ShipName) eq 1", 400, "$filter"),
        ("$filter=-ShipName eq 'x'", 400, "$filter"),
        ("$orderby=-ShipName", 400, "$orderby"),
        ("$filter=" + " or ".join(["1"] * 990), 400, "$filter"),
        ("$filter=Freight", 400, "$filter"),
        # 4.01: system query options are case-insensitive and `$` is optional: a repeat in any spelling is a 400.
        ("$filter=ShipCountry eq 'A'&$FILTER=ShipCountry eq 'B'", 400, "$filter"),
        ("filter=ShipCountry eq 'B'&$filter=ShipCountry eq 'A'", 400, "$filter"),
        ("$Top=1&top=2", 400, "$top"),
        ("$search=(blue", 400, "$search"),
    ],
)
def test_bad_options_are_odata_errors(query: str, status: int, target: str) -> None:
    with pytest.raises(ODataError) as caught:
        bind_options(ORDERS, parse_query_string(query))
    assert (caught.value.status, caught.value.target) == (status, target)


def test_plus_is_a_space_and_escaped_plus_is_a_plus() -> None:
    assert parse_query_string("$filter=ShipName+eq+'A%2BB'") == {"$filter": "ShipName eq 'A+B'"}
    rows = [{**ROWS[0], "ShipName": "A+B"}, ROWS[1]]
    assert [r["OrderID"] for r in run("$filter=ShipName+eq+'A%2BB'", rows=rows)["value"]] == [ROWS[0]["OrderID"]]


def test_options_without_dollar_and_in_any_case_are_accepted() -> None:
    options = bind_options(ORDERS, parse_query_string("top=3&$ORDERBY=OrderID desc&custom=ignored"))
    assert (options.top, options.orderby[0].descending) == (3, True)


def test_key_value_comes_back_byte_identical() -> None:
    row = {"CustomerID": "alfki", "CompanyName": "lower-case id"}
    assert project(BY_NAME["Customers"], row, ("CustomerID",)) == {"CustomerID": "alfki"}
    assert parse_key(BY_NAME["Customers"], "'alfki'") == {"CustomerID": "alfki"}


def test_valid_literals_past_every_stored_value_answer_with_no_rows() -> None:
    """Huge but valid literals are compared, not crashed on: nothing is that large, so no rows."""
    assert run("$filter=round(1e308) eq 1")["value"] == []
    assert run("$filter=EmployeeID gt " + "9" * 41)["value"] == []


def test_each_response_reports_its_own_reads_and_store_time() -> None:
    # What Server-Timing and the access log show: this request's items and the time spent waiting on the store
    # (none for an in-memory store), never a running total.
    table = MemoryTable(ORDERS, ROWS)
    feed = Feed(lambda _set, stats: table.store(stats), FeedAuth("none"), entity_sets=(ORDERS,))
    answers = [feed.handle(FeedRequest("GET", "/Orders", "$top=3&$orderby=OrderID", {}, ROOT_URL)) for _ in "ab"]
    assert [(r.status, r.store_ms) for r in answers] == [(200, 0.0), (200, 0.0)]
    assert 3 <= answers[0].items_read == answers[1].items_read < 20


# ---- next links: page sizes, forged and misplaced tokens ------------------------------------------------------------

NORTHWIND = {
    name: MemoryTable(
        BY_NAME[name], json.loads((ROOT / "data" / "northwind" / f"{name}.json").read_bytes(), parse_float=Decimal)
    )
    for name in ("Orders", "Customers", "Order_Details")
}


def answer(path: str, query: str, page_size: int = 2000) -> tuple[int, dict[str, Any]]:
    """The feed's status and body for one request over the Northwind tables."""
    set_name = path.strip("/").split("/")[0].split("(")[0]
    table = NORTHWIND[set_name]
    feed = Feed(lambda _s, stats: table.store(stats), FeedAuth("none"), page_size=page_size, entity_sets=ENTITY_SETS)
    response = feed.handle(FeedRequest("GET", path, query, {}, ROOT_URL))
    return response.status, json.loads(response.body)


def token_of(body: dict[str, Any]) -> dict[str, Any]:
    link = dict(parse_qsl(urlsplit(body["@odata.nextLink"]).query))["$skiptoken"]
    return dict(json.loads(base64.urlsafe_b64decode(link + "=" * (-len(link) % 4))))


def with_token(query: str, token: dict[str, Any]) -> str:
    text = base64.urlsafe_b64encode(json.dumps(token).encode()).decode().rstrip("=")
    return f"{query}&$skiptoken={text}"


@pytest.mark.parametrize("page_size", [1, 0])
@pytest.mark.parametrize(
    "query", ["$filter=CustomerID eq 'ALFKI'&$orderby=OrderDate", "$filter=CustomerID eq 'ALFKI'&$orderby=Freight"]
)
def test_the_smallest_page_is_one_row(query: str, page_size: int) -> None:
    status, body = answer("/Orders", query, page_size)
    pages = [body["value"]]
    while "@odata.nextLink" in body:
        status, body = answer("/Orders", urlsplit(body["@odata.nextLink"]).query, page_size)
        pages.append(body["value"])
    assert status == 200
    assert [len(page) for page in pages] == [1] * 6  # ALFKI has six orders


def test_count_of_a_filter_no_counter_answers_counts_the_matching_rows() -> None:
    table = NORTHWIND["Orders"]
    feed = Feed(lambda _s, stats: table.store(stats), FeedAuth("none"), entity_sets=ENTITY_SETS)
    response = feed.handle(FeedRequest("GET", "/Orders/$count", "$filter=contains(ShipName,'La')", {}, ROOT_URL))
    assert (response.status, response.body) == (200, str(sum("La" in r["ShipName"] for r in ROWS)).encode())
    # A filter only the engine can check (no FilterExpression states it): each row read is checked.
    response = feed.handle(FeedRequest("GET", "/Orders/$count", "$filter=length(ShipName) gt 20", {}, ROOT_URL))
    assert (response.status, response.body) == (200, str(sum(len(r["ShipName"]) > 20 for r in ROWS)).encode())


@pytest.mark.parametrize(
    ("path", "query", "forge"),
    [
        # A token of another list view: the scan's key position, the descending order's sort value, ...
        ("/Orders", "$top=20", lambda t: t | {"s": "all-by-OrderDate:d"}),
        ("/Orders", "$orderby=OrderDate desc", lambda t: t | {"s": "scan"}),
        ("/Orders", "$orderby=OrderDate desc", lambda t: t | {"s": "all-by-OrderDate:a"}),
        # ... or its own with a position no row of it can have.
        ("/Orders", "$orderby=OrderDate desc", lambda t: t | {"p": 5}),
        ("/Orders", "$top=20", lambda t: t | {"p": {"OrderID": "10250"}}),
        ("/Orders", "$top=20", lambda t: t | {"p": {"OrderID": True}}),
        ("/Orders", "$top=20", lambda t: t | {"p": {"OrderID": 10250, "ShipName": "x"}}),
        ("/Orders", "$top=20", lambda t: t | {"p": {"ShipName": "x"}}),
        ("/Orders", "$top=20", lambda t: t | {"p": 10250}),
        ("/Customers", "$top=20", lambda t: t | {"p": {"CustomerID": ""}}),
        ("/Customers", "$top=20", lambda t: t | {"p": {"CustomerID": 7}}),
        ("/Order_Details", "$filter=OrderID eq 10248&$orderby=ProductID", lambda t: t | {"p": "11"}),
        ("/Order_Details", "$filter=OrderID eq 10248&$orderby=ProductID", lambda t: t | {"p": {"ProductID": 11}}),
    ],
)
def test_a_skiptoken_of_another_list_view_or_a_forged_position_is_refused(
    path: str, query: str, forge: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    status, body = answer(path, query, page_size=2)
    assert status == 200
    issued = token_of(body)
    assert answer(path, with_token(query, issued), page_size=2)[0] == 200  # the token as issued is taken
    status, body = answer(path, with_token(query, forge(issued)), page_size=2)
    assert (status, body["error"]["code"], body["error"]["target"]) == (400, "InvalidSkipToken", "$skiptoken")


def test_decimals_keep_every_stored_digit_in_both_versions() -> None:
    # 4.0 writes a decimal it only outputs as the stored text (a JSON number); 2.0 writes Edm.Decimal as a string.
    # Either way the digits are the stored ones, never a float's.
    from sf_edge.odata.dialects import V2

    table = MemoryTable(ORDERS, [{**ROWS[0], "Freight": Decimal("32.3800000000000000001")}])
    feed = Feed(lambda _s, stats: table.store(stats), FeedAuth("none"), entity_sets=(ORDERS,))
    v4 = feed.handle(FeedRequest("GET", "/Orders", "$select=OrderID,Freight", {}, ROOT_URL))
    assert b'"Freight":32.3800000000000000001' in v4.body
    # Also a decimal the request computes with (filtered on: read exactly, then written out).
    v4 = feed.handle(FeedRequest("GET", "/Orders", "$select=OrderID,Freight&$filter=Freight gt 32.38", {}, ROOT_URL))
    assert b'"Freight":32.3800000000000000001' in v4.body
    integral = MemoryTable(ORDERS, [{**ROWS[0], "Freight": Decimal("1E+1")}])
    feed = Feed(lambda _s, stats: integral.store(stats), FeedAuth("none"), entity_sets=(ORDERS,))
    v4 = feed.handle(FeedRequest("GET", "/Orders", "$select=OrderID,Freight&$filter=Freight ge 10", {}, ROOT_URL))
    assert b'"Freight":10}' in v4.body  # plain notation
    feed = Feed(lambda _s, stats: table.store(stats), FeedAuth("none"), entity_sets=(ORDERS,))
    for accept in ("application/json", "application/atom+xml"):
        v2 = feed.handle(FeedRequest("GET", "/Orders", "$select=OrderID,Freight", {"Accept": accept}, ROOT_URL), V2())
        assert v2.status == 200, v2.body
        assert b"32.3800000000000000001" in v2.body
        assert b"Fragment" not in v2.body


def test_a_token_of_one_sorted_list_view_is_refused_by_another() -> None:
    status, body = answer("/Orders", "$orderby=OrderDate desc", page_size=2)
    token = dict(parse_qsl(urlsplit(body["@odata.nextLink"]).query))["$skiptoken"]
    other = "$filter=CustomerID eq 'ALFKI'&$orderby=OrderDate desc"  # another index, read the same way
    status, body = answer("/Orders", f"{other}&$skiptoken={token}", page_size=2)
    assert (status, body["error"]["code"]) == (400, "InvalidSkipToken")


def test_rows_stored_without_their_declared_types_still_page() -> None:
    # Another writer's rows come back untyped (numbers as Decimal): the next link still names a key of the declared
    # type, and the walk serves every row once.
    untyped = [{**row, "OrderID": Decimal(row["OrderID"])} for row in ROWS[:7]]
    table = MemoryTable(ORDERS, untyped)
    feed = Feed(lambda _s, stats: table.store(stats), FeedAuth("none"), page_size=3, entity_sets=(ORDERS,))
    seen: list[int] = []
    query = "$top=7"
    while True:
        response = feed.handle(FeedRequest("GET", "/Orders", query, {}, ROOT_URL))
        assert response.status == 200, response.body
        body = json.loads(response.body)
        seen += [int(row["OrderID"]) for row in body["value"]]
        if "@odata.nextLink" not in body:
            break
        position = token_of(body)["p"]
        assert isinstance(position["OrderID"], int)
        query = urlsplit(body["@odata.nextLink"]).query
    assert sorted(seen) == sorted(row["OrderID"] for row in ROWS[:7])


def test_a_page_cut_at_or_past_its_end_is_the_page_itself() -> None:
    from sf_edge.odata.engine import Page

    last = Page([{"OrderID": 1}, {"OrderID": 2}], None, None, lambda n: f"next-after-{n}", streamed=True)
    assert last.cut(2) is last  # the last page stays the last: no next link invented
    assert last.cut(5) is last
    cut = last.cut(1)
    assert (cut.rows, cut.next_link) == ([{"OrderID": 1}], "next-after-1")


def test_a_token_past_the_top_serves_nothing_more() -> None:
    status, body = answer("/Orders", "$top=4&$orderby=OrderDate", page_size=2)
    done = token_of(body) | {"n": 4}  # as if all of $top were served
    status, body = answer("/Orders", with_token("$top=4&$orderby=OrderDate", done), page_size=2)
    assert (status, body["value"], "@odata.nextLink" in body) == (200, [], False)


# ---- odata.metadata levels (OData JSON 4.0 §3.1; issue 25.10) ----------------------------------------------------


def _answer(path: str, query: str = "", headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    table = _TABLES.setdefault(id(ROWS), MemoryTable(ORDERS, ROWS))
    feed = Feed(lambda _set, stats: table.store(stats), FeedAuth("none"), page_size=2, entity_sets=(ORDERS,))
    response = feed.handle(FeedRequest("GET", path, query, headers or {}, ROOT_URL))
    return response.status, response.headers, json.loads(response.body)


def test_metadata_none_drops_the_control_information_but_count_and_next_link() -> None:
    status, headers, body = _answer("/Orders", "$count=true", {"Accept": "application/json;odata.metadata=none"})
    assert status == 200
    assert "odata.metadata=none" in headers["Content-Type"]
    assert set(body) == {"@odata.count", "value", "@odata.nextLink"}
    assert not [k for row in body["value"] for k in row if k.startswith("@") or "@" in k]
    status, headers, entity = _answer("/Orders(10248)", "$format=application/json;odata.metadata=none")
    assert (status, entity["OrderID"], headers["ETag"]) == (200, 10248, 'W/"0"')
    assert not [k for k in entity if "@" in k]


def test_metadata_full_names_each_entitys_type_id_edit_link_etag_and_the_types_json_does_not_say() -> None:
    status, headers, entity = _answer("/Orders(10248)", "", {"Accept": "application/json;odata.metadata=full"})
    assert status == 200
    assert "odata.metadata=full" in headers["Content-Type"]
    assert entity["@odata.context"] == f"{ROOT_URL}$metadata#Orders/$entity"
    assert entity["@odata.type"] == "#NorthwindModel.Order"
    assert entity["@odata.id"] == entity["@odata.editLink"] == f"{ROOT_URL}Orders(10248)"
    assert entity["@odata.etag"] == 'W/"0"'
    assert entity["Freight@odata.type"] == "#Decimal"
    assert entity["OrderDate@odata.type"] == "#DateTimeOffset"
    assert "ShipName@odata.type" not in entity  # a string says its type
    keys = list(entity)
    assert keys.index("Freight@odata.type") == keys.index("Freight") - 1  # the annotation precedes its value
    _, _, page = _answer("/Orders", "$select=OrderID,Freight", {"Accept": "application/json;odata.metadata=full"})
    assert [row["@odata.id"] for row in page["value"]] == [f"{ROOT_URL}Orders({r['OrderID']})" for r in page["value"]]
    assert all(row["@odata.type"] == "#NorthwindModel.Order" for row in page["value"])


def test_a_metadata_level_odata_does_not_define_is_not_acceptable() -> None:
    status, _, body = _answer("/Orders", "", {"Accept": "application/json;odata.metadata=everything"})
    assert status == 406
    assert "minimal, full or none" in body["error"]["message"]
    assert _answer("/Orders", "", {"Accept": "application/json"})[0] == 200
    assert _answer("/Orders", "", {"Accept": "*/*"})[0] == 200
