"""The Bulk API 2.0 client and its CSV against the Bulk API stand-in (tests/bulk_api_stand_in.py, built from
Salesforce's documented requests and responses): the query job's lifecycle and states, locator paging, the API
version a job's results need, deleted records, failed jobs, a 503 between sets, schema drift; the ingest job's
upload, close and results; CSV quoting, line breaks, UTF-8 and nulls, read in pieces."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from bulk_api_stand_in import BulkApiStandIn, parse_soql
from salesforce_stand_in import key_pair
from sf_edge.salesforce import bulk_csv
from sf_edge.salesforce.bulk_api import BulkApi, BulkJob, SchemaDriftError
from sf_edge.salesforce.rest_client import (
    JwtBearerSignIn,
    Retry,
    SalesforceClient,
    SalesforceError,
    SalesforceSettings,
    Urllib3Transport,
)

PRIVATE_KEY, PUBLIC_KEY = key_pair()
USER = "integration@northwind.example"


@pytest.fixture
def org() -> Iterator[BulkApiStandIn]:
    stand_in = BulkApiStandIn(PUBLIC_KEY).start()
    for n in range(25):
        stand_in.record(
            "Account",
            f"001000000000{n:03d}AAA",
            Name=f"Account {n}",
            AccountNumber=f"C{n:04d}",
            SystemModstamp=f"2026-11-{1 + n:02d}T10:00:00.000Z",
        )
    yield stand_in
    stand_in.stop()


def bulk(org: BulkApiStandIn, pauses: list[float] | None = None) -> BulkApi:
    transport = Urllib3Transport(read_timeout=5)
    settings = SalesforceSettings(login_url=org.url, client_id=org.consumer_key, username=USER)
    sleep = pauses.append if pauses is not None else (lambda _: None)
    client = SalesforceClient(
        JwtBearerSignIn(settings, lambda: PRIVATE_KEY, transport), transport, retry=Retry(sleep=sleep)
    )
    return BulkApi(client)


def completed(api: BulkApi, job: BulkJob) -> BulkJob:
    for _ in range(10):
        job = api.query_job(job) if job.operation.startswith("query") else api.ingest_job(job)
        if job.finished:
            return job
    raise AssertionError(f"{job} never finished")


def read_all(api: BulkApi, job: BulkJob, max_records: int) -> tuple[list[dict[str, Any]], list[int]]:
    rows: list[dict[str, Any]] = []
    sizes: list[int] = []
    locator: str | None = None
    while True:
        with api.results(job, locator=locator, max_records=max_records) as page:
            _, found = bulk_csv.records(page.read)
            batch = list(found)
            assert page.records == len(batch)
            rows += batch  # type: ignore[arg-type]
            sizes.append(len(batch))
            locator = page.next_locator
        if locator is None:
            return rows, sizes


# Query jobs.


def test_a_query_job_goes_from_upload_complete_through_in_progress_to_complete(org: BulkApiStandIn) -> None:
    api = bulk(org)
    job = api.create_query("SELECT Id, Name FROM Account")
    assert (job.state, job.operation, job.object, job.api_version) == ("UploadComplete", "queryAll", "Account", "65.0")
    assert api.query_job(job).state == "InProgress"
    assert api.query_job(job).state == "JobComplete"
    assert [c[0] for c in org.api_calls] == ["POST", "GET", "GET"]


def test_results_are_read_set_by_set_following_the_locator_until_null(org: BulkApiStandIn) -> None:
    api = bulk(org)
    job = completed(api, api.create_query("SELECT Id, Name, AccountNumber FROM Account"))
    rows, sizes = read_all(api, job, max_records=10)
    assert sizes == [10, 10, 5]
    assert sorted(r["Id"] for r in rows) == sorted(key[1] for key in org.records)
    assert [r["Id"] for r in rows] != sorted(r["Id"] for r in rows)  # no order is promised, none is relied on
    assert len(org.result_calls) == 3


def test_results_need_the_api_version_that_created_the_job(org: BulkApiStandIn) -> None:
    api = bulk(org)
    job = completed(api, api.create_query("SELECT Id FROM Account"))
    with (
        pytest.raises(SalesforceError) as refused,
        api.results(replace(job, api_version="64.0"), locator=None, max_records=5),
    ):
        pass
    assert (refused.value.status, refused.value.retryable) == (409, False)
    with api.results(job, locator=None, max_records=5) as page:
        assert page.records == 5


def test_query_all_brings_deleted_records_and_query_leaves_them_out(org: BulkApiStandIn) -> None:
    org.record("Account", "001000000000999AAA", Name="Gone", SystemModstamp="2026-11-30T10:00:00.000Z", IsDeleted=True)
    api = bulk(org)
    every = completed(api, api.create_query("SELECT Id, IsDeleted FROM Account WHERE Name = 'Gone'"))
    live = completed(api, api.create_query("SELECT Id FROM Account WHERE Name = 'Gone'", include_deleted=False))
    assert read_all(api, every, 100)[0] == [{"Id": "001000000000999AAA", "IsDeleted": "true"}]
    assert read_all(api, live, 100)[0] == []


def test_the_where_clause_of_a_window_and_ids_is_evaluated(org: BulkApiStandIn) -> None:
    api = bulk(org)
    soql = (
        "SELECT Id FROM Account WHERE (SystemModstamp > 2026-11-20T10:00:00Z"
        " AND SystemModstamp <= 2026-11-22T10:00:00Z) OR Id IN ('001000000000000AAA')"
    )
    rows, _ = read_all(api, completed(api, api.create_query(soql)), 100)
    assert sorted(r["Id"] for r in rows) == ["001000000000000AAA", "001000000000020AAA", "001000000000021AAA"]
    assert parse_soql(soql).where_fields == ["SystemModstamp", "SystemModstamp", "Id"]


def test_a_job_that_fails_says_why(org: BulkApiStandIn) -> None:
    org.next_outcomes = ["Failed"]
    api = bulk(org)
    job = completed(api, api.create_query("SELECT Id FROM Account"))
    assert (job.state, job.finished) == ("Failed", True)
    assert "failed" in job.error_message
    with pytest.raises(SalesforceError) as refused, api.results(job, locator=None, max_records=5):
        pass
    assert (refused.value.status, refused.value.code) == (412, "JOB_NOT_COMPLETE")


def test_a_503_between_two_sets_is_retried_and_the_set_read(org: BulkApiStandIn) -> None:
    pauses: list[float] = []
    api = bulk(org, pauses)
    job = completed(api, api.create_query("SELECT Id FROM Account"))
    org.fail_when(lambda method, path, query: path.endswith("/results") and "locator" in query, "SERVER_UNAVAILABLE")
    rows, sizes = read_all(api, job, max_records=10)
    assert (len(rows), sizes, len(pauses)) == (25, [10, 10, 5], 1)
    assert [c[2] for c in org.result_calls] == [200, 503, 200, 200]


def test_a_field_the_org_no_longer_has_is_named(org: BulkApiStandIn) -> None:
    org.schemas["Account"].discard("AccountNumber")
    with pytest.raises(SchemaDriftError) as drift:
        bulk(org).create_query("SELECT Id, AccountNumber FROM Account")
    assert (drift.value.field, drift.value.sobject, drift.value.retryable) == ("AccountNumber", "Account", False)


def test_an_expired_job_is_a_404(org: BulkApiStandIn) -> None:
    api = bulk(org)
    job = completed(api, api.create_query("SELECT Id FROM Account"))
    org.expire_jobs()
    with pytest.raises(SalesforceError) as gone, api.results(job, locator="MTA=", max_records=10):
        pass
    assert (gone.value.status, gone.value.retryable) == (404, False)


# Ingest jobs.


def test_an_upsert_job_is_uploaded_closed_and_its_results_joined_by_external_id(org: BulkApiStandIn) -> None:
    org.record(
        "Opportunity", "006000000000001AAA", ERP_Order_Id__c="", Integration_Status__c="", Integration_Message__c="x"
    )
    org.record(
        "Opportunity", "006000000000002AAA", ERP_Order_Id__c="", Integration_Status__c="", Integration_Message__c=""
    )
    org.reject[("Opportunity", "006000000000002AAA")] = ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Closed deals are locked")
    api = bulk(org)
    job = api.create_ingest("Opportunity", "Id")
    assert job.state == "Open"
    header = ["Id", "ERP_Order_Id__c", "Integration_Status__c", "Integration_Message__c"]
    rows = [
        {
            "Id": "006000000000001AAA",
            "ERP_Order_Id__c": "11078",
            "Integration_Status__c": "Synced",
            "Integration_Message__c": None,
        },
        {
            "Id": "006000000000002AAA",
            "ERP_Order_Id__c": "11079",
            "Integration_Status__c": "Synced",
            "Integration_Message__c": None,
        },
        {
            "Id": "006000000000404AAA",
            "ERP_Order_Id__c": "1",
            "Integration_Status__c": "Synced",
            "Integration_Message__c": None,
        },
    ]
    body = bulk_csv.header_line(header) + "".join(bulk_csv.csv_line(header, r) for r in rows)
    api.upload(job, io.BytesIO(body.encode()))
    assert api.close(job).state == "UploadComplete"
    job = completed(api, job)
    assert (job.state, job.records_processed, job.records_failed) == ("JobComplete", 3, 2)
    with api.ingest_results(job, "successfulResults") as stream:
        succeeded = {r["Id"]: r for r in bulk_csv.records(stream.read)[1]}  # type: ignore[index]
    with api.ingest_results(job, "failedResults") as stream:
        failed = {r["Id"]: r["sf__Error"] for r in bulk_csv.records(stream.read)[1]}  # type: ignore[index]
    assert set(succeeded) == {"006000000000001AAA"}
    assert succeeded["006000000000001AAA"]["sf__Created"] == "false"
    assert failed["006000000000002AAA"].startswith("FIELD_CUSTOM_VALIDATION_EXCEPTION:")
    assert failed["006000000000404AAA"].startswith("INVALID_CROSS_REFERENCE_KEY:")
    assert org.records[("Opportunity", "006000000000001AAA")]["ERP_Order_Id__c"] == "11078"
    assert org.records[("Opportunity", "006000000000001AAA")]["Integration_Message__c"] is None  # #N/A: null


# CSV.


def chunked(data: bytes, size: int) -> Any:
    stream = io.BytesIO(data)
    return lambda _amount: stream.read(size)


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 64 * 1024])
def test_csv_is_read_in_pieces_of_any_size_with_quotes_line_breaks_and_utf8(piece: int) -> None:
    text = '\ufeff"Id","Name","Description"\n"1","Alfreds ""AF"", GmbH","line one\nline two"\n"2","東京商事",""\n'
    header, rows = bulk_csv.records(chunked(text.encode(), piece), chunk=piece)
    assert header == ["Id", "Name", "Description"]
    assert list(rows) == [
        {"Id": "1", "Name": 'Alfreds "AF", GmbH', "Description": "line one\nline two"},
        {"Id": "2", "Name": "東京商事", "Description": None},
    ]


def test_a_malformed_row_is_handed_on_and_the_rows_after_it_are_read() -> None:
    text = '"Id","Name"\n"1","ok"\n"2","bro"ken"\n"3"\n"4","fine"\n'
    _, rows = bulk_csv.records(chunked(text.encode(), 5))
    got = list(rows)
    assert got[0] == {"Id": "1", "Name": "ok"}
    assert got[-1] == {"Id": "4", "Name": "fine"}
    bad = [r for r in got if isinstance(r, bulk_csv.BadRow)]
    assert [(b.line, b.why.split(":")[0]) for b in bad] == [(3, "not CSV"), (4, "1 fields where the header has 2")]


def test_csv_that_is_not_utf8_or_has_no_header_is_refused() -> None:
    with pytest.raises(bulk_csv.CsvError, match="UTF-8"):
        list(bulk_csv.records(chunked('"Id"\n"é"\n'.encode("latin-1"), 100))[1])
    with pytest.raises(bulk_csv.CsvError, match="empty"):
        bulk_csv.records(chunked(b"", 100))
    with pytest.raises(bulk_csv.CsvError, match="twice"):
        bulk_csv.records(chunked(b'"Id","Id"\n', 100))


def test_written_csv_quotes_everything_and_marks_nulls() -> None:
    line = bulk_csv.csv_line(["a", "b", "c", "d"], {"a": "0012", "b": None, "c": 'say "hi"\nthere', "d": True})
    assert line == '"0012","#N/A","say ""hi""\nthere","true"\n'
