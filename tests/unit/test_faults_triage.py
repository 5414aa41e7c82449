"""One triage of an error an HTTP function did not expect, for the callout API and the OData feed alike."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from sf_edge.aws.faults import Triage, triage


def _aws(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetItem")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_aws("ValidationException"), Triage("refused", 400)),
        (_aws("ItemCollectionSizeLimitExceededException"), Triage("refused", 400)),
        (_aws("ProvisionedThroughputExceededException"), Triage("transient", 503, retry_after=1)),
        (_aws("Whatever", status=500), Triage("transient", 503, retry_after=1)),
        (ReadTimeoutError(endpoint_url="https://dynamodb"), Triage("transient", 503, retry_after=1)),
        (_aws("AccessDeniedException"), Triage("ours", 500)),
        (RuntimeError("a bug"), Triage("ours", 500)),
    ],
)
def test_whose_fault_and_whether_a_retry_helps(error: BaseException, expected: Triage) -> None:
    assert triage(error) == expected


def test_a_wrapped_cause_is_triaged_as_its_cause() -> None:
    wrapped = RuntimeError("wrapped")
    wrapped.__cause__ = _aws("ThrottlingException")
    assert triage(wrapped).kind == "transient"
