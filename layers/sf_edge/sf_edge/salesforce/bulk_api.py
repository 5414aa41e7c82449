"""Bulk API 2.0, on the REST client's sign-in, retries and limits (sf_edge.salesforce.rest_client).

Documented requests (Bulk API 2.0 and Bulk API Developer Guide):
- Query: `POST /services/data/vXX.X/jobs/query` `{"operation": "queryAll", "query": ..., "contentType": "CSV",
  "columnDelimiter": "COMMA", "lineEnding": "LF"}` (queryAll: deleted records too, with `IsDeleted`); the job's
  state by `GET .../jobs/query/{id}` (`UploadComplete`, `InProgress`, `JobComplete`, `Failed`, `Aborted`); its
  results by `GET .../jobs/query/{id}/results?maxRecords=&locator=`, CSV, each answer naming the next set in
  `Sforce-Locator` (the text `null` after the last) and its size in `Sforce-NumberOfRecords`. Results must be
  read with the API version that created the job (409 otherwise), so each job keeps its version.
- Ingest: `POST .../jobs/ingest` `{"object", "externalIdFieldName", "operation": "upsert", "contentType": "CSV",
  "lineEnding": "LF"}` (state `Open`), the CSV by `PUT .../jobs/ingest/{id}/batches` (`text/csv`, 201; at most
  150 MB after Salesforce's base64 encoding, so 100 MB of raw CSV per job), `PATCH .../jobs/ingest/{id}`
  `{"state": "UploadComplete"}`, the state by `GET`, then `successfulResults/` (`sf__Id`, `sf__Created`, the
  uploaded columns), `failedResults/` (`sf__Id`, `sf__Error`, the uploaded columns) and `unprocessedrecords/` (the
  uploaded columns), in no guaranteed order: join them to what was sent by a column, never by position.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal
from urllib.parse import quote, urlencode

from sf_edge.salesforce.rest_client import HttpStream, SalesforceClient, SalesforceError

FINISHED = frozenset({"JobComplete", "Failed", "Aborted"})
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
ResultKind = Literal["successfulResults", "failedResults", "unprocessedrecords"]
_NO_SUCH_COLUMN = re.compile(r"No such column '([^']+)' on entity '([^']+)'")


@dataclass(frozen=True)
class BulkJob:
    """A job as Salesforce describes it; `api_version` is the one that created it (its results need it)."""

    id: str
    state: str
    api_version: str
    object: str = ""
    operation: str = ""
    error_message: str = ""
    records_processed: int = 0
    records_failed: int = 0

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @classmethod
    def from_answer(cls, answer: Any, fallback_version: str) -> BulkJob:
        if not isinstance(answer, dict) or not answer.get("id") or not answer.get("state"):
            raise SalesforceError(f"a Bulk API job answer without an id and a state: {str(answer)[:200]}")
        version = answer.get("apiVersion")
        return cls(
            id=str(answer["id"]),
            state=str(answer["state"]),
            api_version=f"{float(version):.1f}" if version is not None else fallback_version,
            object=str(answer.get("object") or ""),
            operation=str(answer.get("operation") or ""),
            error_message=str(answer.get("errorMessage") or ""),
            records_processed=int(answer.get("numberRecordsProcessed") or 0),
            records_failed=int(answer.get("numberRecordsFailed") or 0),
        )


@dataclass
class ResultPage:
    """One set of a query job's results: its records as CSV, read from `stream`; `next_locator` None after the
    last set; `records` as Salesforce counted them (to tell a set cut short)."""

    stream: HttpStream
    next_locator: str | None
    records: int | None

    def read(self, amount: int) -> bytes:
        return self.stream.read(amount)


class SchemaDriftError(SalesforceError):
    """The org no longer has a field (or object) a query asks for: the job cannot run until the declaration or the
    org is fixed."""

    def __init__(self, message: str, *, field: str, sobject: str) -> None:
        super().__init__(message, status=400, code="INVALID_FIELD", retryable=False)
        self.field = field
        self.sobject = sobject


class BulkApi:
    """Query and ingest jobs as the client's user."""

    def __init__(self, client: SalesforceClient) -> None:
        self.client = client

    # Query jobs.

    def create_query(self, soql: str, *, include_deleted: bool = True) -> BulkJob:
        """Start a query job (`queryAll` with deleted records); SchemaDriftError names a field the org does not have."""
        body = {
            "operation": "queryAll" if include_deleted else "query",
            "query": soql,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        }
        try:
            return self._job("POST", "jobs/query", body)
        except SalesforceError as refused:
            drift = _NO_SUCH_COLUMN.search(str(refused))
            if drift:
                raise SchemaDriftError(
                    f"the org has no field {drift.group(1)} on {drift.group(2)} (Salesforce: {refused})",
                    field=drift.group(1),
                    sobject=drift.group(2),
                ) from None
            raise

    def query_job(self, job: BulkJob) -> BulkJob:
        return self._job("GET", f"jobs/query/{job.id}", None, job.api_version)

    def abort_query(self, job: BulkJob) -> BulkJob:
        return self._job("PATCH", f"jobs/query/{job.id}", {"state": "Aborted"}, job.api_version)

    @contextmanager
    def results(self, job: BulkJob, *, locator: str | None, max_records: int) -> Iterator[ResultPage]:
        """One set of results, read as it arrives (closed when the block ends)."""
        query = {"maxRecords": str(max_records)} | ({"locator": locator} if locator else {})
        stream = self.client.open(f"jobs/query/{job.id}/results?{urlencode(query)}", api_version=job.api_version)
        try:
            next_locator = stream.headers.get("sforce-locator") or "null"
            count = stream.headers.get("sforce-numberofrecords")
            yield ResultPage(
                stream, None if next_locator == "null" else next_locator, int(count) if count is not None else None
            )
        finally:
            stream.close()

    # Ingest jobs.

    def create_ingest(self, sobject: str, external_id_field: str) -> BulkJob:
        """Open an upsert job on an External ID field (or `Id`)."""
        body = {
            "object": sobject,
            "externalIdFieldName": external_id_field,
            "operation": "upsert",
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        }
        return self._job("POST", "jobs/ingest", body)

    def upload(self, job: BulkJob, csv: bytes | BinaryIO) -> None:
        """The job's CSV (at most MAX_UPLOAD_BYTES; a file is read from its start)."""
        self.client.send(
            "PUT", f"jobs/ingest/{job.id}/batches", body=csv, content_type="text/csv", api_version=job.api_version
        )

    def close(self, job: BulkJob) -> BulkJob:
        """Upload complete: Salesforce starts processing."""
        return self._job("PATCH", f"jobs/ingest/{job.id}", {"state": "UploadComplete"}, job.api_version)

    def abort_ingest(self, job: BulkJob) -> BulkJob:
        return self._job("PATCH", f"jobs/ingest/{job.id}", {"state": "Aborted"}, job.api_version)

    def ingest_job(self, job: BulkJob) -> BulkJob:
        return self._job("GET", f"jobs/ingest/{job.id}", None, job.api_version)

    @contextmanager
    def ingest_results(self, job: BulkJob, kind: ResultKind) -> Iterator[HttpStream]:
        """The job's successful, failed or unprocessed records as CSV, read as they arrive."""
        stream = self.client.open(f"jobs/ingest/{quote(job.id)}/{kind}/", api_version=job.api_version)
        try:
            yield stream
        finally:
            stream.close()

    def _job(self, method: str, path: str, body: dict[str, Any] | None, api_version: str | None = None) -> BulkJob:
        data = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        answer = self.client.send(method, path, body=data, api_version=api_version).json()
        return BulkJob.from_answer(answer, api_version or self.client.api_version)
