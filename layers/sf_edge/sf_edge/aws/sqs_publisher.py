"""Enqueue notification messages with SendMessageBatch: batches of at most 10 entries and 256 KiB, sent
concurrently, all-or-error. A notification too large for one message goes by claim check (sf_edge.aws.large_payloads):
its payload is stored first, then its pointer is queued like any other message."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Protocol

from sf_edge.aws import AdapterError
from sf_edge.aws.large_payloads import MAX_MESSAGE_BYTES, SIZE_ATTRIBUTE, LargePayloads, message_bytes
from sf_edge.salesforce.outbound_messages import QueuedNotification

MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = MAX_MESSAGE_BYTES  # the classic SQS batch limit; moto and older regions still enforce it
_RETRIES_OF_FAILED_ENTRIES = 2
_POOL = ThreadPoolExecutor(max_workers=MAX_BATCH_ENTRIES, thread_name_prefix="sqs-send")
# Its own pool: a send job waits on its PutObject, so the two must never compete for the same workers.
_S3_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="s3-put")
# How long a claim-check pointer stays invisible: its payload is stored in parallel and takes well under this.
POINTER_DELAY_SECONDS = 2


class EnqueueError(AdapterError):
    """Some notifications could not be enqueued; the caller must not acknowledge the message."""


class BatchSender(Protocol):
    """The one SQS call the publisher makes (boto3's SQS client; tests hand it clients that fail on purpose)."""

    def send_message_batch(self, *, QueueUrl: str, Entries: Any) -> Any: ...  # noqa: N803 - boto3's names


class SqsNotificationPublisher:
    """Sends one SQS message per notification; on a FIFO queue, grouped by record and deduplicated by id."""

    def __init__(
        self, queue_url: str, client: BatchSender | None = None, *, large_payloads: LargePayloads | None = None
    ) -> None:
        self.queue_url = queue_url
        self.fifo = queue_url.endswith(".fifo")
        self._client = client
        self.large_payloads = large_payloads

    @property
    def client(self) -> BatchSender:
        if self._client is None:
            from sf_edge.aws.clients import sqs_client

            self._client = sqs_client()
        return self._client

    def publish(self, messages: Sequence[QueuedNotification]) -> None:
        """Enqueue every message or raise EnqueueError. Batches go out concurrently; a notification over the
        message limit is stored in S3 and its pointer sent, alongside the batches on a standard queue (so the Ack
        waits for about one more round trip, not one per payload) and before them on a FIFO queue (order)."""
        entries = [self._entry(i, m) for i, m in enumerate(messages)]
        large = {i for i, entry in enumerate(entries) if message_bytes(entry) > MAX_MESSAGE_BYTES}
        if large and self.large_payloads is None:
            first = min(large)
            raise EnqueueError(
                f"notification {first} is {message_bytes(entries[first])} bytes, over the SQS message limit, "
                "and no LARGE_PAYLOAD_BUCKET is configured for claim checks"
            )
        checks = {i: self._claim_check(entries[i], messages[i]) for i in sorted(large)}
        jobs: list[Callable[[], None]]
        if self.fifo:
            payloads = self.large_payloads
            if payloads is not None:  # there is something to store only where there is a bucket (checked above)
                self._run(
                    [partial(payloads.put, key, entries[i]["MessageBody"]) for i, (key, _) in checks.items()],
                    "large payloads",
                )
            in_place = [checks[i][1] if i in checks else entry for i, entry in enumerate(entries)]
            jobs = [partial(self._send, batch) for batch in self._batches(in_place)]
        else:
            small = [entry for i, entry in enumerate(entries) if i not in large]
            jobs = [partial(self._send, batch) for batch in self._batches(small)]
            jobs += [partial(self._store_and_send, entries[i]["MessageBody"], *checks[i]) for i in checks]
        self._run(jobs, "batches")

    @staticmethod
    def _run(jobs: Sequence[Callable[[], None]], what: str) -> None:
        """Run every job, the first on this thread while the pool runs the others (one handoff less); raise
        EnqueueError when any failed."""
        if not jobs:
            return
        futures = [_POOL.submit(job) for job in jobs[1:]]
        errors: list[BaseException] = []
        try:
            jobs[0]()
        except Exception as exc:  # any failure means some notification is not queued: no Ack
            errors.append(exc)
        errors += [e for e in (f.exception() for f in futures) if e is not None]
        if errors:
            raise EnqueueError(f"{len(errors)} of {len(jobs)} {what} failed: {errors[0]}") from errors[0]

    def _claim_check(self, entry: dict[str, Any], message: QueuedNotification) -> tuple[str, dict[str, Any]]:
        """Where the entry's payload goes (the notification's own key) and the entry that points at it."""
        assert self.large_payloads is not None
        key = f"notifications/{message.idempotency_key}"
        size = len(entry["MessageBody"].encode("utf-8"))
        pointer = {
            **entry,
            "MessageBody": self.large_payloads.pointer(key),
            "MessageAttributes": {
                **entry["MessageAttributes"],
                SIZE_ATTRIBUTE: {"DataType": "Number", "StringValue": str(size)},
            },
        }
        return key, pointer

    def _store_and_send(self, body: str, key: str, pointer: dict[str, Any]) -> None:
        """Store the payload and send its pointer at the same time (standard queues): the pointer is delayed by
        POINTER_DELAY_SECONDS, long past the PutObject, and the Ack waits for both. Should the PutObject fail,
        the message is a Fault; the pointer already sent resolves once Salesforce's retry stores the payload under
        the same key (until then the worker retries it, and dead-letters it with the reason)."""
        assert self.large_payloads is not None
        stored = _S3_POOL.submit(self.large_payloads.put, key, body)
        try:
            self._send([{**pointer, "DelaySeconds": POINTER_DELAY_SECONDS}])
        finally:
            stored.result()  # raises when the payload was not stored: no Ack

    def _entry(self, index: int, message: QueuedNotification) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "Id": str(index),
            "MessageBody": message.body,
            "MessageAttributes": {
                "listener": {"DataType": "String", "StringValue": message.listener},
                "sObjectType": {"DataType": "String", "StringValue": message.sobject_type},
            },
        }
        if self.fifo:
            entry["MessageGroupId"] = message.record_id
            entry["MessageDeduplicationId"] = message.idempotency_key.replace("/", "-")
        return entry

    @staticmethod
    def _batches(entries: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        batches: list[list[dict[str, Any]]] = []
        size = 0  # pragma: no mutate - unread: the first entry opens a batch, which sets it
        for entry in entries:
            entry_size = message_bytes(entry)
            if entry_size > MAX_BATCH_BYTES:
                raise EnqueueError(f"notification {entry['Id']} is {entry_size} bytes, over the SQS message limit")
            if not batches or len(batches[-1]) == MAX_BATCH_ENTRIES or size + entry_size > MAX_BATCH_BYTES:
                batches.append([])
                size = 0
            batches[-1].append(entry)
            size += entry_size
        return batches

    def _send(self, entries: list[dict[str, Any]]) -> None:
        pending = entries
        for _attempt in range(1 + _RETRIES_OF_FAILED_ENTRIES):
            try:
                response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=pending)
            except Exception as exc:  # botocore raises many types; any of them means "not enqueued"
                raise EnqueueError(f"SendMessageBatch failed: {exc}") from exc
            failed = {f["Id"]: f for f in response.get("Failed", [])}
            if not failed:
                return
            if any(f.get("SenderFault") for f in failed.values()):
                first = next(iter(failed.values()))
                raise EnqueueError(f"SQS refused entry {first['Id']}: {first.get('Code')} {first.get('Message')}")
            pending = [e for e in pending if e["Id"] in failed]
        raise EnqueueError(f"{len(pending)} entries still failing after retries")
