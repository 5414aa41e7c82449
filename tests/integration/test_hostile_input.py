"""Hostile input at every parser: fuzzed OData filters answer 400/501 (never a crash, never a read), and XML attacks
on the listener are refused with nothing enqueued."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, SHARED, TOKEN, Stack, make_intake
from fakes.odata_store import MemoryTable
from sf_edge.odata.dialects import V2, V4
from sf_edge.odata.engine import ReadStats
from sf_edge.odata.feed import Feed, FeedAuth, FeedRequest
from sf_edge.odata.schema import BY_NAME
from sf_edge.outbound.intake import IntakeRequest

ROWS = json.loads((ROOT / "data" / "northwind" / "Orders.json").read_text(encoding="utf-8"))[:40]
TOKENS = [
    "Freight",
    "ShipCountry",
    "OrderID",
    "OrderDate",
    "ShipRegion",
    "eq",
    "ne",
    "gt",
    "le",
    "and",
    "or",
    "not",
    "in",
    "add",
    "mod",
    "(",
    ")",
    ",",
    "'x'",
    "''",
    "'O''Neil'",
    "1",
    "-2",
    "1.5",
    "1e3",
    "12L",
    "null",
    "true",
    "contains(",
    "startswith(",
    "substring(",
    "tolower(",
    "year(",
    "substringof(",
    "2024-01-01",
    "1996-07-04T00:00:00Z",
    "datetime'1997-01-01T00:00:00'",
    "$it",
    "@x",
    "[1]",
    '"',
    "/",
    "any(",
    "%",
    "#",
]


ORDERS_TABLE = MemoryTable(BY_NAME["Orders"], ROWS)


def feeds() -> tuple[Feed, list[ReadStats]]:
    """A feed over 40 Orders in memory, and the read statistics of each request it answers."""
    reads: list[ReadStats] = []

    def store(_entity_set: Any, stats: ReadStats) -> Any:
        reads.append(stats)
        return ORDERS_TABLE.store(stats)

    return Feed(store, FeedAuth("none")), reads


filters = st.one_of(
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map(" ".join),
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map("".join),
    st.text(max_size=40),
)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=filters, version_2=st.booleans())
def test_fuzzed_filters_answer_400_or_501_and_read_nothing_when_refused(text: str, version_2: bool) -> None:
    feed, tables = feeds()
    request = FeedRequest("GET", "/Orders", f"$filter={quote(text)}", {}, "https://x/odata/v4/")
    response = feed.handle(request, V2() if version_2 else V4())
    assert response.status in (200, 400, 501), (text, response.status, response.body[:200])
    if response.status != 200:
        assert "error" in json.loads(response.body)
        assert sum(t.items_read for t in tables) == 0, "a refused query must not read the table"


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    query=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "$top",
                    "$skip",
                    "$count",
                    "$select",
                    "$orderby",
                    "$search",
                    "$skiptoken",
                    "$format",
                    "$expand",
                    "$inlinecount",
                    "top",
                    "x",
                ]
            ),
            st.text(max_size=15),
        ),
        max_size=4,
    )
)
def test_fuzzed_query_options_never_crash(query: list[tuple[str, str]]) -> None:
    feed, _ = feeds()
    raw = "&".join(f"{name}={quote(value)}" for name, value in query)
    for dialect in (V4(), V2()):
        response = feed.handle(FeedRequest("GET", "/Orders", raw, {}, "https://x/odata/v4/"), dialect)
        assert response.status in (200, 400, 501), (raw, response.status, response.body[:200])


MESSAGE = SHARED / "outbound" / "requests" / "Opportunity__customfield_15charIds__mulesoft.xml"
ENVELOPE_HEAD = b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (ENVELOPE_HEAD + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</soapenv:Body></soapenv:Envelope>", "malformed_xml"),
        (ENVELOPE_HEAD + b'<x a="' + b"A" * 3_000_000 + b'"/></soapenv:Body></soapenv:Envelope>', "not_notifications"),
        (ENVELOPE_HEAD + b'<x a="' + b"A" * 6_000_000 + b'"/></soapenv:Body></soapenv:Envelope>', "body_too_large"),
        (
            b"<?xml version='1.0' encoding='UTF-8'?>"
            + ENVELOPE_HEAD
            + b"\xff\xfe\xc3\x28</soapenv:Body></soapenv:Envelope>",
            "malformed_xml",
        ),
        (b'{"notifications": []}', "malformed_xml"),
        (b"<!-- just a comment -->", "malformed_xml"),
        (b"\x00" * 64, "malformed_xml"),
    ],
    ids=["deep-nesting", "huge-attribute", "oversize", "invalid-utf8", "json", "comment-only", "nul-bytes"],
)
def test_xml_attacks_are_refused_and_enqueue_nothing(
    stack: Stack, fixture_listeners: Path, body: bytes, reason: str
) -> None:
    result = make_intake(fixture_listeners, stack.queue_url).receive(IntakeRequest("opportunity_mulesoft", body, TOKEN))
    assert (result.acked, result.outcome) == (False, reason)
    assert result.status in (400, 413)
    assert stack.queue_depth() == 0


def test_tokens_and_org_ids_are_compared_whole() -> None:
    from sf_edge.outbound.sender_verification import OrgAllowlist
    from sf_edge.token_verifier import TokenVerifier

    verifier = TokenVerifier(lambda: "s3cret-token")
    assert not any(verifier.verify(t) for t in ["s3cret", "s3cret-token ", "S3CRET-TOKEN", "s3cret-token\x00", "*"])
    orgs = OrgAllowlist(["00D000000000001"])
    assert not any(orgs.allows(o) for o in ["00D00000000000", "00D000000000001EAAX", "*", ""])


def test_secrets_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every credential check goes through hmac.compare_digest, for every configured candidate."""
    import hmac

    from sf_edge.callouts.auth import CalloutAuthenticator
    from sf_edge.odata.feed import FeedAuth
    from sf_edge.token_verifier import TokenVerifier

    seen: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert not TokenVerifier(lambda: "old,new").verify("guess")
    assert len(seen) == 2  # both rotation candidates, even after a mismatch
    assert CalloutAuthenticator("ApiKey", lambda: "k1").check({"x-api-key": "k2"}) is not None
    assert not FeedAuth("apikey", secret=lambda: "k1").allows({"X-API-Key": "k2"})
    assert not FeedAuth("basic", lambda: "u", lambda: "p").allows({"Authorization": "Basic dTpx"})
    assert len(seen) == 6  # one for the key, one for the API key, two (user and password) for Basic


# Filters as long or as deep as a URL can carry (issue 25.6): 200 or a 400 that names the limit, never a 500.
LONG_FILTERS = {
    "constants or": lambda n: " or ".join(["1 eq 1"] * n),
    "names or": lambda n: " or ".join(f"CompanyName eq 'Name {i}'" for i in range(n)),
    "countries and": lambda n: " and ".join(f"Country ne 'Land {i}'" for i in range(n)),
    "ids in": lambda n: "CustomerID in (" + ",".join(f"'K{i}'" for i in range(n)) + ")",
    "sum": lambda n: " add ".join(["1"] * n) + f" eq {n}",
    "nots": lambda n: "not " * n + "(Country eq 'Germany')",
    "parentheses": lambda n: "(" * n + "Country eq 'Germany'" + ")" * n,
}


def _feed_event(path: str, query: dict[str, str]) -> dict[str, Any]:
    return {
        "resource": "/odata/v4/{proxy+}" if "/v4/" in path else "/odata/v2/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "headers": {"Accept": "application/json", "Host": "localhost:3000"},
        "multiValueHeaders": {"Accept": ["application/json"], "Host": ["localhost:3000"]},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()},
        "requestContext": {"requestId": "r", "path": path, "identity": {"sourceIp": "13.110.1.2"}},
        "body": None,
        "isBase64Encoded": False,
    }


def test_filters_of_any_length_or_depth_answer_200_or_a_400_naming_the_limit(stack: Stack) -> None:
    import os

    import odata_feed
    from local_runtime.lambda_host import LocalContext
    from local_runtime.stack import seed_order_system

    seed_order_system(stack.template, {"Customers"})
    odata_feed.odata.configure(odata_feed.FeedSettings.from_env({**os.environ, "ODATA_AUTH": "None"}))
    outcomes: dict[tuple[str, int, str], int] = {}
    for shape, make in LONG_FILTERS.items():
        for terms in (300, 2000):  # past Python's recursion limit, were the tree as deep as the chain is long
            for path in ("/odata/v4/Customers", "/odata/v4/Customers/$count", "/odata/v2/Customers"):
                event = _feed_event(path, {"$filter": make(terms)})
                response = odata_feed.lambda_handler(event, LocalContext("ODataFeedFunction"))
                status = response["statusCode"]
                outcomes[(shape, terms, path)] = status
                assert status in (200, 400), (shape, terms, path, response["body"][:300])
                if status == 400:
                    assert "at most" in response["body"] or "FilterTooComplex" in response["body"], response["body"]
    # What Salesforce Connect sends (long or/in lists of keys, constant tests) is served, at every length.
    for shape in ("constants or", "names or", "countries and", "ids in"):
        assert all(outcomes[(shape, n, "/odata/v4/Customers")] == 200 for n in (300, 2000)), shape
    assert outcomes[("nots", 300, "/odata/v4/Customers")] == 400
    assert outcomes[("parentheses", 2000, "/odata/v4/Customers")] == 400


def test_a_long_or_chain_past_dynamodbs_expression_limits_still_answers_exactly(stack: Stack) -> None:
    """600 CompanyName terms do not fit one FilterExpression (300 operators, 4 KB): the engine checks them all."""
    import os

    import odata_feed
    from local_runtime.lambda_host import LocalContext
    from local_runtime.stack import seed_order_system

    seed_order_system(stack.template, {"Customers"})
    odata_feed.odata.configure(odata_feed.FeedSettings.from_env({**os.environ, "ODATA_AUTH": "None"}))
    names = ["Alfreds Futterkiste", "Around the Horn", "Wolski  Zajazd"]
    text = " or ".join([f"CompanyName eq 'Nobody {i}'" for i in range(597)] + [f"CompanyName eq '{n}'" for n in names])
    event = _feed_event("/odata/v4/Customers", {"$filter": text, "$select": "CompanyName"})
    response = odata_feed.lambda_handler(event, LocalContext("ODataFeedFunction"))
    assert response["statusCode"] == 200, response["body"][:300]
    assert sorted(r["CompanyName"] for r in json.loads(response["body"])["value"]) == sorted(names)
