"""The OData feed end to end: `make run`'s HTTP server over moto, seeded from Northwind, read as Salesforce
Connect and a real OData client library read it; with the items each request read from DynamoDB."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import ROOT, csrf_token, serving
from local_runtime.aws_local import LocalAws
from local_runtime.stack import LocalStack
from sf_edge.odata.feed import Feed, FeedAuth, FeedRequest

ORDERS = json.loads((ROOT / "data" / "northwind" / "Orders.json").read_text(encoding="utf-8"))
AUTH = "Basic " + base64.b64encode(b"salesforce:local-dev-password").decode()


@pytest.fixture(scope="module")
def server(local_aws: LocalAws) -> Iterator[LocalStack]:
    env = {
        "ODATA_AUTH": "Basic",
        "ODATA_USERNAME": "salesforce",
        "ODATA_PASSWORD": "local-dev-password",
        "ODATA_PAGE_SIZE": "2000",
    }
    with serving(local_aws, env) as stack:
        yield stack


def get(server: LocalStack, path: str, *, auth: str | None = AUTH) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(f"{server.url}/odata/v4{path}", headers={"Authorization": auth} if auth else {})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            status, headers, body = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, headers, body = error.code, dict(error.headers), error.read()
    kind = headers.get("Content-Type", "")
    return status, headers, json.loads(body) if "json" in kind else body.decode()


LAST: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def record_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the last response's read statistics (what the function logs)."""
    original = Feed.handle

    def handle(self: Feed, request: FeedRequest, dialect: Any = None) -> Any:
        response = original(self, request, dialect)
        LAST.update(items_read=response.items_read, plan=response.plan)
        return response

    monkeypatch.setattr(Feed, "handle", handle)


def test_service_document_and_metadata(server: LocalStack) -> None:
    status, headers, document = get(server, "/")
    assert status == 200
    assert headers["OData-Version"] == "4.0"
    assert document["@odata.context"] == f"{server.url}/odata/v4/$metadata"
    status, headers, metadata = get(server, "/$metadata")
    assert (status, headers["Content-Type"]) == (200, "application/xml")
    assert '<EntitySet Name="Order_Details" EntityType="NorthwindModel.Order_Detail"/>' in metadata


def test_key_lookup_reads_one_item(server: LocalStack) -> None:
    status, _, order = get(server, "/Orders(10248)")
    assert (status, order["CustomerID"], LAST["plan"], LAST["items_read"]) == (200, "VINET", "get", 1)
    status, _, line = get(server, "/Order_Details(OrderID=10248,ProductID=11)")
    assert (status, line["Quantity"], LAST["items_read"]) == (200, 12, 1)


def test_detail_page_lookup_by_filter_reads_one_item(server: LocalStack) -> None:
    _status, _, body = get(server, "/Customers?$filter=CustomerID+eq+'ALFKI'&$top=2")
    assert [c["CustomerID"] for c in body["value"]] == ["ALFKI"]
    assert (LAST["plan"], LAST["items_read"]) == ("get 1 key(s)", 1)


def test_soql_in_becomes_a_batch_get(server: LocalStack) -> None:
    ids = [10248, 10249, 10250, 99999]
    query = "+or+".join(f"OrderID+eq+{i}" for i in ids)
    _status, _, body = get(server, f"/Orders?$filter={query}&$orderby=OrderID")
    assert [o["OrderID"] for o in body["value"]] == ids[:3]
    assert (LAST["plan"], LAST["items_read"]) == ("get 4 key(s)", 3)


def test_secondary_key_equality_queries_the_index(server: LocalStack) -> None:
    _status, _, body = get(server, "/Orders?$filter=CustomerID+eq+'ALFKI'+and+Freight+gt+10&$count=true")
    alfki = [o for o in ORDERS if o["CustomerID"] == "ALFKI"]
    assert body["@odata.count"] == sum(1 for o in alfki if o["Freight"] > 10)
    assert LAST["plan"] == "query CustomerID-by-OrderDate where CustomerID = 'ALFKI' + 1 condition(s) pushed down"
    assert LAST["items_read"] == len(alfki)  # ALFKI's orders only, not the 830


def test_list_view_as_salesforce_sends_it(server: LocalStack) -> None:
    status, _, body = get(
        server, "/Customers?$select=CustomerID,CompanyName,Country&$orderby=CompanyName+asc&$top=26&$skip=0&$count=true"
    )
    assert status == 200
    assert body["@odata.count"] == 91
    assert len(body["value"]) == 26
    assert [c["CompanyName"] for c in body["value"]] == sorted(c["CompanyName"] for c in body["value"])


def test_global_search_shape(server: LocalStack) -> None:
    query = "contains(CompanyName,'Alfreds')+eq+true+or+contains(ContactName,'Alfreds')+eq+true"
    status, _, body = get(server, f"/Customers?$filter={query}&$select=CustomerID")
    assert status == 200
    assert body["value"] == [{"CustomerID": "ALFKI"}]
    _status, _, body = get(server, "/Customers?$search=Alfreds&$select=CustomerID")
    assert body["value"] == [{"CustomerID": "ALFKI"}]


def test_paging_over_http_follows_next_links(server: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    import odata_feed

    monkeypatch.setattr(odata_feed.odata().feed, "page_size", 100)
    seen: list[int] = []
    status, _, body = get(server, "/Orders?$select=OrderID&$orderby=OrderID+desc&$count=true")
    assert status == 200
    while True:
        seen += [o["OrderID"] for o in body["value"]]
        link = body.get("@odata.nextLink")
        if not link:
            break
        assert link.startswith(f"{server.url}/odata/v4/Orders?")
        _status, _, body = get(server, link.removeprefix(f"{server.url}/odata/v4"))
        assert body["@odata.count"] == 830
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen)) == 830


PUSHABLE = [
    ("ShipCountry eq 'France'", lambda o: o["ShipCountry"] == "France", 1),
    (
        "EmployeeID gt 5 and ShipCountry eq 'Germany'",
        lambda o: o["EmployeeID"] > 5 and o["ShipCountry"] == "Germany",
        2,
    ),
    ("3 ge EmployeeID", lambda o: o["EmployeeID"] <= 3, 1),
    ("startswith(ShipName,'Vins')", lambda o: o["ShipName"].startswith("Vins"), 1),
    ("contains(ShipCity,'ch') and Freight gt 10", lambda o: "ch" in o["ShipCity"] and o["Freight"] > 10, 2),
    ("ShipRegion ne 'RJ' and EmployeeID le 2", lambda o: o["ShipRegion"] != "RJ" and o["EmployeeID"] <= 2, 2),
    # a missing ShipRegion is null: `eq null` must keep those rows, `ne 'RJ'` too (DynamoDB's <> would drop them)
    ("ShipRegion eq null and EmployeeID eq 4", lambda o: o["ShipRegion"] is None and o["EmployeeID"] == 4, 2),
    ("ShippedDate ne null and Freight le 1", lambda o: o["ShippedDate"] is not None and o["Freight"] <= 1, 2),
    (
        "contains(ShipName,'Gourmet') eq true or contains(ShipCity,'Gourmet') eq true or ShipRegion eq 'SP'",
        lambda o: "Gourmet" in o["ShipName"] or "Gourmet" in o["ShipCity"] or o["ShipRegion"] == "SP",
        1,
    ),
    (
        "ShipCountry in ('Brazil','Venezuela') and not (EmployeeID eq 1)",
        lambda o: o["ShipCountry"] in ("Brazil", "Venezuela") and o["EmployeeID"] != 1,
        1,
    ),
]


@pytest.mark.parametrize(("expression", "expected", "pushed"), PUSHABLE, ids=[p[0] for p in PUSHABLE])
def test_filters_pushed_to_dynamodb_keep_the_same_rows(
    server: LocalStack, expression: str, expected: Any, pushed: int
) -> None:
    query = expression.replace(" ", "+")
    status, _, body = get(server, f"/Orders?$filter={query}&$select=OrderID&$count=true")
    assert status == 200
    assert sorted(o["OrderID"] for o in body["value"]) == sorted(o["OrderID"] for o in ORDERS if expected(o))
    assert LAST["plan"] == f"scan + {pushed} condition(s) pushed down"
    # $count=true with a filter no counter answers: a (parallel) Scan reads the table, the pushdown trims what
    # comes back; one more item is the set's counter, read to size the Scan's segments.
    assert LAST["items_read"] == 830 + 1


def test_streamed_pages_resume_from_the_last_key(server: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """No $orderby and no $count (Salesforce with row counts off): every page reads about one page of items."""
    import odata_feed

    monkeypatch.setattr(odata_feed.odata().feed, "page_size", 100)
    seen: list[int] = []
    reads: list[int] = []
    status, _, body = get(server, "/Orders?$select=OrderID,Freight&$filter=Freight+ge+0")
    while True:
        assert status == 200
        assert LAST["plan"] == "scan + 1 condition(s) pushed down (streamed)"
        reads.append(LAST["items_read"])
        seen += [o["OrderID"] for o in body["value"]]
        link = body.get("@odata.nextLink")
        if not link:
            break
        status, _, body = get(server, link.removeprefix(f"{server.url}/odata/v4"))
    assert len(seen) == len(set(seen)) == 830
    assert len(reads) == 9
    assert max(reads[1:-1]) <= 1.2 * reads[0]  # page k costs what page 1 costs
    assert reads[0] <= 202


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/Orders?$filter=Freight+gt", 400, "SyntaxError"),
        ("/Orders?$filter=Fraight+gt+1", 400, "UnknownProperty"),
        ("/Orders(99999)", 404, "NotFound"),
        ("/Invoices", 404, "NotFound"),
        ("/Orders?$expand=Customer", 501, "NotImplemented"),
        ("/Orders('10248')", 400, "InvalidKey"),
    ],
)
def test_errors_are_odata_error_json(server: LocalStack, path: str, status: int, code: str) -> None:
    got, headers, body = get(server, path)
    assert (got, body["error"]["code"]) == (status, code)
    assert headers["OData-Version"] == "4.0"


@pytest.mark.parametrize(
    "auth",
    [
        None,
        "Basic " + base64.b64encode(b"salesforce:guess").decode(),
        "Basic " + base64.b64encode(b"intruder:local-dev-password").decode(),  # the password alone is not enough
        "Bearer x",
    ],
    ids=["none", "wrong-password", "wrong-user", "bearer"],
)
def test_credentials_are_required(server: LocalStack, auth: str | None) -> None:
    status, headers, body = get(server, "/Orders(10248)", auth=auth)
    assert (status, body["error"]["code"]) == (401, "Unauthorized")
    assert headers["WWW-Authenticate"] == 'Basic realm="odata"'


def test_api_key_and_anonymous_modes() -> None:
    api_key = FeedAuth("apikey", secret=lambda: "k-123")
    assert api_key.allows({"X-API-Key": "k-123"})
    assert not api_key.allows({"X-API-Key": "k-124"})
    assert not FeedAuth("apikey", secret=lambda: "").allows({"X-API-Key": ""})  # unconfigured: closed
    assert FeedAuth("none").allows({})


def test_a_real_odata_client_reads_the_feed(server: LocalStack) -> None:
    import requests
    from odata import ODataService

    session = requests.Session()
    session.auth = ("salesforce", "local-dev-password")
    service = ODataService(f"{server.url}/odata/v4/", session=session, reflect_entities=True)
    orders = service.entities["Orders"]
    french = service.query(orders).filter(orders.ShipCountry == "France").order_by(orders.OrderID.desc()).limit(3)
    rows = list(french)
    assert [o.OrderID for o in rows] == [11076, 11051, 11043]
    assert rows[0].OrderDate.year == 1998
    assert service.query(service.entities["Customers"]).get("ALFKI").CompanyName == "Alfreds Futterkiste"


# ---- writes ----------------------------------------------------------------------------------------------------


def send(
    server: LocalStack, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    data = json.dumps(body).encode() if body is not None else None
    headers = dict(headers or {})
    if method not in ("GET", "HEAD"):
        headers.setdefault("X-CSRF-Token", csrf_token(f"{server.url}/odata/v4", AUTH))
    request = urllib.request.Request(
        f"{server.url}/odata/v4{path}",
        data=data,
        method=method,
        headers={"Authorization": AUTH, "Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            status, out_headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, out_headers, raw = error.code, dict(error.headers), error.read()
    return status, out_headers, json.loads(raw) if raw else None


NEW_CUSTOMER = {"CustomerID": "NEWCO", "CompanyName": "New Co", "City": "Lyon", "Country": "France"}


def test_create_read_update_delete_with_etags(server: LocalStack) -> None:
    status, headers, created = send(server, "POST", "/Customers", NEW_CUSTOMER)
    assert status == 201, created
    assert headers["Location"] == f"{server.url}/odata/v4/Customers('NEWCO')"
    assert headers["ETag"] == created["@odata.etag"] == 'W/"1"'
    assert send(server, "POST", "/Customers", NEW_CUSTOMER)[0] == 409

    status, headers, _ = send(
        server, "PATCH", "/Customers('NEWCO')", {"City": "Paris", "Phone": None}, {"If-Match": 'W/"1"'}
    )
    assert (status, headers["ETag"]) == (204, 'W/"2"')
    status, _, error = send(server, "PATCH", "/Customers('NEWCO')", {"City": "Nice"}, {"If-Match": 'W/"1"'})
    assert (status, error["error"]["code"]) == (412, "PreconditionFailed")
    status, headers, row = get(server, "/Customers('NEWCO')")
    assert (row["City"], row["@odata.etag"], headers["ETag"]) == ("Paris", 'W/"2"', 'W/"2"')

    status, headers, _ = send(server, "PUT", "/Customers('NEWCO')", {"CompanyName": "New Co SA"}, {"If-Match": "*"})
    assert (status, headers["ETag"]) == (204, 'W/"3"')
    row = get(server, "/Customers('NEWCO')")[2]
    assert (row["CompanyName"], row["City"]) == ("New Co SA", None)  # PUT replaces: City left out is cleared

    assert send(server, "DELETE", "/Customers('NEWCO')", headers={"If-Match": 'W/"2"'})[0] == 412
    assert send(server, "DELETE", "/Customers('NEWCO')", headers={"If-Match": 'W/"3"'})[0] == 204
    assert get(server, "/Customers('NEWCO')")[0] == 404
    assert send(server, "DELETE", "/Customers('NEWCO')")[0] == 404


def test_northwind_rows_without_a_version_are_writable_with_their_etag(server: LocalStack) -> None:
    status, headers, _ = get(server, "/Shippers(1)")
    assert headers["ETag"] == 'W/"0"'
    status, headers, _ = send(server, "PATCH", "/Shippers(1)", {"Phone": "(503) 555-0000"}, {"If-Match": 'W/"0"'})
    assert (status, headers["ETag"]) == (204, 'W/"1"')


@pytest.mark.parametrize(
    ("method", "path", "body", "code"),
    [
        ("POST", "/Customers", {"CustomerID": "X" * 19, "CompanyName": "Too long id"}, "InvalidValue"),
        ("POST", "/Customers", {"CustomerID": "NOCO"}, "MissingValue"),
        ("POST", "/Customers", {**NEW_CUSTOMER, "Colour": "red"}, "UnknownProperty"),
        ("POST", "/Orders", {"OrderID": "ten"}, "InvalidValue"),
        ("POST", "/Orders", {"OrderID": 99001, "OrderDate": "yesterday"}, "InvalidValue"),
        (
            "POST",
            "/Order_Details",
            {"OrderID": 1, "ProductID": 1, "UnitPrice": 1, "Quantity": 40000, "Discount": 0},
            "InvalidValue",
        ),
        ("PATCH", "/Customers('ALFKI')", {"CustomerID": "OTHER"}, "InvalidValue"),
        ("PATCH", "/Customers('ALFKI')", {"CompanyName": None}, "InvalidValue"),
        ("PATCH", "/Customers('ALFKI')", [1, 2], "InvalidBody"),
    ],
)
def test_invalid_bodies_are_400(server: LocalStack, method: str, path: str, body: Any, code: str) -> None:
    status, _, error = send(server, method, path, body)
    assert (status, error["error"]["code"]) == (400, code)


def test_csrf_handshake(server: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    import odata_feed

    monkeypatch.setattr(odata_feed.odata().feed, "csrf_token", "t0k3n")
    status, headers, error = send(server, "PATCH", "/Shippers(2)", {"Phone": "1"}, {"X-CSRF-Token": ""})
    assert (status, headers["X-CSRF-Token"], error["error"]["code"]) == (403, "Required", "CsrfTokenRequired")
    request = urllib.request.Request(
        f"{server.url}/odata/v4/", headers={"Authorization": AUTH, "X-CSRF-Token": "Fetch"}
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        token = response.headers["X-CSRF-Token"]
    assert send(server, "PATCH", "/Shippers(2)", {"Phone": "1"}, {"X-CSRF-Token": token})[0] == 204


def test_decimals_are_written_exactly_as_stored(server: LocalStack) -> None:
    """Edm.Decimal(19,4) holds 19 digits, more than a float: 4.0 JSON carries the stored number text itself."""
    from decimal import Decimal

    limit = "123456789012345.1234"
    assert send(server, "PATCH", "/Customers('BLAUS')", {"CreditLimit": limit})[0] == 204
    request = urllib.request.Request(
        f"{server.url}/odata/v4/Customers?$filter=CustomerID+eq+'BLAUS'&$select=CustomerID,CreditLimit",
        headers={"Authorization": AUTH},
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        raw = response.read()
    [row] = json.loads(raw, parse_float=Decimal)["value"]
    assert row["CreditLimit"] == Decimal(limit)
    assert b'"CreditLimit":123456789012345.1234' in raw
    _status, _, body = get(server, "/Orders?$select=OrderID,Freight&$filter=OrderID+in+(10248,10249)&$orderby=OrderID")
    assert body["value"] == [{"OrderID": 10248, "Freight": 32.38}, {"OrderID": 10249, "Freight": 11.61}]


def test_skip_without_a_filter_moves_past_rows_without_fetching_them(server: LocalStack) -> None:
    """`$skip` in storage order (client-driven paging, no $orderby): the rows skipped are counted past in
    DynamoDB (read, not returned), and the page is exactly the rows after them."""
    _status, _, whole = get(server, "/Orders?$select=OrderID&$top=2000")
    everything = [o["OrderID"] for o in whole["value"]]
    _status, _, body = get(server, "/Orders?$select=OrderID&$skip=790&$top=25")
    assert [o["OrderID"] for o in body["value"]] == everything[790:815]
    assert LAST["items_read"] == 815  # 790 counted past, 25 read back; no look-ahead once $top is reached
    _status, _, body = get(server, "/Orders?$select=OrderID&$skip=820&$top=25")
    assert [o["OrderID"] for o in body["value"]] == everything[820:]
    _status, _, body = get(server, "/Orders?$select=OrderID&$skip=900&$top=25")
    assert body["value"] == []
