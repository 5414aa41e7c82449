"""When the write-back function hands its backlog to the bulk write-back workflow: the queue's depth, read at
most every 15 seconds a container (one GetQueueAttributes call, not one per batch), and the workflow started
once a minute per group (the execution's name makes a second start in the same minute a no-op)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

BACKLOG_TTL_SECONDS = 15


class BulkWriteBackStarter:
    """BulkHandOff over SQS and Step Functions."""

    def __init__(
        self,
        queue_url: str,
        state_machine_arn: str,
        threshold: int,
        *,
        sqs: SQSClient | None = None,
        sfn: SFNClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queue_url = queue_url
        self.state_machine_arn = state_machine_arn
        self.threshold = threshold
        self._sqs, self._sfn, self._clock = sqs, sfn, clock
        self._depth: tuple[float, int] | None = None

    def backlog(self) -> int:
        now = self._clock()
        if self._depth is None or now - self._depth[0] > BACKLOG_TTL_SECONDS:
            if self._sqs is None:
                from sf_edge.aws.clients import sqs_client

                self._sqs = sqs_client()
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            self._depth = (now, int(attributes.get("ApproximateNumberOfMessages", 0)))
        return self._depth[1]

    def start(self, group: str) -> None:
        if self._sfn is None:
            from sf_edge.aws.clients import stepfunctions_client

            self._sfn = stepfunctions_client()
        minute = datetime.now(UTC).strftime("%Y%m%dT%H%M")
        name = f"{group.replace('/', '-')}-{minute}"[:80]
        from botocore.exceptions import ClientError

        try:
            self._sfn.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps({"group": group})
            )
        except ClientError as refused:
            if refused.response["Error"]["Code"] != "ExecutionAlreadyExists":  # started this minute already
                raise
