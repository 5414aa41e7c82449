"""Remote call-in: the Salesforce client (JWT bearer sign-in, sObject Collections, retries), the write-back rules,
the delivery of a batch, and the whole loop from an Outbound Message to the Opportunity's fields, all against the
Salesforce stand-in (tests/salesforce_stand_in.py, built from Salesforce's documented requests and responses)."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from conftest import LISTENER_WSDLS, TOKEN, Stack, orders_of, serving, wait_for
from local_runtime.aws_local import LocalAws
from salesforce_sender import SalesforceSender
from salesforce_stand_in import SalesforceStandIn, key_pair
from sf_edge.aws.salesforce_connection import SalesforceConnectionSettings
from sf_edge.salesforce.ids import to_18
from sf_edge.salesforce.notification_message import NotificationMessage
from sf_edge.salesforce.rest_client import (
    ASSERTION_LIFETIME_SECONDS,
    JwtBearerSignIn,
    Retry,
    SalesforceClient,
    SalesforceError,
    SalesforceSettings,
    Urllib3Transport,
)
from sf_edge.settings import SettingsError
from sf_edge.write_back.delivery import Queued, WriteBackDelivery
from sf_edge.write_back.messages import WriteBack
from sf_edge.write_back.rules import DECLARED_RULES, RulesError, WriteBackRules

PRIVATE_KEY, PUBLIC_KEY = key_pair()
USER = "integration@northwind.example"
WORKER_RULES = DECLARED_RULES


@pytest.fixture
def org() -> Iterator[SalesforceStandIn]:
    stand_in = SalesforceStandIn(PUBLIC_KEY).start()
    yield stand_in
    stand_in.stop()


class Pauses:
    """Retry's sleep, recorded instead of slept; jitter at its ceiling so the bound is visible."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def retry(self, attempts: int = 4) -> Retry:
        return Retry(attempts=attempts, sleep=self.seconds.append, jitter=lambda ceiling: ceiling)


def client_for(
    org: SalesforceStandIn, *, retry: Retry | None = None, key: str = PRIVATE_KEY, **settings: str
) -> SalesforceClient:
    values = {"login_url": org.url, "client_id": org.consumer_key, "username": USER, **settings}
    transport = Urllib3Transport(read_timeout=5)
    return SalesforceClient(
        JwtBearerSignIn(SalesforceSettings(**values), lambda: key, transport),
        transport,
        retry=retry or Retry(sleep=lambda _: None),
    )


def opportunity(record_id: str, **fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Opportunity"}, "id": record_id, **fields}


OPP = [to_18(f"0065g00000E2E{n:02d}") for n in range(10)]


# The client.


def test_the_assertion_carries_the_claims_salesforce_checks(org: SalesforceStandIn) -> None:
    sign_in = client_for(org).sign_in
    claims = jwt.decode(sign_in.assertion(now=time.time()), PUBLIC_KEY, algorithms=["RS256"], audience=org.url)
    assert claims["iss"] == org.consumer_key
    assert claims["sub"] == USER
    assert claims["aud"] == org.url
    assert 0 < claims["exp"] - time.time() <= ASSERTION_LIFETIME_SECONDS
    assert jwt.get_unverified_header(sign_in.assertion())["alg"] == "RS256"


def test_records_are_updated_in_one_call_with_a_result_each(org: SalesforceStandIn) -> None:
    org.add("Opportunity", OPP[0])
    org.add("Opportunity", OPP[1])
    org.reject[("Opportunity", OPP[1])] = ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Amount must be positive")
    client = client_for(org)
    results = client.update(
        [opportunity(OPP[0], ERP_Order_Id__c="11078"), opportunity(OPP[1], ERP_Order_Id__c="11079")]
    )
    assert [r.success for r in results] == [True, False]
    assert org.records[("Opportunity", OPP[0])] == {"ERP_Order_Id__c": "11078"}
    assert results[1].reason == "FIELD_CUSTOM_VALIDATION_EXCEPTION: Amount must be positive"
    assert not results[1].retryable
    assert [c[:2] for c in org.api_calls] == [("PATCH", "/services/data/v65.0/composite/sobjects")]


def test_the_session_is_kept_and_renewed_once_when_salesforce_rejects_it(org: SalesforceStandIn) -> None:
    org.add("Opportunity", OPP[0])
    client = client_for(org)
    client.update([opportunity(OPP[0], Integration_Status__c="Synced")])
    client.update([opportunity(OPP[0], Integration_Status__c="Synced")])
    assert org.token_requests == 1
    org.expire_sessions()
    [result] = client.update([opportunity(OPP[0], Integration_Status__c="Failed")])
    assert result.success
    assert org.token_requests == 2
    assert [c[2] for c in org.api_calls] == [200, 200, 401, 200]


def test_a_session_rejected_twice_in_a_row_is_an_error_not_a_loop(org: SalesforceStandIn) -> None:
    org.add("Opportunity", OPP[0])
    client = client_for(org)
    org.revoke_before_each_call = True
    with pytest.raises(SalesforceError) as raised:
        client.update([opportunity(OPP[0], Integration_Status__c="Synced")])
    assert raised.value.code == "INVALID_SESSION_ID"
    assert org.token_requests == 2


@pytest.mark.parametrize("code", ["REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE"])
def test_limits_and_outages_are_retried_with_growing_jittered_pauses(org: SalesforceStandIn, code: str) -> None:
    org.add("Opportunity", OPP[0])
    org.fail_next(code, times=2)
    pauses = Pauses()
    [result] = client_for(org, retry=pauses.retry()).update([opportunity(OPP[0], Integration_Status__c="Synced")])
    assert result.success
    assert pauses.seconds == [0.5, 1.0]
    assert len(org.api_calls) == 3


def test_an_outage_storm_gives_up_after_the_last_attempt_as_retryable(org: SalesforceStandIn) -> None:
    org.add("Opportunity", OPP[0])
    org.fail_next("SERVER_UNAVAILABLE", times=10)
    pauses = Pauses()
    with pytest.raises(SalesforceError) as raised:
        client_for(org, retry=pauses.retry(attempts=4)).update([opportunity(OPP[0], Integration_Status__c="Synced")])
    assert raised.value.retryable
    assert raised.value.status == 503
    assert len(org.api_calls) == 4
    assert pauses.seconds == [0.5, 1.0, 2.0]


def test_jitter_stays_under_the_cap() -> None:
    slept: list[float] = []
    retry = Retry(sleep=slept.append, base_seconds=1, cap_seconds=5)
    for attempt in range(8):
        retry.pause(attempt)
    assert all(0 <= s <= min(5, 2**n) for n, s in enumerate(slept))
    assert len(set(slept)) > 1  # random, not a fixed schedule


def test_an_error_that_cannot_clear_is_not_retried(org: SalesforceStandIn) -> None:
    org.fail_next("INVALID_FIELD", times=1)
    pauses = Pauses()
    with pytest.raises(SalesforceError) as raised:
        client_for(org, retry=pauses.retry()).update([opportunity(OPP[0], No_Such_Field__c="x")])
    assert (raised.value.status, raised.value.code, raised.value.retryable) == (400, "INVALID_FIELD", False)
    assert pauses.seconds == []


def test_a_timeout_is_retried_and_then_reported_as_retryable(org: SalesforceStandIn) -> None:
    org.add("Opportunity", OPP[0])
    org.latency = 0.6
    client = client_for(org, retry=Pauses().retry(attempts=2))
    client._transport = Urllib3Transport(read_timeout=0.2)
    client.sign_in._transport = Urllib3Transport()
    with pytest.raises(SalesforceError) as raised:
        client.update([opportunity(OPP[0], Integration_Status__c="Synced")])
    assert raised.value.retryable
    assert "got no answer" in str(raised.value)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"client_id": "3MVG9someone.else"}, "invalid_client_id"),
        ({"username": "intern@northwind.example"}, "invalid_grant"),
        ({"key": key_pair()[0]}, "invalid_grant"),  # signed with a key the app's certificate does not match
    ],
)
def test_a_refused_sign_in_says_what_to_check(org: SalesforceStandIn, change: dict[str, str], error: str) -> None:
    key = change.pop("key", PRIVATE_KEY)
    client = client_for(org, key=key, **change)
    with pytest.raises(SalesforceError) as raised:
        client.update([opportunity(OPP[0], Integration_Status__c="Synced")])
    assert raised.value.code == error
    assert not raised.value.retryable
    assert "connected app" in str(raised.value)
    assert org.api_calls == []


def test_api_usage_is_reported_from_sforce_limit_info(org: SalesforceStandIn) -> None:
    org.add("Opportunity", OPP[0])
    org.api_limit = 15000
    seen: list[tuple[int, int]] = []
    client = client_for(org)
    client.on_limit = lambda used, limit: seen.append((used, limit))
    client.update([opportunity(OPP[0], Integration_Status__c="Synced")])
    client.update([opportunity(OPP[0], Integration_Status__c="Synced")])
    assert seen == [(1, 15000), (2, 15000)]


def test_upsert_by_external_id_reports_created(org: SalesforceStandIn) -> None:
    record = {"attributes": {"type": "Account"}, "ERP_Customer_Id__c": "ALFKI", "Name": "Alfreds Futterkiste"}
    [first] = client_for(org).upsert("Account", "ERP_Customer_Id__c", [record])
    [again] = client_for(org).upsert("Account", "ERP_Customer_Id__c", [record])
    assert (first.success, first.created, again.created) == (True, True, False)
    assert org.api_calls[0][1] == "/services/data/v65.0/composite/sobjects/Account/ERP_Customer_Id__c"


def test_a_collection_is_1_to_200_records(org: SalesforceStandIn) -> None:
    with pytest.raises(ValueError, match="1 to 200"):
        client_for(org).update([opportunity(OPP[0])] * 201)


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({"SALESFORCE_LOGIN_URL": "http://login.salesforce.com"}, "only for a loopback host"),
        ({"SALESFORCE_LOGIN_URL": "https://login.salesforce.com/services/oauth2/token"}, "without a path"),
        ({"SALESFORCE_LOGIN_URL": "login.salesforce.com"}, "https://"),
        ({"SALESFORCE_CLIENT_ID": ""}, "required"),
        ({"SALESFORCE_API_VERSION": "sixty"}, "like 65.0"),
    ],
)
def test_bad_settings_fail_at_cold_start_naming_the_setting(environ: dict[str, str], problem: str) -> None:
    base = {
        "SALESFORCE_LOGIN_URL": "https://login.salesforce.com",
        "SALESFORCE_CLIENT_ID": "3MVG9x",
        "SALESFORCE_USERNAME": USER,
    }
    with pytest.raises(SettingsError, match=problem) as refused:
        SalesforceConnectionSettings.from_env({**base, **environ})
    assert next(iter(environ)) in str(refused.value)  # the message names the variable to fix


def test_settings_accept_my_domain_loopback_and_a_v_prefix() -> None:
    base = {"SALESFORCE_CLIENT_ID": "3MVG9x", "SALESFORCE_USERNAME": USER, "SALESFORCE_PRIVATE_KEY": PRIVATE_KEY}
    my_domain = SalesforceConnectionSettings.from_env(
        {**base, "SALESFORCE_LOGIN_URL": "https://northwind.my.salesforce.com/", "SALESFORCE_API_VERSION": "v62.0"}
    ).salesforce
    assert my_domain is not None
    assert (my_domain.login_url, my_domain.api_version) == ("https://northwind.my.salesforce.com", "62.0")
    local = SalesforceConnectionSettings.from_env({**base, "SALESFORCE_LOGIN_URL": "http://127.0.0.1:8443"}).salesforce
    assert local is not None
    assert local.login_url == "http://127.0.0.1:8443"
    assert SalesforceConnectionSettings.from_env(base).salesforce is None  # no login URL: record, don't send


# The rules.


def won(result: dict[str, Any], record_id: str = OPP[0], **origin: str) -> tuple[NotificationMessage, dict[str, Any]]:
    from test_worker import message

    return message("04l000000000001AAA", "Opportunity", {"Id": record_id}, **origin), result  # type: ignore[arg-type]


def test_a_won_opportunitys_order_is_written_back_as_declared() -> None:
    rules = WriteBackRules.load(WORKER_RULES)
    message, result = won({"handler": "opportunity_closed_won", "action": "order_created", "orderId": 11078})
    write_back = rules.after_result(message, result)
    assert write_back is not None
    assert (write_back.sobject, write_back.record_id) == ("Opportunity", OPP[0])
    assert write_back.fields == {
        "ERP_Order_Id__c": "11078",
        "Integration_Status__c": "Synced",
        "Integration_Message__c": None,
    }
    assert write_back.origin == message.idempotency_key


def test_a_duplicate_writes_back_what_its_first_delivery_did() -> None:
    rules = WriteBackRules.load(WORKER_RULES)
    first = {"handler": "opportunity_closed_won", "action": "order_created", "orderId": 11078}
    message, _ = won(first)
    again = rules.after_result(message, {"action": "already_applied", "firstResult": first})
    assert again is not None
    assert again.fields["ERP_Order_Id__c"] == "11078"


def test_no_order_and_a_failure_are_written_back_as_failed_with_the_reason() -> None:
    rules = WriteBackRules.load(WORKER_RULES)
    message, result = won({"handler": "opportunity_closed_won", "action": "archived", "reason": "no AccountId"})
    archived = rules.after_result(message, result)
    assert archived is not None
    assert archived.fields["Integration_Status__c"] == "Failed"
    assert archived.fields["Integration_Message__c"] == "No order created: no AccountId"
    failed = rules.after_failure(message, "opportunity_closed_won", "ClientError: " + "x" * 400)
    assert failed is not None
    assert failed.fields["Integration_Status__c"] == "Failed"
    assert str(failed.fields["Integration_Message__c"]).startswith("ClientError: xxx")
    assert len(str(failed.fields["Integration_Message__c"])) == 255


def test_results_without_a_rule_write_nothing_back() -> None:
    rules = WriteBackRules.load(WORKER_RULES)
    message, _ = won({})
    assert rules.after_result(message, {"handler": "opportunity_closed_won", "action": "ignored"}) is None
    assert rules.after_result(message, {"handler": "account_to_customer", "action": "customer_upserted"}) is None
    assert rules.after_failure(message, "account_to_customer", "boom") is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[h]\nrecord = "{record_id}"', "needs sobject"),
        ('[h]\nsobject = "Opportunity"\n[h.results.done]\nId = "x"', "cannot be set|can be set"),
        ('[h]\nsobject = "Opportunity"\n[h.results.done]\n"Bad Name" = "x"', "API name"),
        ('[h]\nsobject = "Opportunity"\n[h.results.done]\nField__c = [1]', "text, a number"),
        ('[h]\nsobject = "Opportunity"\nrecords = "{record_id}"', "unknown keys"),
        ("[h", "Expected"),
    ],
)
def test_a_bad_rules_file_fails_at_load(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "write_backs.toml"
    path.write_text(text)
    with pytest.raises(RulesError, match=problem):
        WriteBackRules.load(path)


# The delivery of a batch (ledger and dead letters on the template's resources in moto).


def delivery(stack: Stack, client: SalesforceClient | None) -> WriteBackDelivery:
    from sf_edge.aws.write_back_store import DynamoDbWriteBackLedger, SqsWriteBackQueue

    return WriteBackDelivery(
        DynamoDbWriteBackLedger(stack.table("WriteBackLedgerTable")),
        SqsWriteBackQueue(stack.name("WriteBackDeadLetterQueue")),
        client,
    )


def status(stack: Stack, write_back: WriteBack) -> dict[str, Any]:
    return stack.table("WriteBackLedgerTable").get_item(Key={"RecordKey": write_back.key}).get("Item", {})


def synced(record_id: str, order_id: int, stamp: str | None = None) -> WriteBack:
    extra = {"stamp": stamp} if stamp else {}
    return WriteBack(
        sobject="Opportunity",
        record_id=record_id,
        fields={"ERP_Order_Id__c": str(order_id), "Integration_Status__c": "Synced"},
        **extra,
    )


def test_250_write_backs_take_two_calls_and_land_on_their_records(stack: Stack, org: SalesforceStandIn) -> None:
    ids = [to_18(f"0065g0000{n:06d}") for n in range(250)]
    for record_id in ids:
        org.add("Opportunity", record_id)
    batch = [Queued(f"m{n}", synced(record_id, 20000 + n)) for n, record_id in enumerate(ids)]
    outcome = delivery(stack, client_for(org)).deliver(batch)
    assert (outcome.sent, outcome.retry, outcome.rejected) == (250, [], 0)
    assert len(org.api_calls) == 2
    assert org.records[("Opportunity", ids[249])]["ERP_Order_Id__c"] == "20249"
    assert status(stack, batch[0].write_back)["Status"] == "sent"


def test_one_refused_record_is_dead_lettered_with_its_reason_and_the_others_are_written(
    stack: Stack, org: SalesforceStandIn
) -> None:
    for record_id in OPP[:3]:
        org.add("Opportunity", record_id)
    org.reject[("Opportunity", OPP[1])] = ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Closed deals are locked")
    batch = [Queued(f"m{n}", synced(record_id, 11078 + n)) for n, record_id in enumerate(OPP[:3])]
    outcome = delivery(stack, client_for(org)).deliver(batch)
    assert (outcome.sent, outcome.rejected, outcome.retry) == (2, 1, [])
    [dead] = stack.drain(stack.name("WriteBackDeadLetterQueue"))
    assert WriteBack.model_validate_json(dead["Body"]) == batch[1].write_back
    assert dead["MessageAttributes"]["Reason"]["StringValue"] == (
        "FIELD_CUSTOM_VALIDATION_EXCEPTION: Closed deals are locked"
    )
    assert status(stack, batch[1].write_back)["Status"] == "rejected"
    assert org.records[("Opportunity", OPP[2])]["ERP_Order_Id__c"] == "11080"


def test_a_locked_record_is_handed_back_to_sqs_alone(stack: Stack, org: SalesforceStandIn) -> None:
    for record_id in OPP[:2]:
        org.add("Opportunity", record_id)
    org.lock_once.add(("Opportunity", OPP[0]))
    batch = [Queued(f"m{n}", synced(record_id, 11078 + n)) for n, record_id in enumerate(OPP[:2])]
    deliver = delivery(stack, client_for(org))
    first = deliver.deliver(batch)
    assert (first.sent, first.retry) == (1, ["m0"])
    assert status(stack, batch[0].write_back)["Status"] == "pending"
    again = deliver.deliver([batch[0]])  # SQS redelivers it: the same write-back, not yet done, goes out again
    assert (again.sent, again.retry) == (1, [])
    assert org.records[("Opportunity", OPP[0])]["ERP_Order_Id__c"] == "11078"


def test_a_call_that_fails_after_its_retries_hands_every_record_back(stack: Stack, org: SalesforceStandIn) -> None:
    org.add("Opportunity", OPP[0])
    org.fail_next("SERVER_UNAVAILABLE", times=4)
    outcome = delivery(stack, client_for(org, retry=Pauses().retry())).deliver([Queued("m0", synced(OPP[0], 1))])
    assert (outcome.sent, outcome.retry) == (0, ["m0"])
    assert stack.queue_depth(stack.name("WriteBackDeadLetterQueue")) == 0


def test_a_call_salesforce_refuses_whole_dead_letters_each_record_with_why(
    stack: Stack, org: SalesforceStandIn
) -> None:
    """A field the org does not have fails the whole call (400 INVALID_FIELD): no retry could help."""
    org.fail_next("INVALID_FIELD")
    batch = [Queued(f"m{n}", synced(record_id, 11078 + n)) for n, record_id in enumerate(OPP[:2])]
    outcome = delivery(stack, client_for(org)).deliver(batch)
    assert (outcome.sent, outcome.rejected, outcome.retry) == (0, 2, [])
    dead = stack.drain(stack.name("WriteBackDeadLetterQueue"))
    assert sorted(WriteBack.model_validate_json(m["Body"]).record_id for m in dead) == sorted(OPP[:2])
    assert all("INVALID_FIELD" in m["MessageAttributes"]["Reason"]["StringValue"] for m in dead)


def test_an_integration_user_session_rejected_twice_dead_letters_instead_of_failing_the_batch(
    stack: Stack, org: SalesforceStandIn
) -> None:
    org.add("Opportunity", OPP[0])
    org.revoke_before_each_call = True
    outcome = delivery(stack, client_for(org)).deliver([Queued("m0", synced(OPP[0], 1))])
    assert (outcome.rejected, outcome.retry) == (1, [])
    [dead] = stack.drain(stack.name("WriteBackDeadLetterQueue"))
    assert "INVALID_SESSION_ID" in dead["MessageAttributes"]["Reason"]["StringValue"]


def test_the_ledger_keeps_the_salesforce_id_written_and_a_bounded_reason(stack: Stack, org: SalesforceStandIn) -> None:
    for record_id in OPP[:2]:
        org.add("Opportunity", record_id)
    org.reject[("Opportunity", OPP[1])] = ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "x" * 1500)
    batch = [Queued(f"m{n}", synced(record_id, 11078 + n)) for n, record_id in enumerate(OPP[:2])]
    delivery(stack, client_for(org)).deliver(batch)
    assert status(stack, batch[0].write_back)["Detail"] == OPP[0]
    rejected = status(stack, batch[1].write_back)["Detail"]
    assert rejected.startswith("FIELD_CUSTOM_VALIDATION_EXCEPTION: xxx")
    assert len(rejected) == 1000


def test_write_backs_of_one_record_converge_on_the_newest_in_any_order(stack: Stack, org: SalesforceStandIn) -> None:
    org.add("Opportunity", OPP[0])
    older = synced(OPP[0], 11078, stamp="2026-11-30T10:00:00.000000+00:00")
    newer = WriteBack(
        sobject="Opportunity",
        record_id=OPP[0],
        fields={"Integration_Status__c": "Failed"},
        stamp="2026-11-30T10:00:01.000000+00:00",
    )
    deliver = delivery(stack, client_for(org))
    both = deliver.deliver([Queued("b", newer), Queued("a", older)])  # one batch: the newer wins, one call
    assert (both.sent, both.skipped) == (1, 1)
    late = deliver.deliver([Queued("a", older)])  # the older arrives again later: skipped, nothing sent
    assert (late.sent, late.skipped) == (0, 1)
    again = deliver.deliver([Queued("b", newer)])  # the newer delivered twice: sent once
    assert (again.sent, again.skipped) == (0, 1)
    assert org.records[("Opportunity", OPP[0])] == {"Integration_Status__c": "Failed"}
    assert len(org.api_calls) == 1


def test_of_two_write_backs_with_the_same_stamp_in_one_batch_the_later_queued_is_sent(
    stack: Stack, org: SalesforceStandIn
) -> None:
    # The same change planned twice (its notification redelivered after the first plan): the later plan is the one
    # the worker stands by, as the ledger would let it replace an unsent earlier one.
    org.add("Opportunity", OPP[0])
    stamp = "2026-11-30T10:00:00.000000+00:00"
    first = WriteBack(sobject="Opportunity", record_id=OPP[0], fields={"Integration_Status__c": "Failed"}, stamp=stamp)
    later = synced(OPP[0], 11078, stamp=stamp)
    outcome = delivery(stack, client_for(org)).deliver([Queued("a", first), Queued("b", later)])
    assert (outcome.sent, outcome.skipped) == (1, 1)
    assert org.records[("Opportunity", OPP[0])] == {"ERP_Order_Id__c": "11078", "Integration_Status__c": "Synced"}


@pytest.mark.parametrize("kind", ["dynamodb", "memory"])
def test_the_ledger_rule_is_the_same_in_dynamodb_and_in_the_benchs_fake(stack: Stack, kind: str) -> None:
    from fakes.write_back import MemoryLedger
    from sf_edge.aws.write_back_store import DynamoDbWriteBackLedger

    ledger = DynamoDbWriteBackLedger(stack.table("WriteBackLedgerTable")) if kind == "dynamodb" else MemoryLedger()
    old = synced(OPP[0], 1, stamp="2026-11-30T10:00:00.000000+00:00")
    new = synced(OPP[0], 2, stamp="2026-11-30T10:00:01.000000+00:00")
    steps = [
        ledger.claim(old),  # first: claimed
        ledger.claim(old),  # the same again, not done yet (a retry): claimed
        ledger.claim(new),  # newer: claimed
        ledger.claim(old),  # older than what is there: not claimed
    ]
    ledger.settle(old, "sent")  # a late settle of the older one changes nothing
    steps.append(ledger.claim(new))  # still pending: claimed again
    ledger.settle(new, "sent")
    steps.append(ledger.claim(new))  # done: not claimed
    assert steps == [True, True, True, False, True, False]


def test_without_salesforce_write_backs_are_recorded_not_sent(stack: Stack) -> None:
    write_back = synced(OPP[0], 11078)
    outcome = delivery(stack, None).deliver([Queued("m0", write_back)])
    assert (outcome.recorded, outcome.sent) == (1, 0)
    item = status(stack, write_back)
    assert item["Status"] == "recorded"
    assert json.loads(item["Fields"]) == {"ERP_Order_Id__c": "11078", "Integration_Status__c": "Synced"}


# The worker's side: what it queues for the write-back function.


def test_a_write_back_that_cannot_be_queued_fails_the_record_and_its_redelivery_queues_it_once(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The apply and its hand-off are one unit: the redelivery applies the notification again (its Order exists
    by then, the same one) and queues the write-back once."""
    import notification_worker
    from conftest import seed_customers, worker_source
    from test_worker import enqueue, won

    seed_customers(stack)
    enqueue(stack, won())
    source = worker_source(stack)
    queue_url = stack.name("WriteBackQueue")
    notification_worker.worker.configure(write_back_queue_url=queue_url + "-gone")
    assert source.poll_once().failed == 1
    notification_worker.worker.configure(write_back_queue_url=queue_url)
    assert source.poll_once().succeeded == 1
    [order] = stack.table("OrdersTable").scan(
        FilterExpression="SalesforceOpportunityId = :o", ExpressionAttributeValues={":o": to_18("0065g00000Won01")}
    )["Items"]
    [queued] = stack.drain(queue_url)
    write_back = WriteBack.model_validate_json(queued["Body"])
    assert write_back.record_id == "0065g00000Won01AAA"
    assert write_back.fields["ERP_Order_Id__c"] == str(order["OrderID"])


def test_a_notification_delivered_again_after_it_was_applied_queues_nothing(stack: Stack) -> None:
    """Salesforce re-sends a message it saw no Ack for: the duplicate changes nothing anywhere, not even the queue
    between the worker and the write-back function (its first delivery's write-back is the only one)."""
    from conftest import seed_customers, worker_source
    from test_worker import enqueue, won

    seed_customers(stack)
    source = worker_source(stack)
    queue_url = stack.name("WriteBackQueue")
    enqueue(stack, won())
    assert source.poll_once().succeeded == 1
    [first] = stack.drain(queue_url)
    orders = stack.table("OrdersTable").scan()["Items"]
    enqueue(stack, won())
    assert source.poll_once().succeeded == 1
    assert stack.queue_depth(queue_url) == 0
    assert stack.table("OrdersTable").scan()["Items"] == orders
    assert WriteBack.model_validate_json(first["Body"]).record_id == "0065g00000Won01AAA"


def test_a_dead_lettered_notification_is_written_back_as_failed(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    import notification_worker
    from conftest import worker_source
    from test_worker import enqueue, won

    def order_system_down(message: NotificationMessage) -> Any:
        raise RuntimeError("order system down")

    enqueue(stack, won())
    monkeypatch.setattr(notification_worker, "apply_notification", order_system_down)
    source = worker_source(stack)
    receives = int(stack.template.parameters["MaxReceiveCount"])
    for attempt in range(receives):
        assert source.poll_once().failed == 1
        expected = 1 if attempt == receives - 1 else 0  # only on the last receive, before the dead-letter queue
        assert stack.queue_depth(stack.name("WriteBackQueue")) == expected
    [queued] = stack.drain(stack.name("WriteBackQueue"))
    write_back = WriteBack.model_validate_json(queued["Body"])
    assert write_back.fields == {
        "Integration_Status__c": "Failed",
        "Integration_Message__c": "RuntimeError: order system down",
    }


def test_the_function_reports_what_it_did_and_salesforces_api_usage(
    stack: Stack,
    org: SalesforceStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    import salesforce_write_back
    from local_runtime.lambda_host import LocalContext

    org.add("Opportunity", OPP[0])
    org.api_limit = 1  # this call uses the whole allowance
    salesforce_write_back.delivery.configure(
        salesforce_write_back.WriteBackSettings.from_env({**os.environ, **salesforce_env(org)})
    )
    record = {"eventSource": "aws:sqs", "attributes": {}, "messageAttributes": {}}
    event = {
        "Records": [
            {**record, "messageId": "ok", "body": synced(OPP[0], 11078).model_dump_json()},
            {**record, "messageId": "broken", "body": "{not json"},
        ]
    }
    response = salesforce_write_back.lambda_handler(event, LocalContext("SalesforceWriteBackFunction"))
    assert response == {"batchItemFailures": [{"itemIdentifier": "broken"}]}
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    [emitted] = [line for line in lines if "_aws" in line]
    assert (emitted["WriteBacksSent"], emitted["WriteBacksRetried"]) == ([1.0], [1.0])
    assert emitted["SalesforceApiUsagePercent"] == [100.0]
    assert "Salesforce API usage is high" in capsys.readouterr().out + caplog.text
    assert org.records[("Opportunity", OPP[0])]["ERP_Order_Id__c"] == "11078"


# The Outbound Message callback variant: the message's own SessionId and PartnerUrl.

SESSION = "00Dx0000000BV7z!AR8AQP0jITN80ESEsj5EbaZTFG0RNBaT1cyWk7T"


def test_a_forwarded_session_rides_with_the_write_back_but_is_never_shown() -> None:
    rules = WriteBackRules.load(WORKER_RULES)
    message, result = won(
        {"handler": "opportunity_closed_won", "action": "order_created", "orderId": 11078}, session_id=SESSION
    )
    write_back = rules.after_result(message, result)
    assert write_back is not None
    assert write_back.session is not None
    assert write_back.session.instance_url == "https://example.my.salesforce.com"
    assert "AR8AQP0j" not in repr(write_back)
    assert "AR8AQP0j" not in str(write_back.without_session().model_dump(mode="json"))
    queued = WriteBack.model_validate_json(write_back.model_dump_json())  # on the queue it must travel
    assert queued.session is not None
    assert queued.session.session_id.get_secret_value() == SESSION


@pytest.mark.parametrize(
    "partner_url",
    ["https://attacker.example/services/Soap/u/65.0/00D", "http://northwind.my.salesforce.com/services/Soap/u/65.0"],
)
def test_a_session_is_only_sent_back_to_a_salesforce_instance(partner_url: str) -> None:
    rules = WriteBackRules.load(WORKER_RULES)
    message, result = won(
        {"handler": "opportunity_closed_won", "action": "order_created", "orderId": 11078},
        session_id="00Dx!secret",
        partner_url=partner_url,
    )
    write_back = rules.after_result(message, result)
    assert write_back is not None
    assert write_back.session is None  # written as the integration user, or recorded


def test_the_archive_never_keeps_a_forwarded_session(stack: Stack) -> None:
    from sf_edge.aws.notification_archive import NotificationArchive

    message, _ = won({}, session_id=SESSION)
    NotificationArchive(stack.table("NotificationArchiveTable")).record(
        message, why="won Opportunity without AccountId"
    )
    [item] = stack.table("NotificationArchiveTable").scan()["Items"]
    assert "AR8AQP0j" not in json.dumps(item, default=str)
    assert json.loads(str(item["Message"]))["recordId"] == OPP[0]


def callback_write_back(org: SalesforceStandIn, session_id: str, order_id: int = 11078) -> WriteBack:
    from sf_edge.write_back.messages import CallbackSession

    return synced(OPP[0], order_id).model_copy(
        update={"session": CallbackSession(session_id=session_id, instance_url=org.url)}  # type: ignore[arg-type]
    )


def callback_delivery(stack: Stack, client: SalesforceClient | None) -> WriteBackDelivery:
    from sf_edge.aws.salesforce_connection import callback_clients

    deliver = delivery(stack, client)
    deliver.callback_client = callback_clients(SalesforceConnectionSettings.from_env({}))
    return deliver


def test_a_callback_writes_as_the_outbound_messages_session(stack: Stack, org: SalesforceStandIn) -> None:
    org.add("Opportunity", OPP[0])
    session_id = org.issue_session()
    outcome = callback_delivery(stack, None).deliver([Queued("m0", callback_write_back(org, session_id))])
    assert outcome.sent == 1
    assert org.sessions_used == [session_id]
    assert org.token_requests == 0  # no JWT sign-in: none is configured
    assert org.records[("Opportunity", OPP[0])]["ERP_Order_Id__c"] == "11078"


def test_an_expired_callback_session_falls_back_to_the_integration_user(stack: Stack, org: SalesforceStandIn) -> None:
    org.add("Opportunity", OPP[0])
    outcome = callback_delivery(stack, client_for(org)).deliver(
        [Queued("m0", callback_write_back(org, "00DSTANDIN!expired"))]
    )
    assert (outcome.sent, outcome.rejected) == (1, 0)
    assert org.token_requests == 1
    assert org.records[("Opportunity", OPP[0])]["Integration_Status__c"] == "Synced"


def test_a_callback_that_meets_an_outage_is_retried_not_handed_to_the_integration_user(
    stack: Stack, org: SalesforceStandIn
) -> None:
    """Only a rejected session falls back; Salesforce being down is waited out as the session's own write."""
    org.add("Opportunity", OPP[0])
    org.fail_next("SERVER_UNAVAILABLE", times=4)
    deliver = callback_delivery(stack, client_for(org, retry=Pauses().retry()))
    deliver.callback_client = lambda session: client_for_session(org, session)
    outcome = deliver.deliver([Queued("m0", callback_write_back(org, org.issue_session()))])
    assert (outcome.sent, outcome.retry) == (0, ["m0"])
    assert org.token_requests == 0


def client_for_session(org: SalesforceStandIn, session: Any) -> SalesforceClient:
    from sf_edge.salesforce.rest_client import GivenSession, Session

    given = GivenSession(Session(session.session_id.get_secret_value(), session.instance_url))
    return SalesforceClient(given, Urllib3Transport(), retry=Pauses().retry())


def test_an_expired_callback_session_without_an_integration_user_is_dead_lettered_without_it(
    stack: Stack, org: SalesforceStandIn
) -> None:
    org.add("Opportunity", OPP[0])
    write_back = callback_write_back(org, "00DSTANDIN!expired")
    outcome = callback_delivery(stack, None).deliver([Queued("m0", write_back)])
    assert (outcome.sent, outcome.rejected) == (0, 1)
    [dead] = stack.drain(stack.name("WriteBackDeadLetterQueue"))
    assert "expired" not in dead["Body"]
    assert WriteBack.model_validate_json(dead["Body"]) == write_back.without_session()
    assert "session is no longer valid" in dead["MessageAttributes"]["Reason"]["StringValue"]
    assert "SALESFORCE_" in dead["MessageAttributes"]["Reason"]["StringValue"]
    item = status(stack, write_back)
    assert item["Status"] == "rejected"
    assert "expired" not in json.dumps(item, default=str)


def test_the_callback_loop_from_an_outbound_message_carrying_its_session(
    stack: Stack, org: SalesforceStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listener (opted in) → queue → worker → write-back queue → write-back function → the stand-in, as the
    message's session, with no SALESFORCE_* settings."""
    from conftest import make_intake, run_worker_until_empty, seed_customers, worker_source
    from local_runtime.lambda_host import load_functions
    from local_runtime.sqs_worker import SqsEventSource
    from sf_edge.outbound.intake import IntakeRequest

    seed_customers(stack)
    opportunity_id = to_18("0065g00000CaLbK")
    org.add("Opportunity", opportunity_id)
    config = tmp_path / "listeners.toml"
    config.write_text("[listeners.opportunity]\ninclude_session_id = true\n")
    session_id = org.issue_session()
    fields = {"Id": opportunity_id, "AccountId": to_18("0015g00000ALFKI"), "StageName": "Closed Won", "IsWon": True}
    body = (
        SalesforceSender(LISTENER_WSDLS / "opportunity.wsdl")
        .envelope([("04l5g00000CaLbKAAA", fields)], session_id=session_id)
        .replace(b"https://example.my.salesforce.com", org.url.encode())
    )
    intake = make_intake(LISTENER_WSDLS, stack.queue_url, config=config)
    assert intake.receive(IntakeRequest("opportunity", body, TOKEN)).acked
    assert run_worker_until_empty(worker_source(stack)) == (1, 0)
    monkeypatch.setenv("SALESFORCE_LOGIN_URL", "")
    spec = next(f for f in stack.template.functions() if f.logical_id == "SalesforceWriteBackFunction")
    function = load_functions([spec])[spec.logical_id]  # composed from the template's settings: no integration user
    queue = stack.template.physical["WriteBackQueue"]
    assert run_worker_until_empty(SqsEventSource(function, queue["Ref"], queue["Arn"], batch_size=200)) == (1, 0)
    [order] = stack.table("OrdersTable").scan(
        FilterExpression="SalesforceOpportunityId = :o", ExpressionAttributeValues={":o": opportunity_id}
    )["Items"]
    assert org.records[("Opportunity", opportunity_id)]["ERP_Order_Id__c"] == str(order["OrderID"])
    assert org.sessions_used == [session_id]
    assert org.token_requests == 0


# The whole loop: an Outbound Message for a won Opportunity, through `make run`'s stack, to the Opportunity.


def send_won_opportunity(url: str, notification: str, opportunity_id: str, account_id: str | None) -> bool:
    fields: dict[str, Any] = {"Id": opportunity_id, "StageName": "Closed Won", "IsWon": True, "Amount": 990.0}
    if account_id:
        fields["AccountId"] = account_id
    sender = SalesforceSender(LISTENER_WSDLS / "opportunity.wsdl", f"{url}/outbound/opportunity?token={TOKEN}")
    return sender.send([(notification, fields)])


def salesforce_env(org: SalesforceStandIn) -> dict[str, str]:
    return org.environment(PRIVATE_KEY, USER)


def test_a_won_opportunity_ends_with_its_order_number_on_the_opportunity(
    local_aws: LocalAws,
    org: SalesforceStandIn,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    opportunity_id = to_18("0065g00000WoN01")
    org.add("Opportunity", opportunity_id, StageName="Closed Won")
    with serving(local_aws, salesforce_env(org), worker=True) as running:
        assert send_won_opportunity(running.url, "04l5g00000WoN01AAA", opportunity_id, to_18("0015g00000ALFKI"))
        written = wait_for(lambda: org.records[("Opportunity", opportunity_id)].get("ERP_Order_Id__c"), timeout=30)
        [order] = orders_of(running, opportunity_id)
    assert written == str(order["OrderID"])
    assert org.records[("Opportunity", opportunity_id)]["Integration_Status__c"] == "Synced"
    assert org.token_requests == 2  # one per container: the worker's (it read the lines) and the write-back's
    captured = capfd.readouterr()
    logs = captured.out + captured.err + caplog.text
    assert "Write-back queued" in logs
    key_body = PRIVATE_KEY.splitlines()[1]
    assert key_body not in logs
    assert "00DSTANDIN!" not in logs  # the access token


def test_a_won_opportunity_without_an_account_is_marked_failed_with_why(
    local_aws: LocalAws, org: SalesforceStandIn
) -> None:
    opportunity_id = to_18("0065g00000WoN02")
    org.add("Opportunity", opportunity_id)
    with serving(local_aws, salesforce_env(org), worker=True) as running:
        assert send_won_opportunity(running.url, "04l5g00000WoN02AAA", opportunity_id, None)
        status_ = wait_for(
            lambda: org.records[("Opportunity", opportunity_id)].get("Integration_Status__c"), timeout=30
        )
    assert status_ == "Failed"
    assert org.records[("Opportunity", opportunity_id)]["Integration_Message__c"] == "No order created: no AccountId"


def test_salesforce_down_delays_the_write_back_and_never_repeats_the_apply(
    local_aws: LocalAws, org: SalesforceStandIn
) -> None:
    opportunity_id = to_18("0065g00000WoN03")
    org.add("Opportunity", opportunity_id)
    org.fail_next("SERVER_UNAVAILABLE", times=6)  # more than one delivery's retries
    with serving(local_aws, salesforce_env(org), worker=True, retry_delay=0) as running:
        assert send_won_opportunity(running.url, "04l5g00000WoN03AAA", opportunity_id, to_18("0015g00000ALFKI"))
        wait_for(lambda: org.records[("Opportunity", opportunity_id)].get("ERP_Order_Id__c"), timeout=60)
        orders = orders_of(running, opportunity_id)
    assert len(orders) == 1
    failed_calls = [c for c in org.api_calls if c[2] == 503]
    assert len(failed_calls) == 6


def test_without_salesforce_settings_make_run_records_each_write_back(
    local_aws: LocalAws, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    opportunity_id = to_18("0065g00000WoN04")
    with serving(local_aws, {"SALESFORCE_LOGIN_URL": ""}, worker=True) as running:
        assert send_won_opportunity(running.url, "04l5g00000WoN04AAA", opportunity_id, to_18("0015g00000ALFKI"))
        from sf_edge.aws.clients import dynamodb

        ledger = dynamodb().Table(running.physical("WriteBackLedgerTable"))
        key = {"RecordKey": f"Opportunity/Id/{opportunity_id}"}

        def recorded() -> Any:  # claimed ("pending") first, then settled: wait for the end
            found = ledger.get_item(Key=key).get("Item")
            return found if found and found["Status"] == "recorded" else None

        item = wait_for(recorded, timeout=30)
        [order] = orders_of(running, opportunity_id)
    assert item["Status"] == "recorded"
    assert json.loads(item["Fields"])["ERP_Order_Id__c"] == str(order["OrderID"])
    logs = capfd.readouterr().out + caplog.text
    assert "Write-back recorded, not sent" in logs


logging.getLogger("urllib3").setLevel(logging.WARNING)
