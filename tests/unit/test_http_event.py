"""One reader of the API Gateway event for every HTTP function (sf_edge.aws.http_event.HttpEvent): the same request
as a REST API (payload 1.0) and an HTTP API (payload 2.0) reads the same, and no handler reads the raw event."""

from __future__ import annotations

import ast
import base64
import binascii

import pytest

from conftest import ROOT
from sf_edge.aws.http_event import HttpEvent

HTTP_FUNCTIONS = ("outbound_listener", "odata_feed", "callout_api")
BODY = b"<soapenv:Envelope>\xc3\xa9</soapenv:Envelope>"


def rest_api(body: bytes = BODY, *, encoded: bool = True) -> dict[str, object]:
    return {
        "httpMethod": "POST",
        "path": "/outbound/opportunity",
        "pathParameters": {"listener": "opportunity"},
        "queryStringParameters": {"token": "a+b c"},
        "multiValueQueryStringParameters": {"token": ["a+b c"]},
        "headers": {"Content-Type": "text/xml", "Host": "abc.execute-api.us-east-1.amazonaws.com"},
        "body": base64.b64encode(body).decode() if encoded else body.decode(),
        "isBase64Encoded": encoded,
        "requestContext": {
            "requestId": "r-1",
            "path": "/prod/outbound/opportunity",
            "identity": {"sourceIp": "13.108.0.1"},
        },
    }


def http_api(body: bytes = BODY) -> dict[str, object]:
    return {
        "version": "2.0",
        "rawPath": "/prod/outbound/opportunity",
        "rawQueryString": "token=a%2Bb%20c",
        "pathParameters": {"listener": "opportunity"},
        "queryStringParameters": {"token": "a+b c"},
        "headers": {"content-type": "text/xml", "host": "abc.execute-api.us-east-1.amazonaws.com"},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
        "requestContext": {
            "requestId": "r-1",
            "domainName": "abc.execute-api.us-east-1.amazonaws.com",
            "http": {"method": "post", "path": "/prod/outbound/opportunity", "sourceIp": "13.108.0.1"},
        },
    }


def test_a_rest_api_and_an_http_api_request_read_the_same() -> None:
    rest, http = HttpEvent.from_lambda(rest_api()), HttpEvent.from_lambda(http_api())
    for read in (rest, http):
        assert (read.method, read.path, read.body) == ("POST", "/prod/outbound/opportunity", BODY)
        assert (read.path_parameter("listener"), read.path_parameter("other")) == ("opportunity", "")
        assert (read.query_parameter("token"), read.query_parameter("other")) == ("a+b c", None)
        assert (read.source_ip, read.request_id, read.headers["CONTENT-TYPE"]) == ("13.108.0.1", "r-1", "text/xml")
        assert read.domain == "abc.execute-api.us-east-1.amazonaws.com"
    assert (rest.payload_version, http.payload_version) == ("1.0", "2.0")


def test_a_text_body_is_its_utf8_bytes_and_a_missing_one_is_empty() -> None:
    assert HttpEvent.from_lambda(rest_api(encoded=False)).body == BODY
    assert HttpEvent.from_lambda({"httpMethod": "GET", "body": None}).body == b""
    bare = HttpEvent.from_lambda({})
    assert (bare.method, bare.path, bare.raw_query, bare.path_parameters, bare.query_parameters) == (
        "GET",
        "/",
        "",
        {},
        {},
    )


def test_a_malformed_base64_body_is_an_error_where_the_body_is_read_not_when_the_event_is() -> None:
    event = {**rest_api(), "body": "not base64!"}
    read = HttpEvent.from_lambda(event)  # the request id and headers are still there to answer with
    assert read.request_id == "r-1"
    with pytest.raises(binascii.Error):
        _ = read.body


def test_the_listener_maps_the_event_to_its_intake_request() -> None:
    import outbound_listener

    request = outbound_listener.to_intake_request(HttpEvent.from_lambda(rest_api()))
    assert (request.listener, request.body, request.token, request.source_ip) == (
        "opportunity",
        BODY,
        "a+b c",
        "13.108.0.1",
    )


@pytest.mark.parametrize("function", HTTP_FUNCTIONS)
def test_no_http_function_reads_the_raw_event_itself(function: str) -> None:
    """The event goes to HttpEvent.from_lambda (and to Powertools' decorators and resolver), never read by hand."""
    tree = ast.parse((ROOT / "functions" / function / f"{function}.py").read_text())
    handler = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "lambda_handler")
    reads = [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Subscript | ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "event"
    ]
    assert reads == []
    passed = [
        ast.unparse(call.func)
        for call in ast.walk(handler)
        if isinstance(call, ast.Call) and any(isinstance(a, ast.Name) and a.id == "event" for a in call.args)
    ]
    assert set(passed) <= {"HttpEvent.from_lambda", "app.resolve"}
    assert "HttpEvent.from_lambda" in passed
