"""Claim checks for notifications too large for one SQS message: the payload in S3, a pointer in the queue.

The pointer is the Amazon SQS Extended Client's own format (`["software.amazon.payloadoffloading.PayloadS3Pointer",
{"s3BucketName": ..., "s3Key": ...}]` as the body, the payload's size in the `ExtendedPayloadSize` attribute), so
a consumer built on the Java or Python Extended Client reads our queue, and our worker reads theirs. The library
itself is not used: it patches boto3's SQS client classes process-wide, and its receive side (ReceiveMessage) is
not how Lambda hands SQS records to a function; the format is a few lines here.

Keys are deterministic (`notifications/<org>/<notification id>`): Salesforce's retries of a message write the
same object, and a redelivered or redriven queue message finds its payload until the bucket's lifecycle rule
(longer than the dead-letter queue's retention) removes it.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from sf_edge.aws import AdapterError

POINTER_CLASS = "software.amazon.payloadoffloading.PayloadS3Pointer"
LEGACY_POINTER_CLASS = "com.amazon.sqs.javamessaging.MessageS3Pointer"
SIZE_ATTRIBUTE = "ExtendedPayloadSize"
LEGACY_SIZE_ATTRIBUTE = "SQSLargePayloadSize"
# SQS's classic limit for a message, body and attributes together (moto and older regions enforce it).
MAX_MESSAGE_BYTES = 256 * 1024


class PayloadError(AdapterError):
    """A pointer that is not ours to follow, or a payload that is gone."""


def large_payloads_in(bucket: str) -> LargePayloads | None:
    """The stack's claim checks in `bucket` (LARGE_PAYLOAD_BUCKET, set by template.yaml); None without one."""
    return LargePayloads(bucket) if bucket else None


class ObjectStore(Protocol):
    """The two S3 calls claim checks make (boto3's S3 client; tests hand it stores that are slow or fail)."""

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> Any: ...  # noqa: N803

    def get_object(self, *, Bucket: str, Key: str) -> Any: ...  # noqa: N803


class LargePayloads:
    """Puts payloads in the bucket and follows pointers to it (only to it)."""

    def __init__(self, bucket: str, client: ObjectStore | None = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> ObjectStore:
        if self._client is None:
            from sf_edge.aws.clients import s3_client

            self._client = s3_client()
        return self._client

    def put(self, key: str, body: str) -> None:
        """Store the payload under `key` (encrypted at rest by the bucket)."""
        self.client.put_object(
            Bucket=self.bucket, Key=key, Body=body.encode("utf-8"), ContentType="application/json; charset=utf-8"
        )

    def pointer(self, key: str) -> str:
        """The queue message body that points at `key` (it does not depend on the payload being there yet)."""
        return json.dumps([POINTER_CLASS, {"s3BucketName": self.bucket, "s3Key": key}])

    def resolve(self, body: str, attributes: dict[str, Any] | None = None) -> str:
        """The payload a pointer body refers to; any other body unchanged."""
        key = pointer_key(body, attributes)
        if key is None:
            return body
        bucket, object_key = key
        if bucket != self.bucket:
            raise PayloadError(f"a claim check points at bucket {bucket!r}, not this stack's {self.bucket!r}")
        try:
            response = self.client.get_object(Bucket=bucket, Key=object_key)
        except Exception as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise PayloadError(f"the payload s3://{bucket}/{object_key} is gone (past its lifecycle?)") from exc
            raise
        payload: str = response["Body"].read().decode("utf-8")
        return payload


def pointer_key(body: str, attributes: dict[str, Any] | None = None) -> tuple[str, str] | None:
    """(bucket, key) when the body is a claim-check pointer, else None. A body is read as a pointer only when it
    has the pointer's exact shape (a notification's JSON is an object, never a list)."""
    marked = any(name in (attributes or {}) for name in (SIZE_ATTRIBUTE, LEGACY_SIZE_ATTRIBUTE))
    if not (marked or body.startswith('["')):
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if (
        isinstance(parsed, list)
        and len(parsed) == 2
        and parsed[0] in (POINTER_CLASS, LEGACY_POINTER_CLASS)
        and isinstance(parsed[1], dict)
        and isinstance(parsed[1].get("s3BucketName"), str)
        and isinstance(parsed[1].get("s3Key"), str)
    ):
        return parsed[1]["s3BucketName"], parsed[1]["s3Key"]
    return None


def message_bytes(entry: dict[str, Any]) -> int:
    """An SQS entry's size as SQS counts it: the body plus each attribute's name, type and value."""
    size = len(entry["MessageBody"].encode("utf-8"))
    for name, value in entry.get("MessageAttributes", {}).items():
        size += len(name.encode()) + len(value.get("DataType", "").encode())
        size += len(str(value.get("StringValue", "")).encode()) + len(value.get("BinaryValue", b""))
    return size
