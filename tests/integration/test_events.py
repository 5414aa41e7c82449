"""The events/ files: up to date with their samples, and each one answered as its name says."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import ROOT, Stack, run_worker_until_empty, seed_customers, worker_source
from local_runtime.lambda_host import LocalContext
from sf_edge.aws.clients import sqs_client

EVENTS = ROOT / "events"


def _build_events() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_events", EVENTS / "build_events.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = _build_events()


def test_committed_events_match_their_samples() -> None:
    expected = BUILD.all_events()
    for name, event in expected.items():
        assert (EVENTS / name).read_text(encoding="utf-8") == BUILD.render(event), f"{name} drifted: run make events"
    on_disk = {p.relative_to(EVENTS).as_posix() for p in EVENTS.glob("*/*.json") if p.parent.name != "samples"}
    assert on_disk == set(expected)


@pytest.mark.parametrize(
    "path", sorted(p.name for p in (EVENTS / "outbound_listener").glob("*.json")), ids=lambda n: n.removesuffix(".json")
)
def test_listener_event_outcome(stack: Stack, monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    import outbound_listener

    outbound_listener.intake.configure(outbound_listener.ListenerSettings.from_env(), outbound_token=BUILD.LOCAL_TOKEN)
    response = outbound_listener.lambda_handler(
        json.loads((EVENTS / "outbound_listener" / path).read_text()), LocalContext("OutboundListenerFunction")
    )
    outcome = next(kind for kind in ("valid", "wrong_org", "malformed") if path.endswith(f"_{kind}.json"))
    expected = {"valid": 200, "wrong_org": 500, "malformed": 500}[outcome]  # a Fault is an HTTP 500
    assert response["statusCode"] == expected, response["body"]
    if outcome != "valid":
        reason = {"wrong_org": "org_not_allowed", "malformed": "malformed_xml"}[outcome]
        assert f"<reason>{reason}</reason>" in response["body"], response["body"]
    assert stack.queue_depth() == (1 if expected == 200 else 0)


def test_worker_batch_event_applies_account_then_order(stack: Stack) -> None:
    seed_customers(stack)
    event = json.loads((EVENTS / "notification_worker" / "sqs_batch.json").read_text())
    for record in event["Records"]:
        sqs_client().send_message(QueueUrl=stack.queue_url, MessageBody=record["body"])
    assert run_worker_until_empty(worker_source(stack)) == (2, 0)
    [order] = stack.table("OrdersTable").scan()["Items"]
    assert (order["CustomerID"], order["ShipName"]) == ("ALFKI", "Alfreds Futterkiste")


def test_write_back_batch_event_is_recorded_without_salesforce(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    import salesforce_write_back

    salesforce_write_back.delivery.configure(
        salesforce_write_back.WriteBackSettings.from_env(), salesforce_login_url=""
    )
    event = json.loads((EVENTS / "salesforce_write_back" / "sqs_batch.json").read_text())
    response = salesforce_write_back.lambda_handler(event, LocalContext("SalesforceWriteBackFunction"))
    assert response == {"batchItemFailures": []}
    [item] = stack.table("WriteBackLedgerTable").scan()["Items"]
    assert (item["RecordKey"], item["Status"]) == ("Opportunity/Id/0065g00000SmpLeAAJ", "recorded")
    assert json.loads(item["Fields"])["ERP_Order_Id__c"] == "11078"


def test_relayed_events_batch_converges_whatever_its_order(stack: Stack) -> None:
    """The Event Relay samples arrive here in file-name order (the DELETE before the UPDATEs): the end state is the
    one their commit order gives."""
    from test_event_relay import relayed_worker

    seed_customers(stack)
    event = json.loads((EVENTS / "notification_worker" / "relayed_events_batch.json").read_text())
    for record in event["Records"]:
        sqs_client().send_message(QueueUrl=stack.name("RelayedEventQueue"), MessageBody=record["body"])
    assert run_worker_until_empty(relayed_worker(stack)) == (6, 0)
    blaus = stack.table("CustomersTable").get_item(Key={"CustomerID": "BLAUS"})["Item"]
    assert (blaus["Phone"], blaus["City"], blaus["SalesforceDeleted"]) == ("+49 621 0000", "Heidelberg", True)
    assert "Fax" not in blaus
    [order] = stack.table("OrdersTable").scan()["Items"]
    assert order["CustomerID"] == "BLAUS"


CALLOUT_OUTCOMES = {
    "create_quote": 200,
    "create_quote_invalid": 422,
    "get_account_credit": 200,
    "get_order": 200,
    "get_order_unknown": 404,
    "get_product_availability": 200,
    "validate_address": 200,
    "get_openapi": 200,
}


def test_callout_events_outcomes(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    import callout_api
    from local_runtime.stack import seed_order_system

    seed_order_system(stack.template)
    callout_api.callouts.configure(
        callout_api.CalloutSettings.from_env(), callout_auth="ApiKey", callout_api_key=BUILD.LOCAL_API_KEY
    )
    names = sorted(p.stem for p in (EVENTS / "callout_api").glob("*.json"))
    assert names == sorted(CALLOUT_OUTCOMES)
    for name in names:
        event = json.loads((EVENTS / "callout_api" / f"{name}.json").read_text())
        response = callout_api.lambda_handler(event, LocalContext("CalloutTokenFunction"))
        assert response["statusCode"] == CALLOUT_OUTCOMES[name], (name, response["body"][:300])


ODATA_OUTCOMES = {
    "service_document": 200,
    "metadata": 200,
    "list_view": 200,
    "detail_lookup": 200,
    "by_key": 200,
    "bad_filter": 400,
}


def test_odata_events_outcomes(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    import odata_feed
    from local_runtime.stack import seed_order_system

    seed_order_system(stack.template, {"Customers", "Orders", "Order_Details"})
    odata_feed.odata.configure(
        odata_feed.FeedSettings.from_env(),
        odata_auth="Basic",
        odata_username="salesforce",
        odata_password="local-dev-password",
        odata_service_root="",
    )
    names = sorted(p.stem for p in (EVENTS / "odata_feed").glob("*.json"))
    assert names == sorted(ODATA_OUTCOMES)
    for name in names:
        event = json.loads((EVENTS / "odata_feed" / f"{name}.json").read_text())
        response = odata_feed.lambda_handler(event, LocalContext("ODataFeedFunction"))
        assert response["statusCode"] == ODATA_OUTCOMES[name], (name, response["body"][:300])
        assert response["headers"]["OData-Version"] == "4.0"
    list_view = json.loads(
        odata_feed.lambda_handler(
            json.loads((EVENTS / "odata_feed" / "list_view.json").read_text()), LocalContext("f")
        )["body"]
    )
    assert (
        list_view["@odata.context"]
        == "http://localhost:3000/odata/v4/$metadata#Customers(CustomerID,CompanyName,Country)"
    )
    assert list_view["@odata.count"] == 91
