"""OData 2.0 beside 4.0 on the same declarations: the same answers, 2.0's options and formats, writes, and a real
OData 2.0 client (pyodata) reading the feed through its $metadata."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from lxml import etree

from conftest import ROOT, csrf_token, serving
from local_runtime.aws_local import LocalAws
from local_runtime.stack import LocalStack

AUTH = "Basic " + base64.b64encode(b"salesforce:local-dev-password").decode()
ORDERS = json.loads((ROOT / "data" / "northwind" / "Orders.json").read_text(encoding="utf-8"))
ATOM = "{http://www.w3.org/2005/Atom}"
M = "{http://schemas.microsoft.com/ado/2007/08/dataservices/metadata}"
D = "{http://schemas.microsoft.com/ado/2007/08/dataservices}"


@pytest.fixture(scope="module")
def server(local_aws: LocalAws) -> Iterator[LocalStack]:
    env = {"ODATA_AUTH": "Basic", "ODATA_USERNAME": "salesforce", "ODATA_PASSWORD": "local-dev-password"}
    with serving(local_aws, env) as stack:
        yield stack


def call(
    server: LocalStack, method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    headers = dict(headers or {})
    if method not in ("GET", "HEAD"):
        headers.setdefault("X-CSRF-Token", csrf_token(f"{server.url}/odata/v2", AUTH))
    request = urllib.request.Request(
        f"{server.url}{path}",
        data=data,
        method=method,
        headers={"Authorization": AUTH, "Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def v2(server: LocalStack, query: str, entity_set: str = "Orders") -> dict[str, Any]:
    status, headers, body = call(server, "GET", f"/odata/v2/{entity_set}?{query}")
    assert status == 200, body
    assert headers["DataServiceVersion"] == "2.0"
    return json.loads(body)["d"]


def v4(server: LocalStack, query: str, entity_set: str = "Orders") -> dict[str, Any]:
    status, _, body = call(server, "GET", f"/odata/v4/{entity_set}?{query}")
    assert status == 200, body
    return json.loads(body)


SAME = [
    ("$filter=ShipCountry+eq+'France'&$orderby=OrderID", "$filter=ShipCountry+eq+'France'&$orderby=OrderID"),
    (
        "$filter=contains(ShipName,'La')+eq+true&$orderby=ShipName,OrderID",
        "$filter=substringof('La',ShipName)+eq+true&$orderby=ShipName,OrderID",
    ),
    (
        "$filter=OrderDate+ge+1998-04-01T00:00:00Z&$orderby=OrderDate+desc,OrderID&$top=26&$skip=3&$count=true",
        "$filter=OrderDate+ge+datetime'1998-04-01T00:00:00'&$orderby=OrderDate+desc,OrderID&$top=26&$skip=3"
        "&$inlinecount=allpages",
    ),
    (
        "$filter=EmployeeID+eq+5+and+Freight+gt+1.5&$orderby=OrderID",
        "$filter=EmployeeID+eq+5L+and+Freight+gt+1.5M&$orderby=OrderID",
    ),
]


@pytest.mark.parametrize(("query_v4", "query_v2"), SAME, ids=[q[1] for q in SAME])
def test_both_versions_agree(server: LocalStack, query_v4: str, query_v2: str) -> None:
    four, two = v4(server, query_v4), v2(server, query_v2)
    assert [o["OrderID"] for o in two["results"]] == [o["OrderID"] for o in four["value"]]
    assert all(o["__metadata"]["type"] == "NorthwindModel.Order" for o in two["results"])
    if "@odata.count" in four:
        assert two["__count"] == str(four["@odata.count"])


def test_values_in_json_verbose(server: LocalStack) -> None:
    [order] = v2(server, "$filter=OrderID+eq+10248")["results"]
    assert order["__metadata"]["uri"] == f"{server.url}/odata/v2/Orders(10248)"
    assert order["OrderDate"] == "/Date(836438400000)/"  # 1996-07-04T00:00:00Z
    assert order["Freight"] == "32.38"  # Edm.Decimal travels as a string in 2.0 JSON
    assert order["ShipRegion"] is None


def test_salesforce_search_parameter(server: LocalStack) -> None:
    found = v2(server, "doSearch=Alfreds&$select=CustomerID,CompanyName&$inlinecount=allpages", "Customers")
    assert [c["CustomerID"] for c in found["results"]] == ["ALFKI"]
    assert found["__count"] == "1"


def test_paging_follows_next(server: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    import odata_feed

    monkeypatch.setattr(odata_feed.odata().feed, "page_size", 100)
    body = v2(server, "$select=OrderID&$orderby=OrderID+desc&$inlinecount=allpages")
    seen = []
    while True:
        seen += [o["OrderID"] for o in body["results"]]
        if "__next" not in body:
            break
        assert "$inlinecount=allpages" in body["__next"]
        body = v2(server, body["__next"].split("?", 1)[1])
    assert seen == sorted((o["OrderID"] for o in ORDERS), reverse=True)


def test_atom_feed_and_entry(server: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    import odata_feed

    monkeypatch.setattr(odata_feed.odata().feed, "page_size", 5)
    status, headers, body = call(server, "GET", "/odata/v2/Customers?$top=7&$inlinecount=allpages&$format=atom")
    assert status == 200
    assert headers["Content-Type"].startswith("application/atom+xml;type=feed")
    feed = etree.fromstring(body)
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{M}count") == "91"
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 5
    assert entries[0].find(f"{ATOM}content/{M}properties/{D}CustomerID").text == "ALFKI"
    assert feed.find(f"{ATOM}link[@rel='next']") is not None
    status, headers, body = call(server, "GET", "/odata/v2/Orders(10248)", headers={"Accept": "application/atom+xml"})
    entry = etree.fromstring(body)
    freight = entry.find(f"{ATOM}content/{M}properties/{D}Freight")
    assert (freight.text, freight.get(f"{M}type")) == ("32.38", "Edm.Decimal")
    assert entry.find(f"{ATOM}content/{M}properties/{D}ShipRegion").get(f"{M}null") == "true"


def test_metadata_is_edmx_1(server: LocalStack) -> None:
    _status, _, body = call(server, "GET", "/odata/v2/$metadata")
    root = etree.fromstring(body)
    assert root.get("Version") == "1.0"
    services = root.find("{http://schemas.microsoft.com/ado/2007/06/edmx}DataServices")
    assert services.get(f"{M}DataServiceVersion") == "2.0"
    types = {p.get("Name"): p.get("Type") for p in root.iter("{*}Property")}
    assert types["OrderDate"] == "Edm.DateTime"


@pytest.mark.parametrize("accept", ["application/json", "application/atom+xml"])
def test_errors_in_the_2_0_format(server: LocalStack, accept: str) -> None:
    status, _headers, body = call(server, "GET", "/odata/v2/Orders?$filter=Freight+gt", headers={"Accept": accept})
    assert status == 400
    if "json" in accept:
        assert json.loads(body)["error"]["message"]["lang"] == "en-US"
    else:
        assert etree.fromstring(body).tag == f"{M}error"
    assert call(server, "GET", "/odata/v2/Orders?$count=true")[0] == 400  # a 4.0 option is not a 2.0 one


def test_writes_including_merge_tunnelled_through_post(server: LocalStack) -> None:
    new = {"ShipperID": 99, "CompanyName": "Pony Express", "Phone": "(555) 0100"}
    status, headers, body = call(server, "POST", "/odata/v2/Shippers", body={"d": new})
    assert status == 201, body
    assert headers["Location"] == f"{server.url}/odata/v2/Shippers(99)"
    merge = {"X-HTTP-Method": "MERGE", "If-Match": headers["ETag"]}
    assert call(server, "POST", "/odata/v2/Shippers(99)", body={"Phone": "(555) 0199"}, headers=merge)[0] == 204
    [shipper] = v2(server, "$filter=ShipperID+eq+99", "Shippers")["results"]
    assert (shipper["CompanyName"], shipper["Phone"]) == ("Pony Express", "(555) 0199")
    assert call(server, "PUT", "/odata/v2/Shippers(99)", body={"CompanyName": "Pony"})[0] == 204
    assert v2(server, "$filter=ShipperID+eq+99", "Shippers")["results"][0]["Phone"] is None
    assert call(server, "DELETE", "/odata/v2/Shippers(99)")[0] == 204
    assert call(server, "GET", "/odata/v2/Shippers(99)")[0] == 404


@pytest.mark.parametrize(
    ("method", "tunnel"), [("MERGE", None), ("PATCH", None), ("POST", "MERGE"), ("POST", "PATCH"), ("PUT", None)]
)
def test_a_stale_etag_is_refused_by_every_2_0_update(server: LocalStack, method: str, tunnel: str | None) -> None:
    """Salesforce Connect sends the ETag it read; an update of a row changed since then is 412 and changes nothing."""
    key = 97 if tunnel is None else 96
    status, headers, _ = call(server, "POST", "/odata/v2/Shippers", body={"ShipperID": key, "CompanyName": "Old"})
    assert status == 201
    stale = headers["ETag"]
    fresh = call(server, "MERGE", f"/odata/v2/Shippers({key})", body={"Phone": "1"}, headers={"If-Match": stale})
    assert fresh[0] == 204
    sent = {"If-Match": stale, **({"X-HTTP-Method": tunnel} if tunnel else {})}
    try:
        refused = call(server, method, f"/odata/v2/Shippers({key})", body={"CompanyName": "Lost"}, headers=sent)
        assert refused[0] == 412, refused
        [row] = v2(server, f"$filter=ShipperID+eq+{key}", "Shippers")["results"]
        assert (row["CompanyName"], row["Phone"]) == ("Old", "1")
    finally:
        call(server, "DELETE", f"/odata/v2/Shippers({key})")


def test_order_dates_written_as_2_0_dates(server: LocalStack) -> None:
    order = {"OrderID": 99123, "CustomerID": "ALFKI", "OrderDate": "/Date(836438400000)/"}
    assert call(server, "POST", "/odata/v2/Orders", body=order)[0] == 201
    [stored] = v4(server, "$filter=OrderID+eq+99123&$select=OrderDate")["value"]
    assert stored["OrderDate"] == "1996-07-04T00:00:00Z"


def test_a_real_odata_2_client_reads_the_feed(server: LocalStack) -> None:
    import pyodata
    import requests

    session = requests.Session()
    session.auth = ("salesforce", "local-dev-password")
    client = pyodata.Client(f"{server.url}/odata/v2/", session)
    orders = client.entity_sets.Orders.get_entities().filter("ShipCountry eq 'France'").order_by("OrderID desc")
    rows = list(orders.top(3).execute())
    assert [o.OrderID for o in rows] == [11076, 11051, 11043]
    assert rows[0].OrderDate.year == 1998
    assert client.entity_sets.Customers.get_entity("ALFKI").execute().CompanyName == "Alfreds Futterkiste"
    assert client.entity_sets.Customers.get_entities().count().execute() == 91


def test_writes_need_the_csrf_token_in_2_0_as_in_4_0(server: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    import odata_feed

    monkeypatch.setattr(odata_feed.odata().feed, "csrf_token", "t0k3n")
    new = {"ShipperID": 803, "CompanyName": "No Token Express"}
    for method, path, body, extra in [
        ("POST", "/odata/v2/Shippers", {"d": new}, {}),
        ("PUT", "/odata/v2/Shippers(1)", {"CompanyName": "x"}, {}),
        ("MERGE", "/odata/v2/Shippers(1)", {"Phone": "x"}, {}),
        ("POST", "/odata/v2/Shippers(1)", {"Phone": "x"}, {"X-HTTP-Method": "MERGE"}),
        ("DELETE", "/odata/v2/Shippers(1)", None, {}),
        ("POST", "/odata/v4/Shippers", new, {}),
    ]:
        status, headers, _ = call(server, method, path, body=body, headers={**extra, "X-CSRF-Token": ""})
        assert (status, headers.get("X-CSRF-Token")) == (403, "Required"), (method, path)
    assert call(server, "GET", "/odata/v2/Shippers(803)")[0] == 404
    assert v2(server, "$filter=ShipperID+eq+1", "Shippers")["results"][0]["Phone"] == "(503) 555-9831"
    status, headers, _ = call(server, "GET", "/odata/v2/Shippers(1)", headers={"X-CSRF-Token": "Fetch"})
    token = {"X-CSRF-Token": headers["X-CSRF-Token"]}
    assert call(server, "MERGE", "/odata/v2/Shippers(1)", body={"Phone": "1"}, headers=token)[0] == 204


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_read_never_becomes_a_write_through_method_tunnelling(server: LocalStack, method: str) -> None:
    status, _, _ = call(server, method, "/odata/v2/Shippers(2)", headers={"X-HTTP-Method": "DELETE"})
    assert status == 200
    assert call(server, "GET", "/odata/v2/Shippers(2)")[0] == 200


@pytest.mark.parametrize("root", ["/odata/v2/", "/odata/v4/", "/odata/v2", "/odata/v4"])
def test_head_on_the_service_root_answers_like_get_without_a_body(server: LocalStack, root: str) -> None:
    """Issue 25.9: the roots were routed for GET only (HEAD answered 403 "Missing Authentication Token")."""
    import odata_feed

    token = odata_feed.odata().feed.csrf_token
    assert token  # `make run`'s feed is writable, so it asks for the token
    status, headers, body = call(server, "HEAD", root, headers={"X-CSRF-Token": "Fetch"})
    assert (status, body) == (200, b"")
    assert headers.get("X-CSRF-Token") == token
    assert call(server, "HEAD", root + ("" if root.endswith("/") else "/") + "$metadata")[0] == 200


def test_pyodata_writes_after_its_documented_csrf_fetch_on_the_root(server: LocalStack) -> None:
    """pyodata's documented recipe: HEAD the service root with `x-csrf-token: fetch`, send the token on writes."""
    import pyodata
    import requests

    session = requests.Session()
    session.auth = ("salesforce", "local-dev-password")
    fetched = session.head(f"{server.url}/odata/v2/", headers={"x-csrf-token": "fetch"})
    assert fetched.status_code == 200
    session.headers.update({"x-csrf-token": fetched.headers["x-csrf-token"]})
    client = pyodata.Client(f"{server.url}/odata/v2/", session)
    created = client.entity_sets.Shippers.create_entity().set(ShipperID=925, CompanyName="Head First").execute()
    assert created.CompanyName == "Head First"
    assert call(server, "GET", "/odata/v2/Shippers(925)")[0] == 200


def test_a_method_or_path_no_route_has_is_the_http_apis_404(server: LocalStack) -> None:
    status, _, body = call(server, "GET", "/odata/v3/Orders")
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})


@pytest.mark.parametrize("root", ["/odata/v4", "/odata/v2"])
def test_a_batch_request_is_not_implemented_rather_than_not_found(server: LocalStack, root: str) -> None:
    batch = "--b\r\nContent-Type: application/http\r\n\r\nGET Orders(10248) HTTP/1.1\r\n\r\n--b--\r\n"
    request = urllib.request.Request(
        f"{server.url}{root}/$batch",
        data=batch.encode(),
        method="POST",
        headers={
            "Authorization": AUTH,
            "Content-Type": "multipart/mixed;boundary=b",
            "X-CSRF-Token": csrf_token(f"{server.url}/odata/v2", AUTH),
        },
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=20)
    assert refused.value.code == 501
    assert b"$batch is not supported" in refused.value.read()
