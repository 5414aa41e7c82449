"""The DynamoDB Streams event source mapping, locally: read each table's stream, invoke with a batch, move on.

As Lambda does with `ReportBatchItemFailures`: when the function reports a failed record (or raises), the shard
is read again from that record on the next poll, so records of one item are applied in order and none is
skipped; after `max_retries` failed attempts at one record it is logged and passed over (Lambda sends it to the
on-failure destination). Polling starts at the stream's end (`LATEST`) by default: `make run` indexes its seed
in bulk and the stream carries what is written after.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from local_runtime.background_poller import BackgroundPoller, drain_rounds
from local_runtime.lambda_host import LocalFunction

log = logging.getLogger("local_runtime.streams")


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None = None
    retry_from: str | None = None  # sequence number to read again from
    attempts: int = 0


@dataclass
class StreamEventSource:
    """Feeds one table's stream to one function."""

    function: LocalFunction
    stream_arn: str
    batch_size: int = 100
    starting_position: str = "LATEST"
    max_retries: int = 5
    _shards: dict[str, _Shard] = field(default_factory=dict)
    _poller: BackgroundPoller | None = None

    def __post_init__(self) -> None:
        import boto3

        from local_runtime.aws_local import LOCAL_CREDENTIALS

        self.streams = boto3.client("dynamodbstreams", region_name=LOCAL_CREDENTIALS["AWS_REGION"])
        self._discover(self.starting_position)

    def _discover(self, start: str) -> None:
        description = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            if shard["ShardId"] not in self._shards:
                iterator = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType=start
                )["ShardIterator"]
                self._shards[shard["ShardId"]] = _Shard(shard["ShardId"], iterator)

    def poll_once(self) -> int:
        """Read every shard once and hand what it holds to the function; return the records delivered."""
        self._discover("TRIM_HORIZON")  # shards created since started are read from their beginning
        delivered = 0
        for shard in self._shards.values():
            if shard.retry_from is not None:
                shard.iterator = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn,
                    ShardId=shard.shard_id,
                    ShardIteratorType="AT_SEQUENCE_NUMBER",
                    SequenceNumber=shard.retry_from,
                )["ShardIterator"]
                shard.retry_from = None
            if shard.iterator is None:
                continue
            response = self.streams.get_records(ShardIterator=shard.iterator, Limit=self.batch_size)
            records = response.get("Records", [])
            next_iterator = response.get("NextShardIterator")
            if not records:
                shard.iterator = next_iterator
                continue
            delivered += len(records)
            failed = self._invoke(records)
            if failed is None:
                shard.iterator, shard.attempts = next_iterator, 0
                continue
            shard.attempts += 1
            if shard.attempts > self.max_retries:
                log.error("stream record %s failed %d times: passed over", failed, shard.attempts)
                shard.attempts = 0
                later = [r for r in records if int(r["dynamodb"]["SequenceNumber"]) > int(failed)]
                shard.retry_from = later[0]["dynamodb"]["SequenceNumber"] if later else None
                shard.iterator = next_iterator if not later else shard.iterator
            else:
                shard.retry_from = failed
        return delivered

    def _invoke(self, records: list[dict[str, Any]]) -> str | None:
        """The sequence number to retry from, or None when the whole batch was applied."""
        event = {"Records": [self._record(r) for r in records]}
        try:
            result = self.function.invoke(event) or {}
        except Exception:
            log.exception("%s raised: the batch will be retried", self.function.spec.logical_id)
            return str(records[0]["dynamodb"]["SequenceNumber"])
        failures = [f["itemIdentifier"] for f in result.get("batchItemFailures") or []]
        return min(failures, key=int) if failures else None

    def _record(self, record: dict[str, Any]) -> dict[str, Any]:
        dynamodb = dict(record["dynamodb"])
        dynamodb.pop("ApproximateCreationDateTime", None)  # a datetime from boto3; Lambda sends epoch seconds
        return {
            "eventID": record.get("eventID"),
            "eventName": record["eventName"],
            "eventVersion": record.get("eventVersion", "1.1"),
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": dynamodb,
            "eventSourceARN": self.stream_arn,
        }

    def drain(self, rounds: int = 50) -> int:
        """Poll until a round delivers nothing (tests); return the records delivered."""
        return drain_rounds(self.poll_once, rounds)

    def start(self) -> None:
        """Poll in a background thread until stop()."""
        self._poller = BackgroundPoller(f"stream-{self.stream_arn[-24:]}", self.poll_once, idle_seconds=0.2)
        self._poller.start()

    def stop(self) -> None:
        """Stop polling (after the current round)."""
        if self._poller is not None:
            self._poller.stop()

    def request_stop(self) -> None:
        if self._poller is not None:
            self._poller.request_stop()

    def join(self) -> None:
        if self._poller is not None:
            self._poller.join()
