"""The callout API through its Lambda entry point: every operation, the error contract, auth and idempotency.

Expected figures are computed here, independently, from the Northwind JSON the tables were seeded from.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from conftest import CALLOUT_KEY, ROOT, Stack
from local_runtime.aws_local import LocalAws
from local_runtime.lambda_host import LocalContext

NORTHWIND = ROOT / "data" / "northwind"
PRODUCTS = {p["ProductID"]: p for p in json.loads((NORTHWIND / "Products.json").read_text())}
ORDERS = json.loads((NORTHWIND / "Orders.json").read_text())
DETAILS = json.loads((NORTHWIND / "Order_Details.json").read_text())


@pytest.fixture(scope="module")
def seeded(local_aws: LocalAws) -> Iterator[Stack]:
    """One provisioned and fully seeded account for the module (the tests only read the order system)."""
    from local_runtime.stack import seed_order_system

    stack = Stack(local_aws)
    stack.provision()
    seed_order_system(stack.template)
    return stack


@pytest.fixture
def api(seeded: Stack, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    import callout_api

    callout_api.callouts.configure(
        callout_api.CalloutSettings.from_env(), callout_auth="ApiKey", callout_api_key=CALLOUT_KEY
    )
    yield callout_api
    callout_api.callouts.reset()


def call(
    api: Any,
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    raw: str | None = None,
) -> tuple[int, dict[str, str], Any]:
    sent = {"Content-Type": "application/json", "x-api-key": CALLOUT_KEY, **(headers or {})}
    sent = {k: v for k, v in sent.items() if v is not None}
    event = {
        "resource": "/api/v1/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": sent,
        "multiValueHeaders": {k: [v] for k, v in sent.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
        "pathParameters": {"proxy": path.removeprefix("/api/v1/")},
        "requestContext": {"requestId": "gw-request-1", "stage": "live", "identity": {"sourceIp": "13.110.1.2"}},
        "body": raw if raw is not None else (json.dumps(body) if body is not None else None),
        "isBase64Encoded": False,
    }
    response = api.lambda_handler(event, LocalContext("CalloutTokenFunction"))
    headers_out = {
        **response.get("headers", {}),
        **{k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()},
    }
    return response["statusCode"], headers_out, json.loads(response["body"]) if response.get("body") else None


def expected_line(product_id: int, quantity: int) -> tuple[Decimal, Decimal]:
    price = Decimal(str(PRODUCTS[product_id]["UnitPrice"]))
    rate = (
        Decimal("0.15")
        if quantity >= 100
        else Decimal("0.10")
        if quantity >= 50
        else Decimal("0.05")
        if quantity >= 10
        else Decimal(0)
    )
    subtotal = (price * quantity).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return subtotal, (subtotal * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# ---- operations with valid input -------------------------------------------------------------------------------


def test_quote_prices_every_line(api: Any) -> None:
    lines = [(11, 12), (2, 120), (42, 5), (72, 50)]
    status, headers, quote = call(
        api,
        "POST",
        "/api/v1/quotes",
        {"accountId": "ALFKI", "lines": [{"productId": p, "quantity": q} for p, q in lines]},
    )
    assert status == 200, quote
    assert (quote["customerId"], quote["customerName"], quote["currencyCode"]) == (
        "ALFKI",
        "Alfreds Futterkiste",
        "USD",
    )
    for (product_id, quantity), line in zip(lines, quote["lines"], strict=True):
        subtotal, discount = expected_line(product_id, quantity)
        assert Decimal(str(line["lineSubtotal"])) == subtotal
        assert Decimal(str(line["lineDiscount"])) == discount
        assert Decimal(str(line["lineTotal"])) == subtotal - discount
        stock, discontinued = PRODUCTS[product_id]["UnitsInStock"], PRODUCTS[product_id]["Discontinued"]
        assert line["backorderQuantity"] == (0 if discontinued else max(0, quantity - stock))
        assert line["stockStatus"] == (
            "DISCONTINUED" if discontinued else "IN_STOCK" if stock >= quantity else "PARTIAL" if stock else "BACKORDER"
        )
    subtotal = sum(expected_line(p, q)[0] for p, q in lines)
    discount = sum(expected_line(p, q)[1] for p, q in lines)
    assert Decimal(str(quote["total"])) == subtotal - discount
    assert quote["allAvailable"] is False
    assert headers["X-Request-Id"] == "gw-request-1"


def test_quote_list_pricing_applies_no_breaks(api: Any) -> None:
    status, _, quote = call(
        api,
        "POST",
        "/api/v1/quotes",
        {"accountId": "ALFKI", "lines": [{"productId": 2, "quantity": 120}], "pricing": "LIST"},
    )
    assert status == 200
    assert quote["discount"] == 0
    assert quote["lines"][0]["discountPercent"] == 0


def test_quote_discontinued_product(api: Any) -> None:
    discontinued = next(p for p in PRODUCTS.values() if p["Discontinued"])
    status, _, quote = call(
        api,
        "POST",
        "/api/v1/quotes",
        {"accountId": "ALFKI", "lines": [{"productId": discontinued["ProductID"], "quantity": 1}]},
    )
    assert status == 200
    assert quote["lines"][0]["stockStatus"] == "DISCONTINUED"


def test_quote_for_a_linked_salesforce_account(api: Any, seeded: Stack) -> None:
    from sf_edge.salesforce.ids import to_18

    account = to_18("0015g00000QuOtE")
    seeded.table("KeyRegistryTable").put_item(Item={"Key": f"account#{account}", "CustomerID": "BLAUS"})
    for sent in (account, account[:15]):
        status, _, quote = call(
            api, "POST", "/api/v1/quotes", {"accountId": sent, "lines": [{"productId": 1, "quantity": 1}]}
        )
        assert status == 200
        assert quote["customerId"] == "BLAUS"


def test_credit_from_open_orders(api: Any) -> None:
    open_orders = {o["OrderID"]: o for o in ORDERS if not o["ShippedDate"]}
    customer = max(
        {o["CustomerID"] for o in open_orders.values()},
        key=lambda c: sum(1 for o in open_orders.values() if o["CustomerID"] == c),
    )
    exposure = sum(
        Decimal(str(d["UnitPrice"])) * d["Quantity"] * (1 - Decimal(str(d["Discount"])))
        for d in DETAILS
        if d["OrderID"] in open_orders and open_orders[d["OrderID"]]["CustomerID"] == customer
    )
    status, _, credit = call(api, "GET", f"/api/v1/accounts/{customer}/credit")
    assert status == 200, credit
    assert Decimal(str(credit["exposure"])) == exposure.quantize(Decimal("0.01"))
    assert Decimal(str(credit["available"])) == max(Decimal(0), Decimal(25000) - exposure.quantize(Decimal("0.01")))
    assert credit["openOrders"] == sum(1 for o in open_orders.values() if o["CustomerID"] == customer)
    assert credit["lateOpenOrders"] == credit["openOrders"]  # Northwind's dates are all in the past
    assert credit["decision"] == "REVIEW"
    assert "LATE_OPEN_ORDERS" in [r["code"] for r in credit["reasons"]]


def test_a_half_cent_discount_rounds_up_as_an_invoice_does(api: Any) -> None:
    """Louisiana Fiery Hot Pepper Sauce at 21.05 x 10 is 210.50; its 5 % break is 10.525: 10.53 off, 199.97 due."""
    status, _, quote = call(
        api, "POST", "/api/v1/quotes", {"accountId": "ALFKI", "lines": [{"productId": 65, "quantity": 10}]}
    )
    assert status == 200, quote
    line = quote["lines"][0]
    assert (Decimal(str(line["lineSubtotal"])), Decimal(str(line["lineDiscount"]))) == (
        Decimal("210.50"),
        Decimal("10.53"),
    )
    assert Decimal(str(quote["total"])) == Decimal("199.97")


def _open_exposure(customer: str) -> Decimal:
    open_orders = {o["OrderID"] for o in ORDERS if not o["ShippedDate"] and o["CustomerID"] == customer}
    return sum(
        (
            Decimal(str(d["UnitPrice"])) * d["Quantity"] * (1 - Decimal(str(d["Discount"])))
            for d in DETAILS
            if d["OrderID"] in open_orders
        ),
        Decimal(0),
    ).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _set_limit(stack: Stack, customer: str, limit: Decimal) -> None:
    stack.table("CustomersTable").update_item(
        Key={"CustomerID": customer},
        UpdateExpression="SET CreditLimit = :l",
        ExpressionAttributeValues={":l": limit},
    )


def test_credit_declines_over_the_limit(api: Any, seeded: Stack) -> None:
    exposure = _open_exposure("RICAR")
    assert exposure > 1, "the fixture needs open orders for RICAR"
    _set_limit(seeded, "RICAR", Decimal(1))
    status, _, credit = call(api, "GET", "/api/v1/accounts/RICAR/credit")
    assert status == 200
    assert (Decimal(str(credit["exposure"])), credit["decision"], Decimal(str(credit["available"]))) == (
        exposure,
        "DECLINE",
        Decimal(0),
    )
    assert credit["reasons"][0]["code"] == "EXPOSURE_OVER_LIMIT"


def test_exposure_exactly_at_the_limit_is_not_declined(api: Any, seeded: Stack) -> None:
    """A limit is what a customer may owe: owing exactly that much is review (over 80 %), not decline."""
    exposure = _open_exposure("RICAR")
    _set_limit(seeded, "RICAR", exposure)
    status, _, credit = call(api, "GET", "/api/v1/accounts/RICAR/credit")
    assert status == 200
    assert (credit["decision"], Decimal(str(credit["available"]))) == ("REVIEW", Decimal(0))
    assert "EXPOSURE_OVER_LIMIT" not in [r["code"] for r in credit["reasons"]]
    assert "EXPOSURE_NEAR_LIMIT" in [r["code"] for r in credit["reasons"]]
    _set_limit(seeded, "RICAR", exposure - Decimal("0.01"))
    assert call(api, "GET", "/api/v1/accounts/RICAR/credit")[2]["decision"] == "DECLINE"


def test_order_with_lines(api: Any) -> None:
    status, _, order = call(api, "GET", "/api/v1/orders/10248")
    assert status == 200
    assert (order["customerId"], order["status"], order["total"]) == ("VINET", "SHIPPED", 440.0)
    assert [line["productName"] for line in order["lines"]] == [
        "Queso Cabrales",
        "Singaporean Hokkien Fried Mee",
        "Mozzarella di Giovanni",
    ]


def test_availability(api: Any) -> None:
    out_of_stock = next(p for p in PRODUCTS.values() if p["UnitsInStock"] == 0 and not p["Discontinued"])
    status, _, body = call(api, "GET", f"/api/v1/products/{out_of_stock['ProductID']}/availability")
    assert (status, body["stockStatus"]) == (200, "BACKORDER")
    status, _, body = call(api, "GET", "/api/v1/products/1/availability", query={"quantity": "39"})
    assert (body["stockStatus"], body["canFulfil"]) == ("IN_STOCK", True)
    status, _, body = call(api, "GET", "/api/v1/products/1/availability", query={"quantity": "40"})
    assert (body["stockStatus"], body["canFulfil"], body["requestedQuantity"]) == ("PARTIAL", False, 40)


@pytest.mark.parametrize(
    ("address", "valid", "normalized", "issue_codes"),
    [
        (
            {
                "street": " 1  Market St",
                "city": "San Francisco",
                "state": "California",
                "postalCode": "941051234",
                "country": "United States",
            },
            True,
            {"country": "US", "state": "CA", "postalCode": "94105-1234", "street": "1 Market St"},
            [],
        ),
        (
            {"street": "24 Sussex Dr", "city": "Ottawa", "state": "ON", "postalCode": "k1m1m4", "country": "CAN"},
            True,
            {"country": "CA", "postalCode": "K1M 1M4"},
            [],
        ),
        (
            {"street": "10 Downing St", "city": "London", "postalCode": "sw1a2aa", "country": "UK"},
            True,
            {"country": "GB", "postalCode": "SW1A 2AA"},
            [],
        ),
        (
            {"street": "Obere Str. 57", "city": "Berlin", "postalCode": "1220", "country": "DE"},
            False,
            {"country": "DE"},
            ["POSTAL_CODE_FORMAT"],
        ),
        (
            {"street": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"},
            False,
            {"country": "US"},
            ["REQUIRED"],
        ),
        ({"street": "1 Main St", "city": "Nowhere", "country": "Untied States"}, False, None, ["UNKNOWN_COUNTRY"]),
    ],
    ids=["us-fixable", "ca-format", "gb-format", "de-bad-postcode", "us-no-state", "unknown-country"],
)
def test_address_validation(
    api: Any, address: dict[str, str], valid: bool, normalized: dict[str, str] | None, issue_codes: list[str]
) -> None:
    status, _, result = call(api, "POST", "/api/v1/addresses/validate", address)
    assert status == 200, result
    assert result["valid"] is valid
    assert [i["code"] for i in result["issues"]] == issue_codes
    if normalized is None:
        assert "normalized" not in result  # absent, not null: the OpenAPI document says so
        assert {"field": "country", "value": "US", "reason": "closest ISO 3166 country"} in result["suggestions"]
    else:
        assert normalized.items() <= result["normalized"].items()


# ---- the error contract ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"lines": [{"productId": 1, "quantity": 1}]}, [("accountId", "missing")]),
        (
            {"accountId": "ALFKI", "lines": [{"productId": 1, "quantity": "ten"}]},
            [("lines[0].quantity", "int_type")],
        ),
        (
            {"accountId": "ALFKI", "lines": [{"productId": 1, "quantity": 1}], "pricing": "CHEAP"},
            [("pricing", "literal_error")],
        ),
        (
            {"accountId": "ALFKI", "lines": [{"productId": 1, "quantity": 0}]},
            [("lines[0].quantity", "greater_than_equal")],
        ),
        (
            {"accountId": "ALFKI", "lines": [{"productId": 1, "quantity": 100_001}]},
            [("lines[0].quantity", "less_than_equal")],
        ),
        ({"accountId": "ALFKI", "lines": []}, [("lines", "too_short")]),
        (
            {"accountId": "ALF KI!", "lines": [{"productId": 1, "quantity": 1}]},
            [("accountId", "string_pattern_mismatch")],
        ),
        (
            {"accountId": "ALFKI", "lines": [{"productId": 1, "quantity": 1, "colour": "red"}]},
            [("lines[0].colour", "extra_forbidden")],
        ),
    ],
    ids=[
        "missing-field",
        "wrong-type",
        "bad-enum",
        "below-range",
        "above-range",
        "empty-list",
        "bad-pattern",
        "unknown-field",
    ],
)
def test_validation_errors_name_each_field(api: Any, body: dict[str, Any], fields: list[tuple[str, str]]) -> None:
    status, headers, error = call(api, "POST", "/api/v1/quotes", body, headers={"X-Request-Id": "apex-42"})
    assert status == 422
    assert (error["status"], error["code"], error["requestId"]) == (422, "VALIDATION_FAILED", "apex-42")
    assert [(f["field"], f["code"]) for f in error["fieldErrors"]] == fields
    assert headers["X-Request-Id"] == "apex-42"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/orders/abc", "orderId"),
        ("/api/v1/orders/0", "orderId"),
        ("/api/v1/products/-3/availability", "productId"),
        ("/api/v1/accounts/a%20b/credit", "accountId"),
    ],
)
def test_bad_path_ids(api: Any, path: str, field: str) -> None:
    status, _, error = call(api, "GET", path)
    assert status == 422
    assert error["fieldErrors"][0]["field"] == field


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("GET", "/api/v1/orders/99999", None, "orderId"),
        ("GET", "/api/v1/products/999/availability", None, "productId"),
        ("GET", "/api/v1/accounts/NOONE/credit", None, "accountId"),
        ("POST", "/api/v1/quotes", {"accountId": "NOONE", "lines": [{"productId": 1, "quantity": 1}]}, "accountId"),
        (
            "POST",
            "/api/v1/quotes",
            {"accountId": "ALFKI", "lines": [{"productId": 1, "quantity": 1}, {"productId": 999, "quantity": 1}]},
            "lines[1].productId",
        ),
    ],
)
def test_unknown_ids_are_404(api: Any, method: str, path: str, body: Any, field: str) -> None:
    status, _, error = call(api, method, path, body)
    assert (status, error["code"]) == (404, "NOT_FOUND")
    assert error["fieldErrors"][0]["field"] == field


def test_lines_of_the_same_product_are_combined(api: Any) -> None:
    status, _, quote = call(
        api,
        "POST",
        "/api/v1/quotes",
        {"accountId": "ALFKI", "lines": [{"productId": 2, "quantity": 6}, {"productId": 2, "quantity": 6}]},
    )
    assert status == 200
    [line] = quote["lines"]
    assert (line["quantity"], line["discountPercent"]) == (12, 5.0)  # the 10+ break applies to the combined 12


def test_malformed_json_is_400_and_wrong_media_type_415(api: Any) -> None:
    status, _, error = call(api, "POST", "/api/v1/quotes", raw='{"accountId": "ALFKI", ')
    assert (status, error["code"]) == (400, "MALFORMED_JSON")
    status, _, error = call(
        api,
        "POST",
        "/api/v1/quotes",
        raw="accountId=ALFKI",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (status, error["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")


def test_unknown_route_is_404(api: Any) -> None:
    status, _, error = call(api, "GET", "/api/v1/invoices/1")
    assert (status, error["code"]) == (404, "ROUTE_NOT_FOUND")


# ---- auth ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/orders/10248", "/api/v1/openapi.json"])
@pytest.mark.parametrize(("key", "code"), [(None, "MISSING_API_KEY"), ("guess", "INVALID_API_KEY")])
def test_api_key_refused(api: Any, key: str | None, code: str, path: str) -> None:
    """The OpenAPI document too: External Services imports it through the same Named Credential."""
    status, headers, error = call(api, "GET", path, headers={"x-api-key": key})  # type: ignore[dict-item]
    assert (status, error["code"]) == (401, code)
    assert headers["WWW-Authenticate"] == "ApiKey"
    status, _, served = call(api, "GET", path)
    assert status == 200
    assert served


@pytest.fixture
def jwt_mode(api: Any, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    api.callouts.configure(
        callout_auth="Jwt",
        callout_jwt_public_key=public.decode(),
        callout_jwt_issuer="salesforce-org-00D5g00000LoCaL",
        callout_jwt_audience="callouts",
    )
    return key


def token(key: Any, **claims: Any) -> str:
    import jwt

    now = int(time.time())
    return jwt.encode(
        {
            "iss": "salesforce-org-00D5g00000LoCaL",
            "aud": "callouts",
            "sub": "integration@example.com",
            "iat": now,
            "exp": now + 300,
            **claims,
        },
        key,
        algorithm="RS256",
    )


def test_a_certificate_parameter_that_is_not_there_is_our_500_not_a_retry(api: Any, jwt_mode: Any) -> None:
    """Issue 25.8: a missing SSM parameter answered every call 503 "retry shortly", as if it would clear."""
    from sf_edge.settings import SecretSetting

    api.callouts.configure(callout_jwt_public_key=SecretSetting(parameter="/nowhere/callout-jwt-certificate"))
    status, headers, error = call(
        api,
        "GET",
        "/api/v1/orders/10248",
        headers={"x-api-key": None, "Authorization": f"Bearer {token(jwt_mode)}"},  # type: ignore[dict-item]
    )
    assert (status, error["code"]) == (500, "AUTH_NOT_CONFIGURED")
    assert "Retry-After" not in headers


def test_jwt_bearer_accepted(api: Any, jwt_mode: Any) -> None:
    status, _, order = call(
        api,
        "GET",
        "/api/v1/orders/10248",
        headers={
            "x-api-key": None,  # type: ignore[dict-item]
            "Authorization": f"Bearer {token(jwt_mode)}",
        },
    )
    assert (status, order["orderId"]) == (200, 10248)


@pytest.mark.parametrize(
    "claims", [{"exp": 1}, {"aud": "other"}, {"iss": "someone-else"}], ids=["expired", "audience", "issuer"]
)
def test_jwt_bearer_refused(api: Any, jwt_mode: Any, claims: dict[str, Any]) -> None:
    status, headers, error = call(
        api, "GET", "/api/v1/orders/10248", headers={"Authorization": f"Bearer {token(jwt_mode, **claims)}"}
    )
    assert (status, error["code"]) == (401, "INVALID_BEARER_TOKEN")
    assert headers["WWW-Authenticate"] == "Bearer"


def test_jwt_signed_by_another_key_refused(api: Any, jwt_mode: Any) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    status, _, error = call(api, "GET", "/api/v1/orders/10248", headers={"Authorization": f"Bearer {token(stranger)}"})
    assert (status, error["code"]) == (401, "INVALID_BEARER_TOKEN")
    status, _, error = call(api, "GET", "/api/v1/orders/10248")
    assert (status, error["code"]) == (401, "MISSING_BEARER_TOKEN")


# ---- idempotency -----------------------------------------------------------------------------------------------


def test_idempotent_retry_returns_the_first_quote(api: Any) -> None:
    body = {"accountId": "ALFKI", "lines": [{"productId": 11, "quantity": 12}]}
    first = call(api, "POST", "/api/v1/quotes", body, headers={"Idempotency-Key": "apex-retry-1"})
    again = call(api, "POST", "/api/v1/quotes", body, headers={"Idempotency-Key": "apex-retry-1"})
    fresh = call(api, "POST", "/api/v1/quotes", body)
    assert first[0] == again[0] == fresh[0] == 200
    assert again[2] == first[2]  # same quoteId and createdAt: nothing was priced twice
    assert fresh[2]["quoteId"] != first[2]["quoteId"]


def test_idempotency_key_reused_with_another_body_is_409(api: Any) -> None:
    call(
        api,
        "POST",
        "/api/v1/quotes",
        {"accountId": "ALFKI", "lines": [{"productId": 1, "quantity": 1}]},
        headers={"Idempotency-Key": "apex-retry-2"},
    )
    status, _, error = call(
        api,
        "POST",
        "/api/v1/quotes",
        {"accountId": "ALFKI", "lines": [{"productId": 1, "quantity": 2}]},
        headers={"Idempotency-Key": "apex-retry-2"},
    )
    assert (status, error["code"]) == (409, "IDEMPOTENCY_KEY_REUSED")


def test_failed_request_is_not_remembered(api: Any) -> None:
    body = {"accountId": "NOONE", "lines": [{"productId": 1, "quantity": 1}]}
    assert call(api, "POST", "/api/v1/quotes", body, headers={"Idempotency-Key": "apex-retry-3"})[0] == 404
    assert call(api, "POST", "/api/v1/quotes", body, headers={"Idempotency-Key": "apex-retry-3"})[0] == 404


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError"]
)
def test_store_faults_are_503_with_retry_after(api: Any, monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    from botocore.exceptions import ClientError

    def failing(*_args: Any, **_kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": code, "Message": "injected"}}, "GetItem")

    quote = {"accountId": "ALFKI", "lines": [{"productId": 1, "quantity": 1}]}
    with monkeypatch.context() as patch:
        patch.setattr(api.callouts().desk.customers, "get", failing)
        status, headers, error = call(api, "GET", "/api/v1/accounts/ALFKI/credit")
        assert (status, error["code"], headers["Retry-After"]) == (503, "SERVICE_UNAVAILABLE", "1")
        assert call(api, "POST", "/api/v1/quotes", quote, headers={"Idempotency-Key": f"fault-{code}"})[0] == 503
    # The store is back: the retry with the same key computes, since the failed attempt was not remembered.
    assert call(api, "POST", "/api/v1/quotes", quote, headers={"Idempotency-Key": f"fault-{code}"})[0] == 200


# ---- what a review found (issue 11): External Services and Flow get what they were promised ----------------------


def test_null_for_an_unset_optional_property_is_accepted(api: Any) -> None:
    """External Services sends null for an optional property left unset (it answered 422)."""
    body = {"accountId": "ALFKI", "lines": [{"productId": 11, "quantity": 50}], "pricing": None}
    status, _, quote = call(api, "POST", "/api/v1/quotes", body, headers={"Idempotency-Key": "null-pricing"})
    assert status == 200, quote
    assert quote["lines"][0]["discountPercent"] > 0  # null means the default: STANDARD, with its quantity break
    status, _, _ = call(
        api,
        "POST",
        "/api/v1/addresses/validate",
        {"street": "1 Market St", "city": "SF", "state": None, "postalCode": None, "country": "US"},
    )
    assert status == 200


@pytest.mark.parametrize("quantity", ["12", True, 12.5])
def test_numbers_are_numbers(api: Any, quantity: Any) -> None:
    body = {"accountId": "ALFKI", "lines": [{"productId": 11, "quantity": quantity}]}
    status, _, error = call(api, "POST", "/api/v1/quotes", body, headers={"Idempotency-Key": f"strict-{quantity!r}"})
    assert (status, error["fieldErrors"][0]["field"]) == (422, "lines[0].quantity")


@pytest.mark.parametrize("content_type", ["text/json", "application/x-json-ish", "text/plain", "application/jsonx"])
def test_a_body_that_is_not_json_by_its_media_type_is_415(api: Any, content_type: str) -> None:
    body = {"accountId": "ALFKI", "lines": [{"productId": 11, "quantity": 1}]}
    status, _, error = call(api, "POST", "/api/v1/quotes", body, headers={"Content-Type": content_type})
    assert (status, error["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
    status, _, _ = call(
        api,
        "POST",
        "/api/v1/quotes",
        body,
        headers={"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": "ct"},
    )
    assert status == 200


def test_orders_from_won_opportunities_count_in_exposure_and_views(api: Any, seeded: Stack) -> None:
    """An Order the worker creates from a won Opportunity has no lines yet: its value is the Opportunity's amount
    (it counted as 0, so credit was approved against unbilled orders)."""
    from sf_edge.order_system.entities import Order
    from sf_edge.order_system.key_registry import KeyRegistry
    from sf_edge.order_system.order_repository import OrderRepository

    before = call(api, "GET", "/api/v1/accounts/TRAIH/credit")[2]
    repository = OrderRepository(seeded.table("OrdersTable"), KeyRegistry(seeded.table("KeyRegistryTable")))
    order, created = repository.create_for_opportunity(
        "0065g00000WoN1aAAB",
        Order(OrderID=0, CustomerID="TRAIH", OrderDate="2026-11-20T00:00:00Z", SalesforceAmount=Decimal("12000.50")),
    )
    assert created
    after = call(api, "GET", "/api/v1/accounts/TRAIH/credit")[2]
    assert Decimal(str(after["exposure"])) == Decimal(str(before["exposure"])) + Decimal("12000.50")
    assert after["openOrders"] == before["openOrders"] + 1
    status, _, view = call(api, "GET", f"/api/v1/orders/{order.OrderID}")
    assert (status, view["total"], view["lines"], view["orderDate"]) == (200, 12000.5, [], "2026-11-20T00:00:00Z")


# ---- what mutation testing found unchecked (issue 16) ----------------------------------------------------------


def test_a_token_expired_within_the_30_second_leeway_is_accepted_and_one_past_it_is_not(
    api: Any, jwt_mode: Any
) -> None:
    """Clocks drift between Salesforce and AWS: 30 seconds of grace, no more."""
    now = int(time.time())
    recent = {"Authorization": f"Bearer {token(jwt_mode, exp=now - 20)}"}
    assert call(api, "GET", "/api/v1/orders/10248", headers=recent)[0] == 200
    stale = {"Authorization": f"Bearer {token(jwt_mode, exp=now - 45)}"}
    assert call(api, "GET", "/api/v1/orders/10248", headers=stale)[2]["code"] == "INVALID_BEARER_TOKEN"


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic c2FsZXNmb3JjZTpwYXNz", "Token abc.def.ghi"])
def test_an_authorization_header_without_a_bearer_token_is_missing_one(api: Any, jwt_mode: Any, header: str) -> None:
    status, headers, error = call(api, "GET", "/api/v1/orders/10248", headers={"Authorization": header})
    assert (status, error["code"], headers["WWW-Authenticate"]) == (401, "MISSING_BEARER_TOKEN", "Bearer")


@pytest.mark.parametrize("unset", ["callout_jwt_public_key", "callout_jwt_issuer", "callout_jwt_audience"])
def test_jwt_mode_without_its_key_issuer_or_audience_refuses_everyone(api: Any, jwt_mode: Any, unset: str) -> None:
    """A half-configured JWT mode stops the cold start, naming what is missing (it answered every call later);
    and were a secret emptied after the start, the check still fails closed on a token it cannot fully check."""
    import dataclasses

    from sf_edge.settings import SettingsError

    with pytest.raises(SettingsError, match=unset.upper()):
        api.callouts.configure(**{unset: ""})
    services = api.callouts()
    emptied = {"jwt_key": lambda: ""} if unset == "callout_jwt_public_key" else {unset.removeprefix("callout_"): ""}
    authenticator = dataclasses.replace(services.authenticator, **emptied)
    denied = authenticator.check({"Authorization": f"Bearer {token(jwt_mode)}"})
    assert denied is not None
    assert denied.code == "AUTH_NOT_CONFIGURED"


@pytest.mark.parametrize("key", ["x" * 256, "tab\tinside", "é"])
def test_an_idempotency_key_out_of_pattern_is_refused_before_anything_is_stored(seeded: Stack, key: str) -> None:
    """The operation's header check answers 422 first; the idempotency store refuses such a key on its own too
    (400, naming the header), for any caller that reaches it."""
    from sf_edge.callouts.errors import ApiProblem
    from sf_edge.callouts.idempotency import run_once

    stored = len(seeded.table("IdempotencyTable").scan()["Items"])
    with pytest.raises(ApiProblem) as refused:
        run_once(seeded.name("IdempotencyTable"), "createQuote", key, {}, lambda: {"quote": "computed"})
    assert (refused.value.status, [f.field for f in refused.value.field_errors]) == (400, ["Idempotency-Key"])
    assert len(seeded.table("IdempotencyTable").scan()["Items"]) == stored


def test_a_remembered_answer_is_kept_24_hours(api: Any, seeded: Stack) -> None:
    """Long enough for Apex's retries after a timeout, short enough that a key can be reused the next day."""
    body = {"accountId": "ALFKI", "lines": [{"productId": 11, "quantity": 1}]}
    known = {item["id"] for item in seeded.table("IdempotencyTable").scan()["Items"]}
    before = int(time.time())
    assert call(api, "POST", "/api/v1/quotes", body, headers={"Idempotency-Key": "kept-a-day"})[0] == 200
    [record] = [item for item in seeded.table("IdempotencyTable").scan()["Items"] if item["id"] not in known]
    assert before + 24 * 3600 - 5 <= int(record["expiration"]) <= int(time.time()) + 24 * 3600 + 5


def test_a_retry_while_the_first_request_still_runs_is_409_in_progress(seeded: Stack) -> None:
    """Apex retried before the first call answered: the retry must not compute a second quote. The first call's
    in-progress record expires with its invocation (the Lambda context's remaining time), not after 24 hours."""
    from sf_edge.callouts.errors import ApiProblem
    from sf_edge.callouts.idempotency import run_once

    table = seeded.name("IdempotencyTable")
    context = LocalContext("CalloutTokenFunction")
    payload = {"accountId": "ALFKI", "lines": [{"productId": 11, "quantity": 1}]}
    seen: dict[str, Any] = {}

    def first() -> dict[str, Any]:
        [seen["record"]] = [i for i in seeded.table("IdempotencyTable").scan()["Items"] if i["status"] == "INPROGRESS"]
        with pytest.raises(ApiProblem) as retried:
            run_once(table, "createQuote", "still-running", payload, lambda: {"quote": "second"}, context)
        seen["retry"] = retried.value
        return {"quote": "first"}

    assert run_once(table, "createQuote", "still-running", payload, first, context) == {"quote": "first"}
    assert (seen["retry"].status, seen["retry"].code) == (409, "REQUEST_IN_PROGRESS")
    in_progress_until = int(seen["record"]["in_progress_expiration"]) / 1000
    assert time.time() < in_progress_until < time.time() + 60  # the invocation's own deadline (15 s locally)
