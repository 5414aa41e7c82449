"""An HTTP request as API Gateway hands it to Lambda, read the same way from a REST API (payload 1.0) and an HTTP
API (payload 2.0), with one case-insensitive header accessor: the one reader of the event for every HTTP function
(the Outbound Message listener, the OData feed, and the callout API's checks before Powertools' resolver routes it).

Plain dataclasses on purpose: the listener and the feed answer Salesforce on its own clock (an Outbound Message
delivery, a page view), and pydantic or Powertools' event classes would add to each cold start for the handful of
fields read here (bench: `make bench`).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import quote

from sf_edge.headers import Headers


@dataclass(frozen=True)
class HttpEvent:
    """The parts of an API Gateway proxy event an endpoint reads."""

    method: str
    path: str  # as the client sent it, stage included for REST APIs behind a stage
    raw_query: str  # percent-encoded as sent (HTTP API); encoded again from the decoded values (REST API)
    headers: Headers
    sent_body: str  # as the event carries it (base64 when API Gateway encoded it)
    base64_encoded: bool
    source_ip: str | None
    request_id: str | None
    domain: str | None
    payload_version: str
    path_parameters: Mapping[str, str] = field(default_factory=dict)
    query_parameters: Mapping[str, str] = field(default_factory=dict)  # decoded once, as API Gateway gives them

    @cached_property
    def body(self) -> bytes:
        """The body as sent; decoded on first use, so a malformed base64 body is an error where it is read."""
        return base64.b64decode(self.sent_body) if self.base64_encoded else self.sent_body.encode("utf-8")

    def query_parameter(self, name: str) -> str | None:
        """A query parameter's value as API Gateway decoded it (a REST API gives the last of repeated ones, an HTTP
        API joins them with commas)."""
        return self.query_parameters.get(name)

    def path_parameter(self, name: str) -> str:
        """A path parameter, or the empty string."""
        return self.path_parameters.get(name, "")

    @classmethod
    def from_lambda(cls, event: Mapping[str, Any]) -> HttpEvent:
        """Read payload 2.0 (HTTP API) or 1.0 (REST API)."""
        context = event.get("requestContext") or {}
        headers = Headers(event.get("headers"))
        if event.get("version") == "2.0":
            http = context.get("http") or {}
            method, path = http.get("method", "GET"), event.get("rawPath") or http.get("path") or "/"
            raw_query, source_ip = str(event.get("rawQueryString") or ""), http.get("sourceIp")
        else:
            method, path = event.get("httpMethod", "GET"), context.get("path") or event.get("path") or "/"
            raw_query, source_ip = _rebuilt_query(event), (context.get("identity") or {}).get("sourceIp")
        return cls(
            method=str(method).upper(),
            path=str(path),
            raw_query=raw_query,
            headers=headers,
            sent_body=event.get("body") or "",
            base64_encoded=bool(event.get("isBase64Encoded")),
            source_ip=source_ip,
            request_id=context.get("requestId"),
            domain=context.get("domainName") or headers.get("host"),
            payload_version="2.0" if event.get("version") == "2.0" else "1.0",
            path_parameters=event.get("pathParameters") or {},
            query_parameters=event.get("queryStringParameters") or {},
        )


def _rebuilt_query(event: Mapping[str, Any]) -> str:
    """A REST API gives query values decoded once, as a form is (`+` is a space, `%2B` a plus: SAM CLI's emulator
    reads them so too): encode every character again, so the one decoding the query string gets (RFC 3986) gives
    back exactly those values, a literal `+` included."""
    pairs = event.get("multiValueQueryStringParameters") or {
        k: [v] for k, v in (event.get("queryStringParameters") or {}).items()
    }
    return "&".join(
        f"{quote(name, safe='$')}={quote(value, safe='')}" for name, values in pairs.items() for value in values
    )
