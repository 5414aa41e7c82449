"""The bulk sync workflow itself (statemachine/bulk_sync.asl.json, as template.yaml deploys it) run by moto's Step
Functions executor on `make run`'s stack, its tasks invoking the sync function through the local Lambda host,
against the Bulk API stand-in (tests/bulk_api_stand_in.py, from Salesforce's documented requests and responses):
a full load of Accounts and won Opportunities with the pages applied by the Distributed Map, an incremental sync,
and a failure the workflow reports with its cause."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bulk_api_stand_in import BulkApiStandIn
from conftest import serving
from local_runtime.aws_local import LocalAws
from local_runtime.stack import LocalStack
from salesforce_stand_in import key_pair
from sf_edge.salesforce.ids import to_18

PRIVATE_KEY, PUBLIC_KEY = key_pair()
ACCOUNTS = [to_18(f"0015g0000WfLw{n:02d}") for n in range(30)]
OPPORTUNITIES = [to_18(f"0065g0000WfLw{n:02d}") for n in range(10)]


@pytest.fixture
def org() -> Iterator[BulkApiStandIn]:
    stand_in = BulkApiStandIn(PUBLIC_KEY, polls_to_complete=0).start()
    fields = ("Name", "AccountNumber", "Phone", "Fax", "BillingStreet", "BillingCity", "BillingState",
              "BillingPostalCode", "BillingCountry", "LastModifiedDate")  # fmt: skip
    for n, account in enumerate(ACCOUNTS):
        stand_in.record("Account", account, **dict.fromkeys(fields) | {
            "Name": f"Workflow {n}", "BillingCity": "Oslo", "SystemModstamp": "2026-11-20T10:00:00.000Z"})  # fmt: skip
    for n, opportunity in enumerate(OPPORTUNITIES):
        won = {"StageName": "Closed Won", "IsWon": True, "Amount": "99.00", "CloseDate": "2026-11-21"}
        stand_in.record(
            "Opportunity",
            opportunity,
            AccountId=ACCOUNTS[n],
            Name=f"Deal {n}",
            SystemModstamp="2026-11-21T10:00:00.000Z",
            **won,
        )
    for name in ("ERP_Order_Id__c", "Integration_Status__c", "Integration_Message__c"):
        stand_in.schemas["Opportunity"].add(name)
    yield stand_in
    stand_in.stop()


def environment(org: BulkApiStandIn) -> dict[str, str]:
    return {
        "SALESFORCE_LOGIN_URL": org.url,
        "SALESFORCE_CLIENT_ID": org.consumer_key,
        "SALESFORCE_USERNAME": "integration@northwind.example",
        "SALESFORCE_PRIVATE_KEY": PRIVATE_KEY,
        "SYNC_PAGE_SIZE": "100",
        "SYNC_SETTLE_SECONDS": "0",
    }


@pytest.fixture
def stack(local_aws: LocalAws, org: BulkApiStandIn) -> Iterator[LocalStack]:
    with serving(local_aws, environment(org)) as served:
        yield served


@pytest.fixture
def working_stack(local_aws: LocalAws, org: BulkApiStandIn) -> Iterator[LocalStack]:
    """With the queue pollers on, and a bulk write-back threshold a full load of ten Opportunities reaches."""
    with serving(local_aws, environment(org) | {"BULK_WRITE_BACK_THRESHOLD": "5"}, worker=True) as served:
        yield served


def run(stack: LocalStack, payload: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    import boto3

    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=stack.physical("BulkSyncStateMachine"), name=f"test-{uuid.uuid4()}", input=json.dumps(payload)
    )["executionArn"]
    return finished(arn, timeout)


def finished(arn: str, timeout: float = 120) -> dict[str, Any]:
    import boto3

    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = sfn.describe_execution(executionArn=arn)
        if execution["status"] != "RUNNING":
            return dict(execution)
        time.sleep(0.5)
    raise AssertionError("the workflow did not finish")


def test_the_workflow_loads_every_account_and_won_opportunity_then_only_what_changed(
    stack: LocalStack, org: BulkApiStandIn
) -> None:
    from sf_edge.aws.clients import dynamodb

    first = run(stack, {})
    assert first["status"] == "SUCCEEDED", first.get("cause")
    reports = {r["object"]: r for r in json.loads(first["output"])["reports"]}
    assert (reports["Account"]["applied"], reports["Opportunity"]["applied"]) == (30, 10)
    customers = dynamodb().Table(stack.physical("CustomersTable"))
    assert customers.get_item(Key={"CustomerID": ACCOUNTS[7]})["Item"]["CompanyName"] == "Workflow 7"
    orders = dynamodb().Table(stack.physical("OrdersTable")).scan()["Items"]
    assert sorted(o["SalesforceOpportunityId"] for o in orders if "SalesforceOpportunityId" in o) == sorted(
        OPPORTUNITIES
    )

    # Changed after the first sync's window closed (it ran seconds ago, SYNC_SETTLE_SECONDS=0).
    changed = (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    org.records[("Account", ACCOUNTS[3])] |= {"Name": "Renamed", "SystemModstamp": changed}
    second = run(stack, {"objects": ["Account"]})
    assert second["status"] == "SUCCEEDED", second.get("cause")
    [report] = json.loads(second["output"])["reports"]
    assert (report["rows"], report["applied"]) == (1, 1)
    assert customers.get_item(Key={"CustomerID": ACCOUNTS[3]})["Item"]["CompanyName"] == "Renamed"


def test_a_failed_sync_says_why_and_keeps_the_watermark(stack: LocalStack, org: BulkApiStandIn) -> None:
    org.schemas["Account"].discard("AccountNumber")
    failed = run(stack, {"objects": ["Account"]})
    assert (failed["status"], failed.get("error")) == ("FAILED", "SyncFailed")
    assert "the org has no field AccountNumber on Account" in failed["cause"]


def test_a_full_loads_write_backs_land_through_one_ingest_job_every_failed_row_accounted_for(
    working_stack: LocalStack, org: BulkApiStandIn
) -> None:
    """The ten won Opportunities' write-backs reach the write-back function together: at the threshold it parks
    them and starts the bulk write-back workflow, which sends them as one ingest job; the one Salesforce refuses
    is dead-lettered with its reason, the rest carry their order numbers."""
    import boto3

    from sf_edge.aws.clients import dynamodb

    org.reject[("Opportunity", OPPORTUNITIES[4])] = ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Closed deals are locked")
    assert run(working_stack, {})["status"] == "SUCCEEDED"
    sfn = boto3.client("stepfunctions")
    machine = working_stack.physical("BulkWriteBackStateMachine")
    started = wait_for_executions(sfn, machine)
    assert all(finished(e["executionArn"])["status"] == "SUCCEEDED" for e in started)
    ledger = dynamodb().Table(working_stack.physical("WriteBackLedgerTable")).scan()["Items"]
    statuses = {item["RecordId"]: item["Status"] for item in ledger}
    assert statuses == {o: "rejected" if o == OPPORTUNITIES[4] else "sent" for o in OPPORTUNITIES}
    jobs = [j for j in org.jobs.values() if j.kind == "ingest"]
    assert (len(jobs), sum(len(j.successful) for j in jobs), sum(len(j.failed) for j in jobs)) == (1, 9, 1)
    assert [c for c in org.api_calls if c[1].endswith("/composite/sobjects")] == []  # no Collections call
    assert org.records[("Opportunity", OPPORTUNITIES[0])]["Integration_Status__c"] == "Synced"
    dead = boto3.client("sqs").receive_message(
        QueueUrl=working_stack.physical("WriteBackDeadLetterQueue"), MessageAttributeNames=["All"]
    )["Messages"]
    assert [json.loads(m["Body"])["record_id"] for m in dead] == [OPPORTUNITIES[4]]
    assert dead[0]["MessageAttributes"]["Reason"]["StringValue"].startswith("FIELD_CUSTOM_VALIDATION_EXCEPTION")


def wait_for_executions(sfn: Any, machine: str, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        executions = sfn.list_executions(stateMachineArn=machine)["executions"]
        if executions:
            return list(executions)
        time.sleep(0.5)
    raise AssertionError("no bulk write-back was started")


def test_make_sync_shows_progress_and_a_summary_per_object(
    stack: LocalStack, local_aws: LocalAws, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from local_runtime import sync

    monkeypatch.setenv("MOTO_PORT", str(local_aws.endpoint.rsplit(":", 1)[1]))
    assert sync.main() == 0
    out = capsys.readouterr().out
    assert "Bulk sync started" in out
    assert "Account: " in out  # progress, from the ledger
    [account] = [line for line in out.splitlines() if line.startswith("Account  ")]
    assert account.split()[1:6] == ["30", "30", "0", "0", "0"]  # rows, applied, unchanged, deleted, failed
    assert [line.split()[0] for line in out.splitlines()[-2:]] == ["Account", "Opportunity"]


def test_make_sync_without_salesforce_says_there_is_nothing_to_sync_from(
    local_aws: LocalAws, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from local_runtime import sync

    with serving(local_aws, {"SALESFORCE_LOGIN_URL": ""}):
        monkeypatch.setenv("MOTO_PORT", str(local_aws.endpoint.rsplit(":", 1)[1]))
        assert sync.main() == 1
    out = capsys.readouterr().out
    assert "there is nothing to sync from" in out
