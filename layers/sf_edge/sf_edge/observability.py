"""Powertools wiring shared by the handlers.

The Tracer's X-Ray provider costs about as much cold start as importing boto3 (the X-Ray SDK builds a
botocore session at import). Lambda's own active tracing records init and invocation segments without it, so
the Powertools subsegments are opt-in (`PowertoolsTracing` in template.yaml); when they are off, the Tracer
gets a no-op provider and the X-Ray SDK is never imported.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Generator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment


def build_tracer() -> Tracer:
    """The Powertools Tracer: X-Ray subsegments when enabled, a no-op otherwise."""
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true"):
        return Tracer(provider=_NoopProvider(), auto_patch=False)
    return Tracer()


class _NoopSegment(BaseSegment):
    def close(self, end_time: int | None = None) -> None:
        pass

    def add_subsegment(self, subsegment: Any) -> None:
        pass

    def remove_subsegment(self, subsegment: Any) -> None:
        pass

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        pass


class _NoopProvider(BaseProvider):
    @contextmanager
    def in_subsegment(self, name: Any = None, **kwargs: Any) -> Generator[BaseSegment]:
        yield _NoopSegment()

    @asynccontextmanager
    async def in_subsegment_async(self, name: Any = None, **kwargs: Any) -> AsyncGenerator[BaseSegment]:
        yield _NoopSegment()

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def patch(self, modules: Sequence[str]) -> None:
        pass

    def patch_all(self) -> None:
        pass
