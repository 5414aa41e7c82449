"""The Connect REST API's credential resource on loopback, built from Salesforce's documented requests and
responses (Connect REST API Developer Guide: "Credential", `/named-credentials/credential`, API 56.0 and later);
a real org cannot be reached from these tests. It extends the call-in stand-in (tests/salesforce_stand_in.py: the
same sessions and whole-call faults) and is not Salesforce:

- `GET .../named-credentials/credential?externalCredential=&principalName=&principalType=`: 200 with the
  Credential (`externalCredential`, `principalName`, `principalType`, `authenticationProtocol`, `credentials`: each
  name with `encrypted` and, for an unencrypted one, its `value`; an encrypted value is never returned); a principal
  with nothing set has an empty `credentials`. An External Credential the org does not have: 404 `NOT_FOUND`.
- `POST` (create) and `PUT` (replace every value) with the Credential Input (`externalCredential`,
  `principalName`, `principalType`, `authenticationProtocol`, `credentials`: `{name: {"value", "encrypted"}}`):
  201 and 200 with the Credential. A POST where values exist, a PUT where none do, or a protocol other than the
  External Credential's: 400 `INVALID_INPUT` (the guide names no code for these: the stand-in's own, in the REST
  error shape).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from salesforce_stand_in import SalesforceStandIn

_CREDENTIAL = re.compile(r"^/services/data/v(\d+\.\d)/named-credentials/credential$")


@dataclass
class NamedCredentialsStandIn(SalesforceStandIn):
    """`external_credentials` maps each deployed External Credential to its protocol; `stored` is what was set."""

    external_credentials: dict[str, str] = field(default_factory=dict)
    stored: dict[tuple[str, str], dict[str, dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)

    def _handles(self, method: str, path: str) -> bool:
        return _CREDENTIAL.match(path) is not None

    def _extra(self, request: BaseHTTPRequestHandler, method: str, path: str, query: str, body: bytes) -> None:
        status, payload = self._credential(method, {k: v[0] for k, v in parse_qs(query).items()}, body)
        self._send(request, method, path, status, payload)

    def _credential(self, method: str, asked: dict[str, str], body: bytes) -> tuple[int, Any]:
        data: dict[str, Any] | None = None
        if method in ("POST", "PUT"):
            try:
                data = json.loads(body)
                asked = {k: data[k] for k in ("externalCredential", "principalName", "principalType")}
            except (ValueError, KeyError, TypeError):
                return 400, [{"errorCode": "JSON_PARSER_ERROR", "message": "Malformed credential input"}]
        self.requests.append((method, data))
        name = asked.get("externalCredential", "")
        if name not in self.external_credentials:
            return 404, [{"errorCode": "NOT_FOUND", "message": f"No external credential {name}"}]
        key = (name, asked.get("principalName", ""))
        if method == "GET":
            return 200, self._output(key)
        assert data is not None
        if data.get("authenticationProtocol") != self.external_credentials[name]:
            return 400, [{"errorCode": "INVALID_INPUT", "message": "authenticationProtocol does not match"}]
        exists = bool(self.stored.get(key))
        if (method == "POST" and exists) or (method == "PUT" and not exists):
            return 400, [
                {
                    "errorCode": "INVALID_INPUT",
                    "message": f"{method}: the credential {'exists' if exists else 'does not exist'}",
                }
            ]
        credentials = data.get("credentials")
        if not isinstance(credentials, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("value"), str) and isinstance(v.get("encrypted"), bool)
            for v in credentials.values()
        ):
            return 400, [{"errorCode": "INVALID_INPUT", "message": "credentials: {name: {value, encrypted}}"}]
        self.stored[key] = credentials
        return (201 if method == "POST" else 200), self._output(key)

    def _output(self, key: tuple[str, str]) -> dict[str, Any]:
        values = self.stored.get(key, {})
        return {
            "externalCredential": key[0],
            "principalName": key[1],
            "principalType": "NamedPrincipal",
            "authenticationProtocol": self.external_credentials[key[0]],
            "credentials": {
                name: {"encrypted": v["encrypted"], **({} if v["encrypted"] else {"value": v["value"]})}
                for name, v in values.items()
            },
        }
