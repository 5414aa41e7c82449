"""The bulk write-back: parked write-backs sent as Bulk API 2.0 ingest jobs, each row's outcome joined back to the
ledger by its key column (the record id, or the External ID), never by position: Salesforce returns a job's
successful, failed and unprocessed records in no guaranteed order.

The steps of the bulk write-back workflow (statemachine/bulk_write_back.asl.json), one group (`<sObject>/<key
field>`) per execution:
- `begin`: take the group's parked write-backs into the state's batch (each conditional on the ledger: a newer
  write-back for the record since wins; the ledger lists a batch's write-backs, so a `begin` run again after an
  interruption takes up what it had taken), write them as one CSV of at most `max_upload_bytes` (100 MB of raw
  CSV: Salesforce's 150 MB limit is after its base64 encoding; more waits for the next job), create an upsert
  job on the key field, upload it, close it;
- `poll`: wait for the job with back-off;
- `join`: read the job's `successfulResults` (sent), `failedResults` (a retryable error such as
  `UNABLE_TO_LOCK_ROW` or a limit goes back to the parked ones for a later job, up to `max_attempts` jobs; any other
  is dead-lettered with Salesforce's reason) and `unprocessedrecords` (a job that failed or was aborted: back to
  the parked ones), then every write-back of the batch no result named goes back too: none is ever unaccounted
  for. With parked write-backs left, the next job begins (its batch named in the state).
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from sf_edge.domain_errors import RetryLater
from sf_edge.salesforce import bulk_csv
from sf_edge.salesforce.bulk_api import MAX_UPLOAD_BYTES, BulkApi, BulkJob
from sf_edge.salesforce.rest_client import RETRYABLE_CODES, SalesforceError
from sf_edge.write_back import WriteBackError
from sf_edge.write_back.messages import REJECTED, SENT, ParkedWriteBack, WriteBack

logger = Logger(child=True)

FIRST_WAIT_SECONDS = 5
MAX_WAIT_SECONDS = 60
RETRY_PAUSE_SECONDS = 60  # before a job of only rows returned by the last one (locks clear, limits refill)
# Besides Salesforce's retryable codes: row errors that a later job clears.
RETRYABLE_ROW_CODES = RETRYABLE_CODES | {"API_CURRENTLY_DISABLED", "TXN_SECURITY_METERING_ERROR", "UNKNOWN_EXCEPTION"}


class BulkWriteBackFailed(WriteBackError):  # noqa: N818 - the workflow's error name
    """The bulk write-back cannot go on (no Salesforce, a job refused as a whole for good)."""


class ParkedLedger(Protocol):
    """The write-back ledger's bulk side (aws.write_back_store.DynamoDbWriteBackLedger)."""

    def parked(self, group: str) -> Iterator[ParkedWriteBack]: ...

    def in_batch(self, group: str, batch: str) -> Iterator[ParkedWriteBack]: ...

    def take(self, parked: ParkedWriteBack, group: str, batch: str) -> bool: ...

    def settle_bulk(self, key: str, batch: str, status: str, detail: str) -> bool: ...

    def repark(self, key: str, batch: str, group: str, why: str) -> bool: ...


class DeadLetters(Protocol):
    def send(self, write_back: WriteBack, reason: str) -> None: ...


@dataclass
class BulkWriteBack:
    """The steps; each takes the workflow's state and returns the next."""

    bulk: Callable[[], BulkApi]
    ledger: ParkedLedger
    dead_letters: DeadLetters
    fields_of: Callable[[str], Sequence[str]]  # every field the declared rules may set on an sObject
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_attempts: int = 5

    def begin(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """The next job of the group's parked write-backs, uploaded and closed; `done` when none are parked."""
        group = str(state["group"])
        sobject, key_field = group.split("/")
        batch = str(state.get("batch") or uuid.uuid4().hex)
        header = [key_field, *[f for f in self.fields_of(sobject) if f != key_field]]
        size, rows = len(bulk_csv.header_line(header).encode()), 0
        with tempfile.SpooledTemporaryFile(8 * 1024 * 1024) as spool:
            spool.write(bulk_csv.header_line(header).encode())

            def add(line: bytes) -> None:
                nonlocal size, rows
                spool.write(line)
                size, rows = size + len(line), rows + 1

            for parked in self.ledger.in_batch(group, batch):  # taken before an interruption: still ours
                add(bulk_csv.csv_line(header, {key_field: parked.record_id, **parked.fields}).encode())
            for parked in self.ledger.parked(group):
                line = bulk_csv.csv_line(header, {key_field: parked.record_id, **parked.fields}).encode()
                if size + len(line) > self.max_upload_bytes:
                    break  # the rest waits for the next job
                if not self.ledger.take(parked, group, batch):
                    continue  # a newer write-back claimed the record: it goes its own way
                if parked.attempts >= self.max_attempts:
                    why = f"still not saved after {parked.attempts} Bulk API jobs: {parked.detail}"
                    self._reject(
                        parked.key, batch, sobject, key_field, {key_field: parked.record_id, **parked.fields}, why
                    )
                    continue
                add(line)
            if rows == 0:
                return {**state, "reports": list(state.get("reports", [])), "state": "done"}
            spool.seek(0)
            job = self._salesforce(lambda: self.bulk().create_ingest(sobject, key_field))
            self._salesforce(lambda: self.bulk().upload(job, spool))  # type: ignore[arg-type]
            self._salesforce(lambda: self.bulk().close(job))
        logger.info("Bulk write-back job uploaded", group=group, job_id=job.id, rows=rows, bytes=size)
        return {
            **state,
            "state": "sending",
            "batch": batch,
            "jobId": job.id,
            "apiVersion": job.api_version,
            "rows": rows,
            "wait": FIRST_WAIT_SECONDS,
        }

    def poll(self, state: Mapping[str, Any]) -> dict[str, Any]:
        job = self._salesforce(lambda: self.bulk().ingest_job(_job(state)))
        if job.finished:
            return {**state, "state": "joining", "jobState": job.state, "jobError": job.error_message}
        return {**state, "wait": min(MAX_WAIT_SECONDS, int(state.get("wait") or FIRST_WAIT_SECONDS) * 2)}

    def join(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Every row of the job's manifest accounted for: sent, dead-lettered, or back to the parked ones."""
        group, batch = str(state["group"]), str(state["batch"])
        sobject, key_field = group.split("/")
        job = _job(state)
        seen: set[str] = set()
        counts = {"sent": 0, "rejected": 0, "retried": 0, "unprocessed": 0, "unanswered": 0}
        for row in self._results(job, "successfulResults"):
            key = f"{group}/{row.get(key_field)}"
            seen.add(key)
            if self.ledger.settle_bulk(key, batch, SENT, str(row.get("sf__Id") or "")):
                counts["sent"] += 1
        for row in self._results(job, "failedResults"):
            key = f"{group}/{row.get(key_field)}"
            seen.add(key)
            error = str(row.get("sf__Error") or "UNKNOWN_EXCEPTION:no reason given")
            code = error.split(":", 1)[0]
            if code in RETRYABLE_ROW_CODES:  # a later job, up to max_attempts of them (counted per record)
                counts["retried"] += self.ledger.repark(key, batch, group, error)
            else:
                counts["rejected"] += self._reject(key, batch, sobject, key_field, row, error)
        for row in self._results(job, "unprocessedrecords"):
            key = f"{group}/{row.get(key_field)}"
            seen.add(key)
            why = f"not processed: the job ended {state.get('jobState')} {state.get('jobError') or ''}".strip()
            counts["unprocessed"] += self.ledger.repark(key, batch, group, why)
        for left in list(self.ledger.in_batch(group, batch)):  # no result named it: back to the parked ones
            counts["unanswered"] += self.ledger.repark(left.key, batch, group, f"no result for it in job {job.id}")
        logger.info("Bulk write-back job joined", group=group, job_id=job.id, counts=counts)
        reports = [*state.get("reports", []), {"jobId": job.id, "state": state.get("jobState"), **counts}]
        only_returned = counts["sent"] + counts["rejected"] == 0  # a pause before the next job tries them again
        return {
            "group": group,
            "reports": reports,
            "state": "begin",
            "wait": RETRY_PAUSE_SECONDS if only_returned else 0,
        }

    def _reject(self, key: str, batch: str, sobject: str, key_field: str, row: Mapping[str, Any], error: str) -> int:
        # The row as uploaded: an empty cell left its field alone, #N/A set it to null.
        fields = {
            k: None if v == bulk_csv.NULL else v
            for k, v in row.items()
            if not k.startswith("sf__") and k != key_field and v is not None
        }
        write_back = WriteBack(
            sobject=sobject,
            record_id=str(row.get(key_field)),
            external_id_field=None if key_field == "Id" else key_field,
            fields=fields,
            origin=f"bulk write-back batch {batch}",
        )
        if not self.ledger.settle_bulk(key, batch, REJECTED, error):
            return 0  # a newer write-back claimed the record: this one no longer matters
        logger.error("Salesforce refused a bulk write-back; dead-lettered", key=key, reason=error)
        self.dead_letters.send(write_back, error)
        return 1

    def _results(self, job: BulkJob, kind: Any) -> Iterator[dict[str, Any]]:
        try:
            with self.bulk().ingest_results(job, kind) as stream:
                _, rows = bulk_csv.records(stream.read)
                for row in rows:
                    if isinstance(row, bulk_csv.BadRow):
                        logger.warning("An unreadable row in a job's results", job_id=job.id, kind=kind, why=row.why)
                        continue  # its write-back goes back to the parked ones with the manifest check
                    yield row
        except bulk_csv.CsvError as bad:
            raise RetryLater(f"the {kind} of job {job.id} are not CSV: {bad}") from None
        except SalesforceError as refused:
            raise (RetryLater if refused.retryable else BulkWriteBackFailed)(str(refused)) from None

    def _salesforce[T](self, call: Callable[[], T]) -> T:
        try:
            return call()
        except SalesforceError as refused:
            raise (RetryLater if refused.retryable else BulkWriteBackFailed)(str(refused)) from None


def _job(state: Mapping[str, Any]) -> BulkJob:
    return BulkJob(str(state["jobId"]), "", str(state["apiVersion"]), operation="upsert")
