"""Pages of bulk results between being read and being applied: objects under `sync/<object>/<job id>/` in the
stack's payload bucket (private, encrypted, TLS only; its lifecycle rule removes what a sync left behind). A page
goes up from a file and comes down as a stream, so neither side holds a page in memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3PageStore:
    """PageStore over S3."""

    def __init__(self, bucket: str, client: S3Client | None = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> S3Client:
        if self._client is None:
            from sf_edge.aws.clients import s3_client

            self._client = s3_client()
        return self._client

    def put(self, key: str, data: BinaryIO) -> None:
        """Upload from a file (in parts when it is large), CSV typed."""
        self.client.upload_fileobj(data, self.bucket, key, ExtraArgs={"ContentType": "text/csv; charset=utf-8"})

    @contextmanager
    def open(self, key: str) -> Iterator[Callable[[int], bytes]]:
        """The page's bytes, read as they arrive."""
        body: Any = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            yield body.read
        finally:
            body.close()

    def delete(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": k} for k in keys[start : start + 1000]]
            if chunk:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True})  # type: ignore[typeddict-item]
