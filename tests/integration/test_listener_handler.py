"""The Lambda entry point: API Gateway event in, SOAP out, with logs that say why and never leak secrets."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import TOKEN, Stack, fixture_request
from local_runtime.lambda_host import LocalContext

SESSION_ID = (
    "ABC90000000gNcm!ARcAQJ.8aOC5VjE5D1VicpNZqe2PZe9Z7Fq0W4wEvF_xbmqyOs3V4QwJtUsPZ84vaw2dpHcHR5aooybd9C3sbet94cJujlCY"
)


def api_event(
    body: bytes, *, listener: str = "account", token: str | None = TOKEN, b64: bool = False
) -> dict[str, Any]:
    return {
        "resource": "/outbound/{listener}",
        "path": f"/outbound/{listener}",
        "httpMethod": "POST",
        "headers": {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
        "queryStringParameters": {"token": token} if token else None,
        "pathParameters": {"listener": listener},
        "requestContext": {"requestId": "api-req-1", "identity": {"sourceIp": "13.110.1.2"}},
        "body": base64.b64encode(body).decode() if b64 else body.decode(),
        "isBase64Encoded": b64,
    }


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """What the listener's Powertools logger writes (JSON lines)."""
    import outbound_listener

    stream = io.StringIO()
    previous = outbound_listener.logger.registered_handler.setStream(stream)  # type: ignore[attr-defined]
    yield stream
    outbound_listener.logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]


@pytest.fixture
def handler(stack: Stack, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    import outbound_listener

    outbound_listener.intake.reset()  # composed from this test stack's settings on the first request
    return outbound_listener.lambda_handler


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


ACCOUNT = fixture_request("Account__sessionid_standalone__abrarsheikhsony.xml")


@pytest.mark.parametrize("b64", [False, True])
def test_ack_over_api_gateway(handler, stack: Stack, logs: io.StringIO, b64: bool) -> None:  # type: ignore[no-untyped-def]
    response = handler(api_event(ACCOUNT, b64=b64), LocalContext("OutboundListenerFunction"))
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "text/xml; charset=utf-8"
    assert "<ns0:Ack>true</ns0:Ack>" in response["body"]
    assert stack.queue_depth() == 1
    lines = log_lines(logs)
    acked = next(line for line in lines if line["message"] == "Acked")
    assert acked["organization_id"] == "ABC90000000gNcmEAE"
    assert acked["notification_ids"] == ["04l9000001olR84AAE"]
    assert acked["correlation_id"] == "api-req-1"
    everything = json.dumps(lines)
    assert TOKEN not in everything
    assert SESSION_ID not in everything


def test_fault_is_logged_with_its_reason(handler, stack: Stack, logs: io.StringIO) -> None:  # type: ignore[no-untyped-def]
    response = handler(api_event(ACCOUNT, token="guess"), LocalContext("OutboundListenerFunction"))
    assert response["statusCode"] == 500  # every Fault (SOAP 1.1 §6.2, WS-I BP R1126); the log says 401
    assert "<faultstring>Wrong token</faultstring>" in response["body"]
    [line] = [x for x in log_lines(logs) if x["message"] == "Rejected with a SOAP Fault"]
    assert (line["reason"], line["status"], line["level"]) == ("wrong_token", 401, "WARNING")
    assert "guess" not in json.dumps(line)
    assert stack.queue_depth() == 0


def test_wrong_org_logs_the_org(handler, stack: Stack, logs: io.StringIO) -> None:  # type: ignore[no-untyped-def]
    response = handler(
        api_event(ACCOUNT.replace(b"ABC90000000gNcm", b"XYZ90000000gNcm")), LocalContext("OutboundListenerFunction")
    )
    assert response["statusCode"] == 500
    assert "<faultcode>soapenv:Client</faultcode>" in response["body"]
    [line] = [x for x in log_lines(logs) if x["message"] == "Rejected with a SOAP Fault"]
    assert line["organization_id"] == "XYZ90000000gNcmEAE"
    assert line["reason"] == "org_not_allowed"


def test_stale_wsdl_fields_are_logged_as_a_warning(handler, stack: Stack, logs: io.StringIO) -> None:  # type: ignore[no-untyped-def]
    body = fixture_request("Opportunity__customfield_15charIds__mulesoft.xml").replace(
        b"<sf:AccountId>001Q000000SvOoG</sf:AccountId>",
        b"<sf:AccountId>001Q000000SvOoG</sf:AccountId><sf:Renewal_Date__c>2025-01-01</sf:Renewal_Date__c>",
    )
    response = handler(api_event(body, listener="opportunity"), LocalContext("OutboundListenerFunction"))
    assert response["statusCode"] == 200
    [warning] = [x for x in log_lines(logs) if x["level"] == "WARNING"]
    assert warning["unknown_fields"] == ["Renewal_Date__c"]
    assert "regenerate the WSDL" in warning["message"]


def test_our_own_faults_are_counted_apart_from_the_senders(  # type: ignore[no-untyped-def]
    handler, stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every Fault is an HTTP 500, so the alarm reads ServerFaults (service dimension only): a queue that refuses
    counts, a stranger's wrong token does not."""
    import outbound_listener

    service = stack.template.functions()  # the listener's service name, as template.yaml gives it
    [spec] = [f for f in service if f.logical_id == "OutboundListenerFunction"]
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", spec.environment["POWERTOOLS_SERVICE_NAME"])

    def emitted() -> list[dict[str, Any]]:
        blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
        return [b for b in blobs if "ServerFaults" in b]

    handler(api_event(ACCOUNT, token="guess"), LocalContext("OutboundListenerFunction"))
    assert emitted() == []
    outbound_listener.intake.configure(notification_queue_url=stack.queue_url + "-gone")
    response = handler(api_event(ACCOUNT), LocalContext("OutboundListenerFunction"))
    assert response["statusCode"] == 500
    assert "<faultcode>soapenv:Server</faultcode>" in response["body"]
    [blob] = emitted()
    [directive] = blob["_aws"]["CloudWatchMetrics"]
    assert directive["Dimensions"] == [["service"]]
    assert blob["service"] == "outbound_listener"
    assert blob["ServerFaults"] in (1, [1.0], 1.0)


def test_secret_manager_token_source(stack: Stack) -> None:
    """OUTBOUND_TOKEN_SECRET_ID (as deployed) or OUTBOUND_TOKEN_PARAMETER name where the token is kept; a JSON
    {"tokens": [...]} holds several during a rotation."""
    import boto3

    from outbound_listener import ListenerSettings
    from sf_edge.aws.secrets import secret_source

    arn = boto3.client("secretsmanager").create_secret(Name="outbound-token", SecretString="from-secrets-manager")[
        "ARN"
    ]
    queue = {"NOTIFICATION_QUEUE_URL": stack.queue_url, "OUTBOUND_TOKEN": "ignored when stored"}
    stored = ListenerSettings.from_env({**queue, "OUTBOUND_TOKEN_SECRET_ID": arn})
    assert secret_source(stored.outbound_token)() == "from-secrets-manager"
    boto3.client("ssm").put_parameter(Name="/edge/token", Value='{"tokens": ["a", "b"]}', Type="SecureString")
    parameter = ListenerSettings.from_env({**queue, "OUTBOUND_TOKEN_PARAMETER": "/edge/token"})
    assert secret_source(parameter.outbound_token)() == "a,b"
    assert "from-secrets-manager" not in repr(stored)
    assert "ignored when stored" not in repr(stored)


# The query string as each API shape hands it over (issue 25.7): decoded once, whatever the shape.
def test_a_plus_sent_as_percent_2b_stays_a_plus_on_every_api_shape() -> None:
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    from local_runtime.gateway import _rest_event
    from sf_edge.aws.http_event import HttpEvent
    from sf_edge.odata.request import parse_query_string

    sent = "$filter=CompanyName+eq+'A%2BB'&$orderby=CompanyName%20asc"
    wanted = {"$filter": "CompanyName eq 'A+B'", "$orderby": "CompanyName asc"}
    http_api = {"version": "2.0", "rawPath": "/odata/v4/Customers", "rawQueryString": sent, "requestContext": {}}
    assert parse_query_string(HttpEvent.from_lambda(http_api).raw_query) == wanted
    # A REST API decodes the values as a form is (`+` a space, `%2B` a plus) before the function sees them.
    rest_api = {
        "httpMethod": "GET",
        "path": "/x",
        "multiValueQueryStringParameters": {k: [v] for k, v in wanted.items()},
    }
    assert parse_query_string(HttpEvent.from_lambda(rest_api).raw_query) == wanted

    request = Request(EnvironBuilder(path="/x", query_string=sent).get_environ())
    route = type("Route", (), {"path": "/x"})()
    local = _rest_event(request, "/x", route, {}, sent, b"", "live")
    assert local["multiValueQueryStringParameters"] == {k: [v] for k, v in wanted.items()}
    assert parse_query_string(HttpEvent.from_lambda(local).raw_query) == wanted
