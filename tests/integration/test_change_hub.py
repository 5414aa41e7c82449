"""The change hub: each change the worker accepts is published once on the hub's bus; the webhook target (an API
destination, stood in locally by local_runtime.api_destinations and a loopback receiver) and the order system
each get it, and one of them failing never delays or repeats the other."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from test_write_back import PUBLIC_KEY, salesforce_env, send_won_opportunity

from conftest import orders_of, serving
from local_runtime.aws_local import LocalAws
from local_runtime.stack import LocalStack
from salesforce_stand_in import SalesforceStandIn
from sf_edge.hub.change_events import MAX_DETAIL_BYTES, change_event
from sf_edge.salesforce.ids import to_18
from sf_edge.salesforce.notification_message import (
    EVENT_RELAY_LISTENER,
    ChangeInfo,
    NotificationMessage,
    OutboundOrigin,
    RelayOrigin,
)

OPPORTUNITY = to_18("0065g00000HuB01")
ACCOUNT = to_18("0015g00000ALFKI")
THREE_LINES = [("NW-001", 10, 18.0, None), ("NW-011", 4, 21.0, 15.0), ("NW-060", 2, 34.0, 0.0)]


@pytest.fixture
def org() -> Iterator[SalesforceStandIn]:
    stand_in = SalesforceStandIn(PUBLIC_KEY).start()
    yield stand_in
    stand_in.stop()


def notification_source(stack: LocalStack) -> Any:
    queue = stack.physical("NotificationQueue")
    return next(s for s in stack.sources if s.queue_url == queue)


def webhook(stack: LocalStack) -> Any:
    [delivery] = stack.destinations
    return delivery


def published_marks(stack: LocalStack) -> list[str]:
    """The hub's marks in the idempotency table (written only when an apply failed after its publish)."""
    from sf_edge.aws.clients import dynamodb

    items = dynamodb().Table(stack.physical("IdempotencyTable")).scan()["Items"]
    return [str(i["id"]) for i in items if str(i["id"]).startswith("hub#")]


def work(stack: LocalStack) -> tuple[int, int]:
    """Poll the worker's queue until empty: (succeeded, failed)."""
    from conftest import run_worker_until_empty

    return run_worker_until_empty(notification_source(stack))  # type: ignore[no-any-return]


def test_a_won_opportunity_reaches_both_targets_as_a_complete_order(
    local_aws: LocalAws, org: SalesforceStandIn
) -> None:
    org.add_opportunity(OPPORTUNITY, THREE_LINES)
    with serving(local_aws, salesforce_env(org)) as stack:
        assert stack.webhook is not None
        assert send_won_opportunity(stack.url, "04l5g00000HuB01AAA", OPPORTUNITY, ACCOUNT)
        assert work(stack) == (1, 0)
        [order] = orders_of(stack, OPPORTUNITY)  # the order system: the Order with its three lines
        assert order["LinesStatus"] == "complete"
        assert webhook(stack).drain() == 1
        [event] = stack.webhook.received  # the user's system: the same change, with the same lines
    assert event["source"] == "salesforce-integration-edge"
    assert event["detail-type"] == "Opportunity.Notified"
    detail = event["detail"]
    assert (detail["sObjectType"], detail["recordId"], detail["channel"]) == (
        "Opportunity",
        OPPORTUNITY,
        "outbound_message",
    )
    assert detail["key"].endswith("/04l5g00000HuB01AAA")
    assert [(li["productCode"], li["quantity"], li["discount"]) for li in detail["lines"]] == [
        ("NW-001", 10.0, None),
        ("NW-011", 4.0, 15.0),
        ("NW-060", 2.0, 0.0),
    ]
    assert "sessionId" not in json.dumps(event)
    assert len([c for c in org.api_calls if "/query" in c[1]]) == 1  # the lines read once, for both targets


def test_a_change_delivered_twice_is_published_once(local_aws: LocalAws) -> None:
    with serving(local_aws) as stack:
        assert stack.webhook is not None
        for _ in range(2):  # Salesforce retries a message whose Ack it did not get
            assert send_won_opportunity(stack.url, "04l5g00000HuB02AAA", OPPORTUNITY, ACCOUNT)
        assert work(stack) == (2, 0)
        assert webhook(stack).drain() == 1
        assert stack.webhook.answers == [200]  # one call: not a duplicate the receiver had to drop
        assert stack.webhook.received[0]["detail"]["lines"] is None  # no Salesforce configured: not read
        assert published_marks(stack) == []  # nothing failed: no mark written


def test_the_webhook_down_for_a_while_delays_nothing_else_and_converges_once(local_aws: LocalAws) -> None:
    with serving(local_aws) as stack:
        assert stack.webhook is not None
        stack.webhook.fail_next(503, times=3)
        assert send_won_opportunity(stack.url, "04l5g00000HuB03AAA", OPPORTUNITY, ACCOUNT)
        assert work(stack) == (1, 0)
        assert len(orders_of(stack, OPPORTUNITY)) == 1  # the order system has it while the webhook is down
        delivery = webhook(stack)
        for _ in range(4):
            delivery.poll_once()
        assert stack.webhook.answers == [503, 503, 503, 200]
        assert [e["detail"]["recordId"] for e in stack.webhook.received] == [OPPORTUNITY]
        assert delivery.dead_lettered == 0


def test_the_order_system_failing_neither_holds_back_nor_repeats_the_webhook(
    local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_worker import OrderSystemDown

    with serving(local_aws) as stack:
        assert stack.webhook is not None
        import notification_worker

        real = notification_worker.registry
        monkeypatch.setattr(notification_worker, "registry", OrderSystemDown())
        assert send_won_opportunity(stack.url, "04l5g00000HuB04AAA", OPPORTUNITY, ACCOUNT)
        first = notification_source(stack).poll_once()
        assert (first.succeeded, first.failed) == (0, 1)
        assert webhook(stack).drain() == 1  # published before the order system was tried
        [mark] = published_marks(stack)
        assert mark.endswith("/04l5g00000HuB04AAA")
        monkeypatch.setattr(notification_worker, "registry", real)  # the order system is back
        assert work(stack) == (1, 0)
        assert len(orders_of(stack, OPPORTUNITY)) == 1
        assert webhook(stack).drain() == 0
        assert stack.webhook.answers == [200]  # the redelivery published nothing again


def test_an_event_the_system_refuses_is_dead_lettered_with_why_and_redriven_once_fixed(local_aws: LocalAws) -> None:
    from sf_edge.aws.clients import sqs_client

    with serving(local_aws) as stack:
        assert stack.webhook is not None
        stack.webhook.fail_next(400)
        assert send_won_opportunity(stack.url, "04l5g00000HuB05AAA", OPPORTUNITY, ACCOUNT)
        assert work(stack) == (1, 0)
        assert webhook(stack).drain() == 1
        dead = sqs_client().receive_message(
            QueueUrl=stack.physical("WebhookTargetDeadLetterQueue"),
            MessageAttributeNames=["All"],
            VisibilityTimeout=0,
        )["Messages"]
        assert len(orders_of(stack, OPPORTUNITY)) == 1
        assert stack.webhook.received == []
        # The system takes it now: `make redrive` replays the dead letter on the bus, to the target again.
        from local_runtime import redrive

        assert redrive.main() == 0
        assert webhook(stack).drain() == 1
        assert [e["detail"]["recordId"] for e in stack.webhook.received] == [OPPORTUNITY]
    [message] = dead
    assert message["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "400"
    assert message["MessageAttributes"]["RULE_ARN"]["StringValue"].endswith("rule/salesforce-changes/WebhookTargetRule")
    assert json.loads(message["Body"])["detail"]["recordId"] == OPPORTUNITY  # the event itself, kept to replay


# The contract.


def message(**more: Any) -> NotificationMessage:
    base: dict[str, Any] = {
        "listener": "account",
        "organization_id": "00D000000000001EAA",
        "notification_id": "04l000000000001AAA",
        "sObjectType": "Account",
        "record_id": ACCOUNT,
        "fields": {"Id": ACCOUNT, "Name": "Alfreds", "SystemModstamp": "2026-11-20T10:00:00+00:00"},
        "received_at": datetime(2026, 11, 20, 10, 0, 1, tzinfo=UTC),
        "origin": OutboundOrigin(
            action_id="04k000000000001AAA",
            enterprise_url="https://example.my.salesforce.com/services/Soap/c/62.0",
            partner_url="https://example.my.salesforce.com/services/Soap/u/62.0",
            session_id="00D000000000001!AQ0AQsecret",
        ),
    }
    return NotificationMessage(**{**base, **more})


def relayed(change: ChangeInfo | None = None, **more: Any) -> NotificationMessage:
    return message(listener=EVENT_RELAY_LISTENER, origin=RelayOrigin(event_id="e-1", change=change), **more)


def test_an_outbound_message_is_a_notified_change_without_its_session() -> None:
    event = change_event(message())
    entry = event.entry("salesforce-changes")
    assert (entry["Source"], entry["DetailType"]) == ("salesforce-integration-edge", "Account.Notified")
    assert event.stamp == "2026-11-20T10:00:00+00:00"
    assert "AQ0AQsecret" not in entry["Detail"]


def test_a_relayed_change_is_named_by_its_entity_and_change_type() -> None:
    change = ChangeInfo(change_type="UPDATE", entity="Account", stamp="2026-11-20T09:00:00+00:00#000000001",
                        commit_timestamp=1)  # fmt: skip
    event = change_event(relayed(change, sObjectType="AccountChangeEvent"))
    assert (event.detail_type, event.channel, event.stamp) == ("Account.Update", "event_relay", change.stamp)
    gap = change.model_copy(update={"change_type": "GAP_OVERFLOW"})
    assert change_event(relayed(gap)).detail_type == "Account.Gap"
    published = change_event(relayed(sObjectType="Order_Request__e"))
    assert published.detail_type == "Order_Request__e.Published"


def test_a_change_too_large_for_one_event_goes_without_its_fields() -> None:
    event = change_event(message(fields={"Id": ACCOUNT, "Description": "x" * (MAX_DETAIL_BYTES + 1)}))
    assert (event.fields, event.fields_omitted) == ({}, True)
    assert len(event.entry("bus")["Detail"]) < 256_000


def test_without_a_webhook_url_there_is_no_webhook_target() -> None:
    from local_runtime.template import Template

    resources = Template({"AllowedOrgIds": "00D000000000001"}).of_type("AWS::Events::ApiDestination")
    assert resources == {}
    declared = Template({"AllowedOrgIds": "00D000000000001", "WebhookUrl": "https://erp.example.com/changes"})
    assert set(declared.of_type("AWS::Events::ApiDestination")) == {"WebhookTargetDestination"}
    assert set(declared.of_type("AWS::SQS::Queue")) >= {"WebhookTargetDeadLetterQueue"}


def test_the_lines_are_read_for_a_won_opportunity_and_an_order_request_not_for_other_stages() -> None:
    from sf_edge.notifications.reference_handlers import won_opportunity_id

    won = {"Id": OPPORTUNITY, "AccountId": ACCOUNT, "StageName": "Closed Won"}
    assert won_opportunity_id(message(sObjectType="Opportunity", record_id=OPPORTUNITY, fields=won)) == OPPORTUNITY
    open_ = {**won, "StageName": "Prospecting", "IsWon": False}
    assert won_opportunity_id(message(sObjectType="Opportunity", record_id=OPPORTUNITY, fields=open_)) is None
    deleted = {**won, "IsDeleted": True}
    assert won_opportunity_id(message(sObjectType="Opportunity", record_id=OPPORTUNITY, fields=deleted)) is None
    request = relayed(sObjectType="Order_Request__e",
                      fields={"Opportunity_Id__c": "0065g00000HuB01", "Account_Id__c": ACCOUNT})  # fmt: skip
    assert won_opportunity_id(request) == OPPORTUNITY
    assert won_opportunity_id(message()) is None  # an Account
