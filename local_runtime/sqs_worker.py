"""The SQS event source mapping, locally: poll, invoke with a batch, delete what succeeded.

As Lambda does with `ReportBatchItemFailures`: records listed in `batchItemFailures` stay in the queue (made
visible again after `retry_delay` seconds instead of the queue's long visibility timeout, so retries show up
quickly on a laptop); a handler that raises fails the whole batch. The queue's redrive policy, enforced by
moto on receive, moves a record to the dead-letter queue after `maxReceiveCount` receives.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local_runtime.background_poller import BackgroundPoller
from local_runtime.lambda_host import LocalFunction

log = logging.getLogger("local_runtime.worker")


@dataclass
class PollResult:
    """What one poll did."""

    received: int = 0
    succeeded: int = 0
    failed: int = 0


class SqsEventSource:
    """Feeds one queue to one function."""

    def __init__(
        self, function: LocalFunction, queue_url: str, queue_arn: str, *, batch_size: int = 10, retry_delay: int = 2
    ) -> None:
        from sf_edge.aws.clients import sqs_client

        self.function = function
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.batch_size = batch_size
        self.retry_delay = retry_delay
        self.sqs = sqs_client()
        self._poller = BackgroundPoller(f"sqs-{function.spec.logical_id}", lambda: self.poll_once(wait_seconds=1))

    def poll_once(self, wait_seconds: int = 0) -> PollResult:
        """Receive one batch (up to the mapping's BatchSize, 10 messages a receive, as Lambda gathers them) and hand
        it to the function."""
        messages: list[Any] = []
        while len(messages) < self.batch_size:
            got = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.batch_size - len(messages)),
                WaitTimeSeconds=0 if messages else wait_seconds,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                break
            messages.extend(got)
        if not messages:
            return PollResult()
        try:
            result = self.function.invoke({"Records": [self._record(m) for m in messages]})
            failed_ids = {f["itemIdentifier"] for f in result.get("batchItemFailures") or []}
        except Exception:
            log.exception("%s raised: the whole batch will be retried", self.function.spec.logical_id)
            failed_ids = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start : start + 10])
                ],
            )
        for message in messages:
            if message["MessageId"] in failed_ids:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=self.retry_delay
                )
        return PollResult(len(messages), len(done), len(messages) - len(done))

    def start(self) -> None:
        """Poll in a background thread until stop(); each round long-polls for a second."""
        self._poller.start()

    def stop(self) -> None:
        """Stop polling (after the current long poll returns)."""
        self._poller.stop()

    def request_stop(self) -> None:
        self._poller.request_stop()

    def join(self) -> None:
        self._poller.join()

    def _record(self, message: Mapping[str, Any]) -> dict[str, Any]:
        attributes = {
            k: {
                "stringValue": v.get("StringValue"),
                "dataType": v["DataType"],
                "stringListValues": [],
                "binaryListValues": [],
            }
            for k, v in (message.get("MessageAttributes") or {}).items()
        }
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": attributes,
            "md5OfBody": message.get("MD5OfBody")
            or hashlib.md5(message["Body"].encode(), usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": "us-east-1",
        }
