"""One bulk sync, step by step: what each Lambda task of the sync workflow does (statemachine/bulk_sync.asl.json).

For each declared object, in order: `begin` opens a run (a Bulk API 2.0 query job over the object's window, kept in
the sync ledger) or resumes the one an interrupted sync left; `poll` waits for the job with back-off; `read_page`
reads one set of results (following `Sforce-Locator`) into the page store, checking it is whole, and records it;
`apply_page` (one per page, in parallel: a Distributed Map over the stored pages) streams a page into the batch
handlers, 200 rows at a time, and records what it did; `finish` checks every page was applied, moves the
watermark to the window's upper bound, clears the reconciliation marks the window read, reports, and opens the
next object's run.

Each step can run again after an interruption (a Lambda timeout, throttling, a 503) and changes nothing twice:
pages are keyed by job and number, a page applied again finds its rows already applied (the merges keep the
newest stamp, the Orders their claims), and the watermark moves only in `finish`. A job that ends `Failed` or
`Aborted`, or whose results are gone (an expired locator), is replaced by a new job over the same window, up to
`max_attempts`; after that the run is abandoned, the watermark kept, and the sync fails. A field the org no
longer has fails the sync at once, naming it (`SyncFailed`), with the watermark kept.

Errors a later attempt can clear are raised as `RetryLater` (the workflow retries the step with back-off);
everything else as `SyncFailed` (the execution fails: the alarm on failed syncs).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, Protocol

from aws_lambda_powertools import Logger

from sf_edge.domain_errors import RetryLater
from sf_edge.notifications.routing import INVALID, HandlerRegistry, HandlerResult, ReconcileMark, Services
from sf_edge.salesforce import bulk_csv
from sf_edge.salesforce.bulk_api import BulkApi, BulkJob, SchemaDriftError
from sf_edge.salesforce.ids import is_salesforce_id, to_18
from sf_edge.salesforce.notification_message import BULK_SYNC_LISTENER, BulkSyncOrigin, NotificationMessage
from sf_edge.salesforce.rest_client import SalesforceError
from sf_edge.sync import SyncError
from sf_edge.sync.declarations import BY_NAME, MAX_RECONCILE_IDS, SYNC_OBJECTS, SyncObject, Window, soql, soql_time
from sf_edge.write_back.messages import WriteBack
from sf_edge.write_back.rules import WriteBackRules

logger = Logger(child=True)

FIRST_WAIT_SECONDS = 5
MAX_WAIT_SECONDS = 60
SPOOL_BYTES = 8 * 1024 * 1024  # a page beyond this spills to /tmp while it is checked and stored
# What a row's result counts as in the report.
APPLIED_ACTIONS = frozenset({"customer_upserted", "order_created", "order_marked_deleted"})
FAILED_ACTIONS = frozenset({INVALID, "archived"})


class SyncFailed(SyncError):  # noqa: N818 - the workflow's error name: the execution fails
    """The sync cannot go on (a field the org no longer has, a job that failed every attempt, no Salesforce)."""


# The ports.


@dataclass
class Run:
    """An object's sync in progress, as the sync ledger keeps it between steps."""

    sobject: str
    job_id: str
    api_version: str
    low: str | None
    high: str
    ids: list[str] = field(default_factory=list)
    full: bool = False
    marks: list[dict[str, str]] = field(default_factory=list)  # the reconciliation marks the window reads
    attempts: int = 1
    state: str = "polling"  # polling | reading | applying
    pages_read: int = 0
    next_locator: str | None = None
    started_at: str = ""

    @property
    def window(self) -> Window:
        return Window(self.low, self.high, tuple(self.ids), self.full)

    @property
    def job(self) -> BulkJob:
        return BulkJob(self.job_id, "", self.api_version)


@dataclass
class Page:
    """One stored set of a job's results and, once applied, what applying it did."""

    sobject: str
    job_id: str
    number: int
    key: str
    rows: int
    applied: bool = False
    counts: dict[str, int] = field(default_factory=dict)


class SyncLedger(Protocol):
    """Watermarks, runs and pages (aws.sync_ledger.DynamoDbSyncLedger)."""

    def watermark(self, sobject: str) -> str | None: ...

    def run(self, sobject: str) -> Run | None: ...

    def open(self, run: Run) -> Run:
        """Keep a new run unless one is there already (another execution's); return whichever is kept."""
        ...

    def save(self, run: Run) -> None: ...

    def add_page(self, page: Page) -> None: ...

    def pages(self, sobject: str, job_id: str) -> list[Page]: ...

    def applied(self, page: Page) -> None: ...

    def close(self, run: Run, report: Mapping[str, Any]) -> str:
        """Move the watermark to the run's upper bound (never back), keep the report, forget the run; return the
        watermark now stored."""
        ...

    def abandon(self, run: Run, why: str) -> None: ...


class PageStore(Protocol):
    """Where pages wait between being read and being applied (aws.sync_pages.S3PageStore)."""

    bucket: str

    def put(self, key: str, data: BinaryIO) -> None: ...

    def open(self, key: str) -> AbstractContextManager[Callable[[int], bytes]]: ...

    def delete(self, keys: Sequence[str]) -> None: ...


class Marks(Protocol):
    """Records marked for reconciliation, and rows the sync could not apply (aws.notification_archive)."""

    def marks(self, entity: str, limit: int) -> list[ReconcileMark]: ...

    def outstanding(self, entity: str) -> int: ...

    def clear(self, marks: Sequence[ReconcileMark]) -> int: ...

    def record_sync_failure(self, *, sobject: str, identity: str, why: str, text: str) -> None: ...


class WriteBackQueue(Protocol):
    def enqueue_many(self, write_backs: Sequence[WriteBack]) -> None: ...


@dataclass(frozen=True)
class SyncLimits:
    """How the sync reads and retries (settings of the function)."""

    page_size: int = 10_000  # maxRecords of a results call
    settle_seconds: int = 120
    max_attempts: int = 3  # query jobs over one window before the run is abandoned
    apply_batch: int = 200  # rows handed to the batch handlers at a time


@dataclass
class BulkSync:
    """The steps; each takes the workflow's state (a dict) and returns the next one."""

    bulk: Callable[[], BulkApi]  # signs in on first use: a step that needs no Salesforce never does
    ledger: SyncLedger
    pages: PageStore
    marks: Marks
    services: Services
    registry: HandlerRegistry
    write_back_rules: WriteBackRules | None = None
    write_back_queue: WriteBackQueue | None = None
    limits: SyncLimits = SyncLimits()
    objects: Mapping[str, SyncObject] = field(default_factory=lambda: BY_NAME)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    organization_id: Callable[[], str] = lambda: ""

    # Steps.

    def begin(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Start a sync of the objects asked for (all declared ones, in order, when none are named)."""
        names = list(state.get("objects") or [o.sobject for o in SYNC_OBJECTS if o.sobject in self.objects])
        unknown = [n for n in names if n not in self.objects]
        if unknown:
            raise SyncFailed(f"no declared sync object {', '.join(unknown)} (declared: {', '.join(self.objects)})")
        return self._open({"objects": names, "index": 0, "reports": [], "bucket": self.pages.bucket})

    def poll(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """The job's state: complete (read its pages), still running (wait longer), or failed (a new job)."""
        run = self._run(state)
        job = self._salesforce(lambda: self.bulk().query_job(run.job))
        if job.state == "JobComplete":
            run.state = "reading"
            self.ledger.save(run)
            return self._state(state, run)
        if job.state in ("Failed", "Aborted"):
            return self._start_over(state, run, f"the query job {job.id} ended {job.state}: {job.error_message}")
        wait = min(MAX_WAIT_SECONDS, int(state.get("wait") or FIRST_WAIT_SECONDS) * 2)
        return self._state(state, run) | {"wait": wait}

    def read_page(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Read the next set of results into the page store, whole or not at all."""
        run = self._run(state)
        sync_object = self.objects[run.sobject]
        number = run.pages_read + 1
        key = f"{page_prefix(run.sobject, run.job_id)}{number:06d}.csv"
        try:
            with (
                self.bulk().results(run.job, locator=run.next_locator, max_records=self.limits.page_size) as page,
                tempfile.SpooledTemporaryFile(SPOOL_BYTES) as spool,
            ):
                while piece := page.read(bulk_csv.CHUNK_BYTES):
                    spool.write(piece)
                spool.seek(0)
                rows = _count_rows(spool.read, sync_object, page.records)
                spool.seek(0)
                self.pages.put(key, spool)  # type: ignore[arg-type]
                following = page.next_locator
        except OSError as cut:
            raise RetryLater(f"the set of results {number} of job {run.job_id} was cut off: {cut}") from None
        except SalesforceError as refused:
            if refused.retryable:
                raise RetryLater(str(refused)) from None
            if refused.status in (400, 404):  # the job or its locator is gone (jobs are deleted after 7 days)
                return self._start_over(state, run, f"the results of job {run.job_id} are gone: {refused}")
            raise SyncFailed(f"reading the results of job {run.job_id}: {refused}") from None
        self.ledger.add_page(Page(run.sobject, run.job_id, number, key, rows))
        run.pages_read, run.next_locator = number, following
        if following is None:
            run.state = "applying"
        self.ledger.save(run)
        logger.info("Bulk results read", sobject=run.sobject, job_id=run.job_id, page=number, rows=rows)
        return self._state(state, run)

    def apply_page(self, sobject: str, key: str) -> dict[str, int]:
        """Apply one stored page, 200 rows at a time; what it did, as counts (also kept with the page)."""
        number, job_id = _page_of(key)
        counts = {"rows": 0, "applied": 0, "unchanged": 0, "deleted": 0, "failed": 0}
        received = self.clock()
        with self.pages.open(key) as read:
            _, rows = bulk_csv.records(read)
            for batch in _batches(rows, self.limits.apply_batch):
                self._apply(sobject, job_id, batch, received, counts)
        self.ledger.applied(Page(sobject, job_id, number, key, counts["rows"], True, counts))
        logger.info("Bulk page applied", sobject=sobject, job_id=job_id, page=number, counts=counts)
        return counts

    def finish(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """Every page applied: move the watermark, clear the marks read, report, and go on to the next object."""
        run = self._run(state)
        pages = self.ledger.pages(run.sobject, run.job_id)
        missing = sorted(set(range(1, run.pages_read + 1)) - {p.number for p in pages if p.applied})
        if missing:
            raise RetryLater(f"pages {missing[:10]} of job {run.job_id} are not applied yet")
        totals = {
            k: sum(p.counts.get(k, 0) for p in pages) for k in ("rows", "applied", "unchanged", "deleted", "failed")
        }
        marks = [ReconcileMark(m["key"], m["record_id"], m["marked_at"]) for m in run.marks]
        cleared = self.marks.clear(marks) if marks else 0
        started = datetime.fromisoformat(run.started_at) if run.started_at else self.clock()
        report: dict[str, Any] = {
            "object": run.sobject,
            **totals,
            "pages": run.pages_read,
            "jobId": run.job_id,
            "window": {"after": run.low, "upTo": run.high, "full": run.full, "ids": len(run.ids)},
            "reconciled": cleared,
            "seconds": round((self.clock() - started).total_seconds(), 1),
        }
        report["watermark"] = self.ledger.close(run, report)
        report["toReconcile"] = self.marks.outstanding(run.sobject)
        self.pages.delete([p.key for p in pages])
        logger.info("Bulk sync of an object done", **report)
        reports = [*state.get("reports", []), report]
        index = int(state.get("index", 0)) + 1
        next_state = {**state, "index": index, "reports": reports}
        if index >= len(state.get("objects", [])):
            return {k: v for k, v in next_state.items() if k not in ("object", "prefix", "wait")} | {"state": "done"}
        return self._open(next_state)

    # The steps' parts.

    def _open(self, state: Mapping[str, Any]) -> dict[str, Any]:
        state = {**state, "wait": FIRST_WAIT_SECONDS}  # the object's own back-off, not the last one's
        sobject = state["objects"][state["index"]]
        run = self.ledger.run(sobject)
        if run is not None:
            logger.info("Resuming an interrupted sync", sobject=sobject, job_id=run.job_id, state=run.state)
            return self._state(state, run)
        now = self.clock()
        window, marks = self._window(sobject, now)
        job = self._create_job(sobject, window)
        run = Run(
            sobject,
            job.id,
            job.api_version,
            window.low,
            window.high,
            list(window.ids),
            window.full,
            [asdict(m) for m in marks] if (window.ids or window.full) else [],
            started_at=now.isoformat(),
        )
        kept = self.ledger.open(run)
        if kept.job_id != job.id:  # another execution opened one first: follow it, drop ours
            self._salesforce(lambda: self.bulk().abort_query(job))
        logger.info("Bulk query job created", sobject=sobject, job_id=kept.job_id, low=window.low, high=window.high)
        return self._state(state, kept)

    def _window(self, sobject: str, now: datetime) -> tuple[Window, list[ReconcileMark]]:
        """This sync's window, and the reconciliation marks it reads (cleared once it is applied)."""
        high = soql_time(now - timedelta(seconds=self.limits.settle_seconds))
        marks = self.marks.marks(sobject, MAX_RECONCILE_IDS + 1)
        ids = tuple(sorted({to_18(m.record_id) for m in marks if is_salesforce_id(m.record_id)}))
        full = any(m.record_id == "*" for m in marks) or len(marks) > MAX_RECONCILE_IDS
        return Window(self.ledger.watermark(sobject), high, () if full else ids, full), marks

    def _create_job(self, sobject: str, window: Window) -> BulkJob:
        query = soql(self.objects[sobject], window)
        try:
            return self._salesforce(lambda: self.bulk().create_query(query))
        except SchemaDriftError as drift:
            raise SyncFailed(
                f"{drift}: remove {drift.field} from what the {sobject} handler reads, or give the integration "
                "user access to it; the watermark is kept"
            ) from None

    def _start_over(self, state: Mapping[str, Any], run: Run, why: str) -> dict[str, Any]:
        if run.attempts >= self.limits.max_attempts:
            self.ledger.abandon(run, why)
            raise SyncFailed(f"{why}; {run.attempts} query jobs tried over this window, the watermark is kept")
        logger.warning("Starting the window over with a new query job", sobject=run.sobject, why=why)
        job = self._create_job(run.sobject, run.window)
        again = replace(run, job_id=job.id, api_version=job.api_version, attempts=run.attempts + 1)
        again.state, again.pages_read, again.next_locator = "polling", 0, None
        self.ledger.save(again)
        return self._state(state, again) | {"wait": FIRST_WAIT_SECONDS}

    def _run(self, state: Mapping[str, Any]) -> Run:
        run = self.ledger.run(str(state.get("object")))
        if run is None or run.job_id != state.get("jobId"):
            raise SyncFailed(f"no run of {state.get('object')} with job {state.get('jobId')} (finished elsewhere?)")
        return run

    def _state(self, state: Mapping[str, Any], run: Run) -> dict[str, Any]:
        return {
            **state,
            "object": run.sobject,
            "jobId": run.job_id,
            "state": run.state,
            "wait": int(state.get("wait") or FIRST_WAIT_SECONDS) if run.state == "polling" else FIRST_WAIT_SECONDS,
            "prefix": page_prefix(run.sobject, run.job_id),
            "bucket": self.pages.bucket,
        }

    def _salesforce[T](self, call: Callable[[], T]) -> T:
        try:
            return call()
        except SchemaDriftError:
            raise
        except SalesforceError as refused:
            if refused.retryable:
                raise RetryLater(str(refused)) from None
            raise SyncFailed(str(refused)) from None

    def _apply(
        self,
        sobject: str,
        job_id: str,
        batch: list[bulk_csv.Record | bulk_csv.BadRow],
        received: datetime,
        counts: dict[str, int],
    ) -> None:
        messages: list[NotificationMessage] = []
        origin = BulkSyncOrigin(job_id=job_id)
        for row in batch:
            counts["rows"] += 1
            if isinstance(row, bulk_csv.BadRow):
                self.marks.record_sync_failure(
                    sobject=sobject, identity=f"{job_id}/line-{row.line}", why=row.why, text=row.text
                )
                counts["failed"] += 1
                continue
            messages.append(bulk_message(sobject, row, self.organization_id(), received, origin))
        results = self.registry.dispatch_batch(messages, self.services)
        write_backs: list[WriteBack] = []
        for message, result in zip(messages, results, strict=True):
            kind = _count_as(message, result)
            counts[kind] += 1
            if kind == "failed":
                self.marks.record_sync_failure(
                    sobject=sobject,
                    identity=message.record_id or message.notification_id,
                    why=str(result.get("reason") or result.get("action")),
                    text=message.to_json(),
                )
            if self.write_back_rules is not None:
                planned = self.write_back_rules.after_result(message, result)
                if planned is not None:
                    write_backs.append(planned)
        if write_backs and self.write_back_queue is not None:
            self.write_back_queue.enqueue_many(write_backs)


def page_prefix(sobject: str, job_id: str) -> str:
    """Where a job's pages are kept in the page store."""
    return f"sync/{sobject}/{job_id}/"


def _page_of(key: str) -> tuple[int, str]:
    parts = key.split("/")
    return int(parts[-1].removesuffix(".csv")), parts[-2]


def bulk_message(
    sobject: str,
    record: Mapping[str, str | None],
    organization_id: str,
    received: datetime,
    origin: BulkSyncOrigin | None = None,
) -> NotificationMessage:
    """A row of a query job's results as the handlers take a notification: its non-null fields, and its null ones
    named apart (an Outbound Message leaves them out too)."""
    record_id = record.get("Id") or ""
    stamp = record.get("SystemModstamp") or ""
    return NotificationMessage(
        listener=BULK_SYNC_LISTENER,
        organization_id=organization_id,
        notification_id=f"bulk/{sobject}/{record_id}/{stamp}",
        sobject_type=sobject,
        record_id=record_id,
        fields={k: v for k, v in record.items() if v is not None},
        null_fields=[k for k, v in record.items() if v is None],
        received_at=received,
        origin=origin or BulkSyncOrigin(),
    )


def _count_as(message: NotificationMessage, result: HandlerResult) -> str:
    action = str(result.get("action", ""))
    if action in FAILED_ACTIONS:
        return "failed"
    if action in APPLIED_ACTIONS:
        return "deleted" if str(message.fields.get("IsDeleted", "")).lower() == "true" else "applied"
    return "unchanged"


def _count_rows(read: Callable[[int], bytes], sync_object: SyncObject, expected: int | None) -> int:
    """The rows of a stored page (good and bad), its header checked against what was asked; RetryLater when the
    page holds fewer rows than Salesforce said it sent."""
    try:
        header, rows = bulk_csv.records(read)
        count = sum(1 for _ in rows)
    except bulk_csv.CsvError as bad:
        raise RetryLater(f"a set of results is not CSV: {bad}") from None
    if header != list(sync_object.fields):
        missing = [f for f in sync_object.fields if f not in header]
        raise SyncFailed(f"the results of {sync_object.sobject} lack {missing or header}: the org's schema drifted")
    if expected is not None and count != expected:
        raise RetryLater(f"a set of results ended early: {count} of the {expected} records Salesforce said it sent")
    return count


def _batches[T](rows: Iterator[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
