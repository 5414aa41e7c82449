"""An HTTP request as API Gateway hands it to Lambda, read the same way from a REST API (payload 1.0) and an HTTP
API (payload 2.0), with one case-insensitive header accessor.

Plain dataclasses on purpose: the OData feed answers on every Salesforce page view, and pydantic or Powertools'
event classes would add 20-60 ms to each cold start for the handful of fields read here.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
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
    body: bytes
    source_ip: str | None
    request_id: str | None
    domain: str | None
    payload_version: str

    @classmethod
    def from_lambda(cls, event: Mapping[str, Any]) -> HttpEvent:
        """Read payload 2.0 (HTTP API) or 1.0 (REST API)."""
        context = event.get("requestContext") or {}
        raw_body = event.get("body") or ""
        body = base64.b64decode(raw_body) if event.get("isBase64Encoded") else raw_body.encode("utf-8")
        headers = Headers(event.get("headers"))
        if event.get("version") == "2.0":
            http = context.get("http") or {}
            return cls(
                method=str(http.get("method", "GET")).upper(),
                path=str(event.get("rawPath") or http.get("path") or "/"),
                raw_query=str(event.get("rawQueryString") or ""),
                headers=headers,
                body=body,
                source_ip=http.get("sourceIp"),
                request_id=context.get("requestId"),
                domain=context.get("domainName") or headers.get("host"),
                payload_version="2.0",
            )
        identity = context.get("identity") or {}
        return cls(
            method=str(event.get("httpMethod", "GET")).upper(),
            path=str(context.get("path") or event.get("path") or "/"),
            raw_query=_rebuilt_query(event),
            headers=headers,
            body=body,
            source_ip=identity.get("sourceIp"),
            request_id=context.get("requestId"),
            domain=context.get("domainName") or headers.get("host"),
            payload_version="1.0",
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
