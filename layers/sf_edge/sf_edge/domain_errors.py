"""What the domain and its adapters refuse, in their own words; each endpoint family maps these to its protocol
once (the callout API to its error JSON, the OData feeds to OData errors): no HTTP status below the edge."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal; `field` names the input it concerns, or `fields` several, each with what is wrong with it."""

    def __init__(self, message: str, *, field: str | None = None, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields: dict[str, str] = fields if fields is not None else ({field: message} if field else {})


class NotFound(DomainError):  # noqa: N818 - names the outcome
    """No such record."""


class Conflict(DomainError):  # noqa: N818
    """The record exists already, or the change clashes with one made meanwhile."""


class ConditionNotMet(Conflict):
    """A conditional write's condition did not hold (the item exists already, changed since it was read, or is
    gone): said once by the AWS adapters (sf_edge.aws.faults.conditional); a Conflict wherever it is not handled."""


class PreconditionFailed(DomainError):  # noqa: N818
    """The record changed since the caller read it (its version no longer matches)."""


class Invalid(DomainError):  # noqa: N818
    """The input cannot be applied as it is."""


class Unavailable(DomainError):  # noqa: N818
    """A dependency cannot answer now; the same request may succeed later."""


class RetryLater(Exception):  # noqa: N818 - a workflow's error name: retry the step
    """A workflow step (the bulk sync's, the bulk write-back's) a later attempt can clear: Salesforce unavailable,
    a set of results cut short, a page not applied yet. Step Functions retries it with back-off."""
