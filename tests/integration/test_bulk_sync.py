"""The bulk sync's steps against the Bulk API stand-in (tests/bulk_api_stand_in.py, from Salesforce's documented
requests and responses) and moto's tables: a full load then an incremental one, deleted records, reconciliation
of gap events' records, the same record by Outbound Message, CDC and bulk applied once, and every interruption the
issue names (a failed job, a 503 between sets, a set cut short, an expired locator, a Lambda that stopped between
steps), resumed or started over with nothing lost or applied twice. The steps are driven here as the workflow
drives them (tests/e2e/test_bulk_sync_workflow.py runs the workflow itself, on moto's Step Functions)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bulk_api_stand_in import BulkApiStandIn
from conftest import Stack, seed_customers, worker_services
from salesforce_stand_in import key_pair
from sf_edge.domain_errors import RetryLater
from sf_edge.salesforce.ids import to_18
from sf_edge.sync.runs import BulkSync, SyncFailed, SyncLimits

PRIVATE_KEY, PUBLIC_KEY = key_pair()
USER = "integration@northwind.example"
T0 = datetime(2026, 11, 30, tzinfo=UTC)  # the first sync; its window ends at 23:58 the day before
T1 = datetime(2026, 12, 2, tzinfo=UTC)
ALFKI_ACCOUNT = to_18("0015g00000AlFkI")
NEW_ACCOUNTS = [to_18(f"0015g0000NeW{n:03d}") for n in range(12)]
GONE_ACCOUNT = to_18("0015g00000GoNe1")


def stamp(day: int, hour: int = 10) -> str:
    return f"2026-11-{day:02d}T{hour:02d}:00:00.000Z"


ACCOUNT_FIELDS = ("Name", "AccountNumber", "Phone", "Fax", "BillingStreet", "BillingCity", "BillingState",
                  "BillingPostalCode", "BillingCountry", "LastModifiedDate")  # fmt: skip
OPPORTUNITY_FIELDS = ("AccountId", "Name", "StageName", "IsWon", "Amount", "CloseDate")


def an_account(org: BulkApiStandIn, account_id: str, **fields: Any) -> None:
    org.record("Account", account_id, **dict.fromkeys(ACCOUNT_FIELDS) | fields)


def an_opportunity(org: BulkApiStandIn, opportunity_id: str, **fields: Any) -> None:
    org.record("Opportunity", opportunity_id, **dict.fromkeys(OPPORTUNITY_FIELDS) | fields)


@pytest.fixture
def org() -> Iterator[BulkApiStandIn]:
    """14 Accounts (ALFKI by Account Number, 12 new ones with quotes, line breaks and CJK, one deleted), 5 won
    Opportunities and an open one."""
    stand_in = BulkApiStandIn(PUBLIC_KEY, polls_to_complete=1).start()
    an_account(stand_in, ALFKI_ACCOUNT, Name="Alfreds Futterkiste GmbH", AccountNumber="ALFKI", BillingCity="Berlin",
               BillingCountry="Germany", SystemModstamp=stamp(20))  # fmt: skip
    for n, account in enumerate(NEW_ACCOUNTS):
        an_account(stand_in, account, Name=f'Neukunde {n} "Quoted", Ltd', BillingStreet=f"Line {n}\nSecond line",
                   BillingCity="東京", SystemModstamp=stamp(1 + n))  # fmt: skip
    an_account(stand_in, GONE_ACCOUNT, Name="Gone AG", SystemModstamp=stamp(25), IsDeleted=True)
    for n in range(5):
        an_opportunity(stand_in, to_18(f"0065g0000WoN{n:03d}"), AccountId=NEW_ACCOUNTS[n] if n else ALFKI_ACCOUNT,
                       Name=f"Deal {n}", StageName="Closed Won", IsWon=True, Amount="1000.50", CloseDate="2026-11-15",
                       SystemModstamp=stamp(10 + n))  # fmt: skip
    an_opportunity(stand_in, to_18("0065g0000OpEn01"), AccountId=ALFKI_ACCOUNT, StageName="Prospecting", IsWon=False,
                   SystemModstamp=stamp(12))  # fmt: skip
    for name in ("ERP_Order_Id__c", "Integration_Status__c", "Integration_Message__c"):
        stand_in.schemas["Opportunity"].add(name)
    yield stand_in
    stand_in.stop()


def compose(stack: Stack, org: BulkApiStandIn, now: datetime = T0, **settings: Any) -> BulkSync:
    import bulk_sync

    steps = bulk_sync.sync.configure(
        bulk_sync.BulkSyncSettings.from_env(),
        **org.sign_in(PRIVATE_KEY, USER),
        **settings,
    )
    steps.clock = lambda: now
    return steps


def page_keys(state: dict[str, Any]) -> list[str]:
    import boto3

    listed = boto3.client("s3").list_objects_v2(Bucket=state["bucket"], Prefix=state["prefix"])
    return [o["Key"] for o in listed.get("Contents", [])]


def drive(steps: BulkSync, state: dict[str, Any] | None = None, objects: list[str] | None = None) -> dict[str, Any]:
    """The workflow's loop: route on the state, as statemachine/bulk_sync.asl.json does (without its waits)."""
    state = state or steps.begin({"objects": objects or []})
    for _ in range(1000):
        match state["state"]:
            case "done":
                return state
            case "polling":
                state = steps.poll(state)
            case "reading":
                state = steps.read_page(state)
            case "applying":
                for key in page_keys(state):
                    steps.apply_page(state["object"], key)
                state = steps.finish(state)
    raise AssertionError("the sync never finished")


def table(stack: Stack, name: str) -> list[dict[str, Any]]:
    return stack.table(name).scan()["Items"]


def customer(stack: Stack, customer_id: str) -> dict[str, Any]:
    return stack.table("CustomersTable").get_item(Key={"CustomerID": customer_id}).get("Item") or {}


def salesforce_orders(stack: Stack) -> list[dict[str, Any]]:
    return [o for o in table(stack, "OrdersTable") if o.get("SalesforceOpportunityId")]


def report(state: dict[str, Any], sobject: str) -> dict[str, Any]:
    return next(r for r in state["reports"] if r["object"] == sobject)


# A full load, then an incremental one.


def test_a_full_load_brings_every_account_and_won_opportunity(stack: Stack, org: BulkApiStandIn) -> None:
    seed_customers(stack)
    state = drive(compose(stack, org))
    accounts, opportunities = report(state, "Account"), report(state, "Opportunity")
    assert (accounts["rows"], accounts["applied"], accounts["deleted"], accounts["failed"]) == (14, 13, 1, 0)
    assert (opportunities["rows"], opportunities["applied"]) == (5, 5)  # the open one is not read (IsWon = true)
    assert accounts["window"] == {"after": None, "upTo": "2026-11-29T23:58:00Z", "full": False, "ids": 0}
    assert accounts["watermark"] == opportunities["watermark"] == "2026-11-29T23:58:00Z"
    assert customer(stack, "ALFKI")["CompanyName"] == "Alfreds Futterkiste GmbH"  # linked by AccountNumber
    new = customer(stack, NEW_ACCOUNTS[3])
    assert (new["CompanyName"], new["Address"], new["City"]) == (
        'Neukunde 3 "Quoted", Ltd',
        "Line 3\nSecond line",
        "東京",
    )
    assert customer(stack, GONE_ACCOUNT)["SalesforceDeleted"] is True
    orders = salesforce_orders(stack)
    assert sorted(o["CustomerID"] for o in orders) == sorted(["ALFKI", *NEW_ACCOUNTS[1:5]])
    assert {o["ShipCity"] for o in orders if o["CustomerID"] != "ALFKI"} == {"東京"}
    soql = org.queries[0]
    assert soql.startswith("SELECT Id, SystemModstamp, IsDeleted, Name, AccountNumber, Phone")
    assert soql.endswith("FROM Account WHERE SystemModstamp <= 2026-11-29T23:58:00Z")
    assert all(job.operation == "queryAll" for job in org.jobs.values())
    write_backs = [json.loads(m["Body"]) for m in stack.drain(stack.name("WriteBackQueue"))]
    assert sorted(w["fields"]["ERP_Order_Id__c"] for w in write_backs) == sorted(str(o["OrderID"]) for o in orders)


def test_the_next_sync_reads_only_what_changed_since(stack: Stack, org: BulkApiStandIn) -> None:
    seed_customers(stack)
    drive(compose(stack, org))
    org.records[("Account", NEW_ACCOUNTS[0])] |= {"Phone": "+81 3 0000", "SystemModstamp": "2026-12-01T09:00:00.000Z"}
    state = drive(compose(stack, org, T1))
    accounts, opportunities = report(state, "Account"), report(state, "Opportunity")
    assert (accounts["rows"], accounts["applied"], opportunities["rows"]) == (1, 1, 0)
    assert org.queries[-2].endswith(
        "WHERE SystemModstamp > 2026-11-29T23:58:00Z AND SystemModstamp <= 2026-12-01T23:58:00Z"
    )
    assert customer(stack, NEW_ACCOUNTS[0])["Phone"] == "+81 3 0000"
    assert accounts["watermark"] == "2026-12-01T23:58:00Z"


def test_a_sync_read_again_changes_nothing(stack: Stack, org: BulkApiStandIn) -> None:
    seed_customers(stack)
    drive(compose(stack, org))
    before = {c["CustomerID"]: c["_v"] for c in table(stack, "CustomersTable") if "_v" in c}
    orders = len(salesforce_orders(stack))
    stack.drain(stack.name("WriteBackQueue"))
    from sf_edge.aws.sync_ledger import DynamoDbSyncLedger

    # The same records again: the watermarks forgotten, a full re-read (as a reconciliation of the object's).
    ledger = DynamoDbSyncLedger(stack.table("SyncStateTable"))
    stack.table("SyncStateTable").delete_item(Key={"Object": "Account", "Item": "watermark"})
    stack.table("SyncStateTable").delete_item(Key={"Object": "Opportunity", "Item": "watermark"})
    state = drive(compose(stack, org, T1))
    assert (report(state, "Account")["unchanged"], report(state, "Account")["applied"]) == (14, 0)
    assert report(state, "Opportunity")["unchanged"] == 5
    after = {c["CustomerID"]: c["_v"] for c in table(stack, "CustomersTable") if "_v" in c}
    assert after == before  # nothing written: no version moved
    assert len(salesforce_orders(stack)) == orders
    assert ledger.watermark("Account") == "2026-12-01T23:58:00Z"


# The same record by every channel.


def test_one_change_by_cdc_outbound_message_and_bulk_lands_once(stack: Stack, org: BulkApiStandIn) -> None:
    """BLAUS as Change Data Capture brought it (a CREATE at 09:00, an UPDATE at 10:00), then the whole record at
    10:00 by Outbound Message, then by the bulk sync: the bulk row finds everything there and writes nothing."""
    from sf_edge.notifications.reference_handlers import registry
    from test_event_relay import SAMPLES, apply_directly
    from test_worker import message as notification

    seed_customers(stack)
    blaus = to_18("0015g00000BlAuS")
    record = {"Name": "Blauer See Delikatessen", "AccountNumber": "BLAUS", "Phone": "0621-08461", "Fax": None,
              "BillingStreet": "Forsterstr. 57", "BillingCity": "Heidelberg", "BillingState": None,
              "BillingPostalCode": "68306", "BillingCountry": "Germany"}  # fmt: skip
    org.record("Account", blaus, **record, SystemModstamp="2026-11-20T10:00:00.000Z", LastModifiedDate=None)
    apply_directly(stack, [SAMPLES["account_create"], SAMPLES["account_update"]])
    # The Outbound Message carries the fields the bulk sync reads (IsDeleted among them: otherwise the bulk row is
    # the first to say the Account is not deleted, and that one column's stamp is written once).
    whole = {"Id": blaus, **{k: v for k, v in record.items() if v is not None}, "IsDeleted": False,
             "SystemModstamp": "2026-11-20T10:00:00Z"}  # fmt: skip
    nulls = [k for k, v in record.items() if v is None]
    registry.dispatch(notification("04l5g00000BlAuS01A", "Account", whole, null_fields=nulls), worker_services())
    before = customer(stack, "BLAUS")
    state = drive(compose(stack, org), objects=["Account"])
    after = customer(stack, "BLAUS")
    assert after["_v"] == before["_v"]  # nothing written: the same change, brought a third time
    assert (after["Phone"], after["City"], "Fax" in after) == ("0621-08461", "Heidelberg", False)
    assert report(state, "Account")["unchanged"] == 1
    linked = [c["CustomerID"] for c in table(stack, "CustomersTable") if c.get("SalesforceAccountId") == blaus]
    assert linked == ["BLAUS"]


# Deleted records, and reconciliation.


def test_gap_events_records_are_read_again_by_id_and_their_marks_cleared(stack: Stack, org: BulkApiStandIn) -> None:
    import notification_worker

    seed_customers(stack)
    drive(compose(stack, org))
    org.records[("Account", NEW_ACCOUNTS[5])]["Phone"] = "changed in a gap"  # no new SystemModstamp seen
    archive = notification_worker.worker.configure(notification_worker.WorkerSettings.from_env()).archive
    archive.record_reconciliation(gap_message(NEW_ACCOUNTS[5]), why="GAP_UPDATE")
    assert archive.outstanding("Account") == 1
    state = drive(compose(stack, org, T1), objects=["Account"])
    assert f"OR Id IN ('{NEW_ACCOUNTS[5]}')" in org.queries[-1]
    assert report(state, "Account")["reconciled"] == 1
    assert report(state, "Account")["toReconcile"] == 0
    assert customer(stack, NEW_ACCOUNTS[5])["Phone"] == "changed in a gap"
    assert archive.outstanding("Account") == 0


def test_a_gap_overflow_makes_the_next_sync_a_full_re_read(stack: Stack, org: BulkApiStandIn) -> None:
    import notification_worker

    seed_customers(stack)
    drive(compose(stack, org))
    archive = notification_worker.worker.configure(notification_worker.WorkerSettings.from_env()).archive
    archive.record_reconciliation(gap_message(""), why="GAP_OVERFLOW")
    state = drive(compose(stack, org, T1), objects=["Account"])
    assert org.queries[-1].endswith("WHERE SystemModstamp <= 2026-12-01T23:58:00Z")
    assert (report(state, "Account")["rows"], report(state, "Account")["window"]["full"]) == (14, True)
    assert archive.outstanding("Account") == 0


def gap_message(record_id: str) -> Any:
    from sf_edge.salesforce.notification_message import ChangeInfo, NotificationMessage, RelayOrigin

    return NotificationMessage(
        listener="event-relay",
        organization_id="00D000000000001",
        notification_id=f"gap-{record_id or 'all'}",
        sObjectType="AccountChangeEvent",
        record_id=record_id,
        fields={},
        received_at=T0,
        origin=RelayOrigin(
            event_id=f"gap-{record_id or 'all'}",
            change=ChangeInfo(
                change_type="GAP_UPDATE" if record_id else "GAP_OVERFLOW",
                entity="Account",
                stamp="",
                commit_timestamp=0,
            ),
        ),
    )


# Interruptions.


def test_a_sync_stopped_between_any_two_steps_resumes_with_nothing_lost_or_doubled(
    stack: Stack, org: BulkApiStandIn
) -> None:
    seed_customers(stack)
    org.polls_to_complete = 0
    steps = compose(stack, org, sync_page_size=100)
    state = steps.begin({"objects": ["Opportunity", "Account"]})
    state = steps.poll(state)
    state = steps.read_page(state)
    # The Lambda stops here; the next execution starts from the beginning and finds the run where it was.
    steps = compose(stack, org, sync_page_size=100)
    state = steps.begin({"objects": ["Opportunity", "Account"]})
    assert (state["state"], len(org.jobs)) == ("applying", 1)  # the same job, its one page read
    [key] = page_keys(state)
    steps.apply_page("Opportunity", key)
    # Stopped again, after applying but before finishing: applied again, it changes nothing.
    state = drive(compose(stack, org, sync_page_size=100), objects=["Opportunity", "Account"])
    assert report(state, "Opportunity")["applied"] == 5
    assert len(salesforce_orders(stack)) == 5
    assert len({o["SalesforceOpportunityId"] for o in salesforce_orders(stack)}) == 5


def test_a_job_that_fails_is_replaced_over_the_same_window(stack: Stack, org: BulkApiStandIn) -> None:
    seed_customers(stack)
    org.next_outcomes = ["Failed", "Aborted"]
    state = drive(compose(stack, org), objects=["Account"])
    assert len(org.jobs) == 3
    assert len({q for q in org.queries}) == 1  # one window, three jobs
    assert report(state, "Account")["rows"] == 14


def test_a_job_that_fails_every_time_abandons_the_run_and_keeps_the_watermark(
    stack: Stack, org: BulkApiStandIn
) -> None:
    from sf_edge.aws.sync_ledger import DynamoDbSyncLedger

    seed_customers(stack)
    org.next_outcomes = ["Failed"] * 3
    with pytest.raises(SyncFailed, match="3 query jobs tried over this window, the watermark is kept"):
        drive(compose(stack, org), objects=["Account"])
    ledger = DynamoDbSyncLedger(stack.table("SyncStateTable"))
    assert (ledger.watermark("Account"), ledger.run("Account")) == (None, None)
    assert drive(compose(stack, org), objects=["Account"])["reports"][0]["rows"] == 14  # the next one starts over


def test_a_503_between_two_sets_is_retried_then_read(stack: Stack, org: BulkApiStandIn) -> None:
    seed_customers(stack)
    steps = compose(stack, org, sync_page_size=100)
    steps.bulk().client.retry = type(steps.bulk().client.retry)(sleep=lambda _: None)
    org.fail_when(lambda m, path, query: path.endswith("/results"), "SERVER_UNAVAILABLE", times=4)
    state = steps.poll(steps.poll(steps.begin({"objects": ["Account"]})))
    with pytest.raises(RetryLater, match="503"):
        steps.read_page(state)
    state = drive(steps, steps.read_page(state))
    assert report(state, "Account")["rows"] == 14


def test_a_set_cut_short_is_read_again(stack: Stack, org: BulkApiStandIn) -> None:
    seed_customers(stack)
    org.cut_pages = {2}
    steps = compose(stack, org)
    steps.limits = SyncLimits(page_size=5)  # below the setting's floor: three sets of 14 records
    state = steps.poll(steps.poll(steps.begin({"objects": ["Account"]})))
    state = steps.read_page(state)
    with pytest.raises(RetryLater, match="ended early: 4 of the 5"):
        steps.read_page(state)
    state = drive(steps, steps.read_page(state))
    assert (report(state, "Account")["rows"], report(state, "Account")["pages"]) == (14, 3)


def test_an_expired_locator_starts_the_window_over_with_a_new_job(stack: Stack, org: BulkApiStandIn) -> None:
    seed_customers(stack)
    steps = compose(stack, org)
    steps.limits = SyncLimits(page_size=5)  # below the setting's floor: three sets of 14 records
    state = steps.read_page(steps.poll(steps.poll(steps.begin({"objects": ["Account"]}))))
    org.expire_jobs()
    state = steps.read_page(state)
    assert state["state"] == "polling"
    state = drive(steps, state)
    assert report(state, "Account")["rows"] == 14
    assert len(org.queries) == 2


def test_a_field_the_org_no_longer_has_fails_the_sync_naming_it(stack: Stack, org: BulkApiStandIn) -> None:
    from sf_edge.aws.sync_ledger import DynamoDbSyncLedger

    org.schemas["Account"].discard("Fax")
    with pytest.raises(SyncFailed, match="the org has no field Fax on Account"):
        drive(compose(stack, org))
    assert DynamoDbSyncLedger(stack.table("SyncStateTable")).watermark("Account") is None


def test_without_salesforce_there_is_nothing_to_sync_from(stack: Stack) -> None:
    import bulk_sync

    steps = bulk_sync.sync.configure(bulk_sync.BulkSyncSettings.from_env(), salesforce_login_url="")
    with pytest.raises(SyncFailed, match="nothing to sync from"):
        steps.begin({})


# Bad rows.


def test_rows_that_cannot_be_applied_are_kept_with_why_and_the_rest_applied(stack: Stack, org: BulkApiStandIn) -> None:
    import boto3

    seed_customers(stack)
    steps = compose(stack, org)
    header = '"Id","SystemModstamp","IsDeleted","Name","AccountNumber"\n'
    body = (
        header
        + f'"{NEW_ACCOUNTS[0]}","2026-11-01T10:00:00.000Z","false","Fine","NEW0"\n'
        + '"not-an-id","2026-11-01T10:00:00.000Z","false","Bad id",""\n'
        + f'"{NEW_ACCOUNTS[1]}","2026-11-01T10:00:00.000Z","false","Bro"ken",""\n'
        + f'"{NEW_ACCOUNTS[2]}","yesterday","false","Bad stamp",""\n'
    )
    key = "sync/Account/750000000000000001/000001.csv"
    boto3.client("s3").put_object(Bucket=steps.pages.bucket, Key=key, Body=body.encode())
    counts = steps.apply_page("Account", key)
    assert (counts["rows"], counts["applied"], counts["failed"]) == (4, 1, 3)
    assert customer(stack, "NEW0")["CompanyName"] == "Fine"
    failed = {i["NotificationKey"]: i["Why"] for i in table(stack, "NotificationArchiveTable")}
    assert failed["sync-failed#Account/not-an-id"] == "not a Salesforce id: 'not-an-id'"
    assert "not CSV" in failed["sync-failed#Account/750000000000000001/line-4"]
    assert "SystemModstamp" in failed[f"sync-failed#Account/{NEW_ACCOUNTS[2]}"]


def test_a_syncs_report_becomes_the_metrics_its_alarms_read(capsys: pytest.CaptureFixture[str]) -> None:
    """SyncRowsFailed carries the function's dimensions only (BulkSyncFailedRowsAlarm: service = bulk_sync);
    RecordsToReconcile is by object."""
    import bulk_sync

    bulk_sync.report_metrics({"object": "Account", "applied": 5, "deleted": 1, "failed": 2, "toReconcile": 0})
    bulk_sync.metrics.flush_metrics()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    failed = next(line for line in lines if "SyncRowsFailed" in line)
    waiting = next(line for line in lines if "RecordsToReconcile" in line)
    assert failed["SyncRowsFailed"] == [2.0]
    assert "SObject" not in failed["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]  # only the service's (in Lambda)
    assert (waiting["RecordsToReconcile"], waiting["SObject"]) == ([0.0], "Account")
    from local_runtime.template import Template

    resources = Template().resources
    service = resources["BulkSyncFunction"]["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    assert resources["BulkSyncFailedRowsAlarm"]["Properties"]["Dimensions"] == [{"Name": "service", "Value": service}]
