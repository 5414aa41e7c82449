"""Enqueue notification messages with SendMessageBatch: chunks of 10, sent concurrently, all-or-error."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from sf_edge.salesforce.outbound_messages import QueuedNotification

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 256 * 1024  # the classic SQS batch limit; moto and older regions still enforce it
_RETRIES_OF_FAILED_ENTRIES = 2
_POOL = ThreadPoolExecutor(max_workers=MAX_BATCH_ENTRIES, thread_name_prefix="sqs-send")


class EnqueueError(Exception):
    """Some notifications could not be enqueued; the caller must not acknowledge the message."""


class SqsNotificationPublisher:
    """Sends one SQS message per notification; on a FIFO queue, grouped by record and deduplicated by id."""

    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        self.queue_url = queue_url
        self.fifo = queue_url.endswith(".fifo")
        self._client = client

    @property
    def client(self) -> SQSClient:
        if self._client is None:
            from sf_edge.aws.clients import sqs_client

            self._client = sqs_client()
        return self._client

    def publish(self, messages: Sequence[QueuedNotification]) -> None:
        """Enqueue every message or raise EnqueueError; batches go out concurrently."""
        batches = self._batches([self._entry(i, m) for i, m in enumerate(messages)])
        if not batches:
            return
        # The first batch goes out on this thread while the pool sends the others: same latency, one handoff less.
        futures = [_POOL.submit(self._send, batch) for batch in batches[1:]]
        errors: list[BaseException] = []
        try:
            self._send(batches[0])
        except EnqueueError as exc:
            errors.append(exc)
        errors += [e for e in (f.exception() for f in futures) if e is not None]
        if errors:
            raise EnqueueError(f"{len(errors)} of {len(batches)} batches failed: {errors[0]}") from errors[0]

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
        size = 0
        for entry in entries:
            entry_size = len(entry["MessageBody"].encode()) + 200  # body plus attributes, generously
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
                response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=pending)  # type: ignore[arg-type]
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
