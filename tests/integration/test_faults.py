"""AWS not answering, at each endpoint: secrets, idempotency store and tables fail, and each endpoint answers in its
protocol's retry shape (SOAP Server Fault, 503 + Retry-After) with nothing half-done."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from conftest import TOKEN, Stack, fixture_request, make_intake
from local_runtime.lambda_host import LocalContext
from sf_edge.callouts.auth import CalloutAuthenticator
from sf_edge.outbound.intake import IntakeRequest, IntakeResult, OutboundIntake
from sf_edge.outbound.listeners import ListenerRegistry
from sf_edge.outbound.sender_verification import OrgAllowlist
from sf_edge.settings import SecretSetting
from sf_edge.token_verifier import TokenVerifier

THROTTLED = ClientError({"Error": {"Code": "ThrottlingException", "Message": "injected"}}, "GetSecretValue")


class GetParameterError(Exception):
    """Stands for Powertools' wrapper of a Secrets Manager failure (same name, as it is matched by name)."""


def stored_secret_failing(monkeypatch: pytest.MonkeyPatch, error: Exception = THROTTLED) -> Callable[[], str]:
    """A secret kept in Secrets Manager (as deployed), read through the real adapter, whose store raises `error`."""
    from sf_edge.aws import secrets

    def unreachable(_secret_id: str) -> str:
        raise error

    monkeypatch.setattr(secrets, "_secret", unreachable)
    return secrets.secret_source(
        SecretSetting(secret_id="arn:aws:secretsmanager:us-east-1:123456789012:secret:edge-token")
    )


def deliver_with_failing_token(
    stack: Stack, listeners: Path, error: Exception, monkeypatch: pytest.MonkeyPatch
) -> IntakeResult:
    """Deliver a real capture to an intake whose token is in a secret store that raises `error`."""
    intake = OutboundIntake(
        ListenerRegistry(listeners),
        TokenVerifier(stored_secret_failing(monkeypatch, error)),
        OrgAllowlist(["00DQ0000000EB93"]),
        make_intake(listeners, stack.queue_url).publisher,
    )
    return intake.receive(
        IntakeRequest(
            "opportunity_mulesoft", fixture_request("Opportunity__customfield_15charIds__mulesoft.xml"), TOKEN
        )
    )


@pytest.mark.parametrize(
    "error",
    [
        THROTTLED,
        EndpointConnectionError(endpoint_url="https://secretsmanager"),
        GetParameterError("Secrets Manager did not answer"),
    ],
)
def test_listener_faults_when_the_token_cannot_be_read(
    stack: Stack, fixture_listeners: Path, error: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = deliver_with_failing_token(stack, fixture_listeners, error, monkeypatch)
    assert (result.status, result.outcome) == (503, "token_unavailable")
    assert b"soapenv:Server" in result.body
    assert stack.queue_depth() == 0


def test_a_token_that_cannot_be_read_for_good_is_a_server_fault_not_a_crash(
    stack: Stack, fixture_listeners: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Access denied or a deleted secret will not pass by retrying now, but it is ours to fix: a Server Fault
    (Salesforce keeps retrying for 24 hours) saying why, never a bare 502."""
    from botocore.exceptions import ClientError

    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "GetSecretValue")
    result = deliver_with_failing_token(stack, fixture_listeners, denied, monkeypatch)
    assert (result.status, result.outcome) == (500, "token_unreadable")
    assert b"soapenv:Server" in result.body
    assert "AccessDeniedException" in result.detail  # the log says why
    assert stack.queue_depth() == 0


def callout(
    api: Any, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    event = {
        "path": path,
        "httpMethod": method,
        "queryStringParameters": None,
        "requestContext": {"requestId": "f"},
        "headers": {"Content-Type": "application/json", "x-api-key": "k", **(headers or {})},
        "body": json.dumps(body) if body is not None else None,
    }
    response = api.lambda_handler(event, LocalContext("CalloutTokenFunction"))
    headers = {
        **(response.get("headers") or {}),
        **{k: v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()},
    }
    return response["statusCode"], headers, json.loads(response["body"])


def test_callouts_answer_503_when_the_api_key_cannot_be_read(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    import callout_api

    services = callout_api.callouts.configure(callout_api.CalloutSettings.from_env(), callout_auth="ApiKey")
    keys_unreadable = CalloutAuthenticator("ApiKey", stored_secret_failing(monkeypatch))
    callout_api.callouts.provide(dataclasses.replace(services, authenticator=keys_unreadable))
    status, headers, error = callout(callout_api, "GET", "/api/v1/orders/10248")
    assert (status, error["code"], headers["Retry-After"]) == (503, "SERVICE_UNAVAILABLE", "1")


def test_callouts_answer_503_when_the_idempotency_store_fails(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyPersistenceLayerError

    import callout_api
    import callout_routers

    callout_api.callouts.configure(callout_api.CalloutSettings.from_env(), callout_auth="ApiKey", callout_api_key="k")

    def broken_store(*_args: Any, **_kwargs: Any) -> Any:
        raise IdempotencyPersistenceLayerError("Failed to save in progress record", THROTTLED)

    monkeypatch.setattr(callout_routers, "run_once", broken_store)
    body = {"street": "1 Market St", "city": "San Francisco", "state": "CA", "postalCode": "94105", "country": "US"}
    status, headers, error = callout(
        callout_api, "POST", "/api/v1/addresses/validate", body, {"Idempotency-Key": "fault-1"}
    )
    assert (status, error["code"], headers["Retry-After"]) == (503, "SERVICE_UNAVAILABLE", "1")


def test_odata_answers_503_when_credentials_or_tables_fail(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    import odata_feed
    from sf_edge.odata.feed import Feed, FeedAuth

    event = {
        "path": "/odata/v4/Orders",
        "httpMethod": "GET",
        "headers": {"Authorization": "Basic eDp5"},
        "requestContext": {"requestId": "f", "domainName": "x"},
        "queryStringParameters": None,
    }

    def broken_table(_entity_set: Any, _stats: Any) -> Any:
        raise THROTTLED

    service = odata_feed.odata()
    for feed in (
        Feed(broken_table, FeedAuth("basic", lambda: "x", stored_secret_failing(monkeypatch))),
        Feed(broken_table, FeedAuth("none")),
    ):
        monkeypatch.setattr(service, "feed", feed)
        response = odata_feed.lambda_handler(event, LocalContext("ODataFeedFunction"))
        assert (response["statusCode"], response["headers"]["Retry-After"]) == (503, "1")
        assert json.loads(response["body"])["error"]["code"] == "ServiceUnavailable"
