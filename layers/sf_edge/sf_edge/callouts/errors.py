"""The one error shape every callout answers with: status, code, message, request id and field errors."""

from __future__ import annotations

from pydantic import Field

from sf_edge.callouts.contract import Contract


class FieldError(Contract):
    field: str = Field(
        description="Path of the offending field, e.g. lines[0].quantity", examples=["lines[0].quantity"]
    )
    code: str = Field(description="Machine-readable reason", examples=["greater_than_equal"])
    message: str


class ApiError(Contract):
    """Apex: `ApiError e = (ApiError) JSON.deserialize(res.getBody(), ApiError.class);`"""

    status: int = Field(examples=[422])
    code: str = Field(examples=["VALIDATION_FAILED"])
    message: str
    request_id: str | None = None
    field_errors: list[FieldError] = Field(default_factory=list)


class ApiProblem(Exception):  # noqa: N818 - a problem report, in the RFC 7807 sense
    """A refusal of the callout protocol itself (Idempotency-Key misuse, ...); mapped to ApiError with its status.
    The domain raises sf_edge.domain_errors instead."""

    def __init__(self, status: int, code: str, message: str, field_errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field_errors = field_errors or []


ERROR_DESCRIPTIONS = {
    400: "Malformed JSON or header",
    401: "Missing or invalid credentials (API key or JWT)",
    404: "Unknown id",
    409: "Idempotency-Key reused with another body, or its first request still running",
    415: "Body is not application/json",
    422: "Input that breaks the contract; fieldErrors names each field",
    500: "Our fault; safe to retry",
    503: "The order system did not answer; retry after Retry-After seconds",
}
