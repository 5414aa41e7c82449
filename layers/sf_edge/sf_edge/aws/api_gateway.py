"""The parts of an API Gateway REST proxy event that the endpoints read, as a pydantic model."""

from __future__ import annotations

import base64

from pydantic import BaseModel, ConfigDict, Field


class _Identity(BaseModel):
    model_config = ConfigDict(extra="ignore")

    source_ip: str | None = Field(default=None, alias="sourceIp")


class _RequestContext(BaseModel):
    model_config = ConfigDict(extra="ignore")

    request_id: str | None = Field(default=None, alias="requestId")
    identity: _Identity = Field(default_factory=_Identity)


class RestApiRequest(BaseModel):
    """An API Gateway REST proxy request (payload 1.0)."""

    model_config = ConfigDict(extra="ignore")

    body: str | None = None
    is_base64_encoded: bool = Field(default=False, alias="isBase64Encoded")
    path_parameters: dict[str, str] | None = Field(default=None, alias="pathParameters")
    query_string_parameters: dict[str, str] | None = Field(default=None, alias="queryStringParameters")
    request_context: _RequestContext = Field(default_factory=_RequestContext, alias="requestContext")

    @property
    def raw_body(self) -> bytes:
        """The body as sent: base64-decoded when API Gateway encoded it, else UTF-8 bytes."""
        if not self.body:
            return b""
        return base64.b64decode(self.body) if self.is_base64_encoded else self.body.encode("utf-8")

    def path_parameter(self, name: str) -> str:
        """A path parameter, or the empty string."""
        return (self.path_parameters or {}).get(name, "")

    def query_parameter(self, name: str) -> str | None:
        """A query string parameter (the last value when repeated, as API Gateway gives it)."""
        return (self.query_string_parameters or {}).get(name)
