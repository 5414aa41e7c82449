"""A Salesforce stand-in on loopback, built from Salesforce's documented requests and responses (a real org
cannot be reached from these tests). It is not Salesforce: it implements only what the write-back uses, the way
the documentation describes it:

- `POST /services/oauth2/token` (OAuth 2.0 JWT bearer flow): form fields `grant_type` =
  `urn:ietf:params:oauth:grant-type:jwt-bearer` and `assertion`, an RS256 JWT checked against the connected app's
  certificate: `iss` = consumer key, `sub` = a pre-authorized username, `aud` = the login URL, `exp` in the future
  and at most 3 minutes ahead. Success: `{"access_token", "instance_url", "id", "token_type": "Bearer", "scope"}`;
  failure: 400 `{"error": "invalid_grant", "error_description": ...}`.
- `PATCH /services/data/vXX.X/composite/sobjects` (sObject Collections update, up to 200 records, each with
  `attributes.type` and `id`) and `.../composite/sobjects/{SObject}/{ExternalIdField}` (upsert): 200 with one
  SaveResult `{"id", "success", "errors": [{"statusCode", "message", "fields"}]}` per record, in order
  (`created` too for upserts); updating a record that does not exist fails with `INVALID_CROSS_REFERENCE_KEY`.
- `GET /services/data/vXX.X/composite/sobjects/{SObject}?ids=...&fields=...` (sObject Collections retrieve): the
  records in the order asked, each with `attributes` and the fields asked for; null for an id it has no record for.
- `GET /services/data/vXX.X/query?q=...` (SOQL), for the one query the edge sends it: an Opportunity by Id with
  its `OpportunityLineItems` child sub-query. `{"totalSize", "done", "records"}`; each record's child relationship
  is `null` when it has no children, else `{"totalSize", "done", "records"}`, with a `nextRecordsUrl`
  (`/services/data/vXX.X/query/<locator>-<n>`) and `done: false` while more children follow; the locator's page is
  read with `GET` on that URL. Each line item has `attributes`, `Id`, `Product2: {"attributes", "ProductCode"}`,
  `Quantity`, `UnitPrice` and `Discount` (a percent, or null). A query the stand-in does not know: 400
  `MALFORMED_QUERY`.
- `POST /services/data/vXX.X/composite/sobjects` (sObject Collections create) of Platform Events (`__e` types):
  each published event answers `{"id", "success": true, "errors": [{"statusCode": "OPERATION_ENQUEUED",
  "message": <event UUID>}]}`; past the hourly allocation, `success: false` with `LIMIT_EXCEEDED`.
- `GET /services/data/vXX.X/limits`: `{"DailyApiRequests": {"Max", "Remaining"}, "HourlyPublishedPlatformEvents":
  {"Max", "Remaining"}}`.
- An expired or unknown session: 401 `[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]`.
- Every API answer carries `Sforce-Limit-Info: api-usage=<used>/<limit>`.

Scripted faults: `fail_next(status, code, times)` answers whole calls with an error (`REQUEST_LIMIT_EXCEEDED` is
403, `SERVER_UNAVAILABLE` 503), `reject[(sobject, id)] = (code, message)` fails a record for good,
`lock_once` fails a record's next save with `UNABLE_TO_LOCK_ROW`, `expire_sessions()` revokes every token
(`revoke_before_each_call` does so at every API call), `latency` delays each API answer.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_COLLECTIONS = re.compile(r"^/services/data/v(\d+\.\d)/composite/sobjects(?:/(\w+)/(\w+))?$")
_RETRIEVE = re.compile(r"^/services/data/v(\d+\.\d)/composite/sobjects/(\w+)$")
_LIMITS = re.compile(r"^/services/data/v(\d+\.\d)/limits/?$")
_QUERY = re.compile(r"^/services/data/v(\d+\.\d)/query(?:/([\w-]+))?$")
_LINE_ITEMS_SOQL = re.compile(
    r"^SELECT Id, \(SELECT (?P<fields>[\w., ]+) FROM OpportunityLineItems ORDER BY SortOrder, Id\) "
    r"FROM Opportunity WHERE Id = '(?P<id>\w{15}(?:\w{3})?)'$"
)
_ERROR_STATUS = {"REQUEST_LIMIT_EXCEEDED": 403, "SERVER_UNAVAILABLE": 503, "INVALID_SESSION_ID": 401}


def key_pair() -> tuple[str, str]:
    """A new RSA key: (private key PEM for the edge, public key PEM for the connected app's certificate)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@dataclass
class SalesforceStandIn:
    """Start with start(); `url` is both the login URL and the instance URL."""

    public_key: str
    consumer_key: str = "3MVG9stand.in.consumer.key"
    users: set[str] = field(default_factory=lambda: {"integration@northwind.example"})
    latency: float = 0.0
    api_limit: int = 100_000
    records: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    reject: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    lock_once: set[tuple[str, str]] = field(default_factory=set)
    line_items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # Opportunity id → its lines
    child_page_size: int = 200  # children per page of a sub-query (more: nextRecordsUrl)
    published: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (type, event UUID, fields)
    publish_allocation: int = 250_000  # HourlyPublishedPlatformEvents' Max
    publish_remaining: int = 250_000  # what is left of it this hour (0: LIMIT_EXCEEDED)
    _locators: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, status)
    sessions_used: list[str] = field(default_factory=list)  # the bearer token of each API call
    token_requests: int = 0
    revoke_before_each_call: bool = False  # every API call finds its session revoked (a user deactivated, say)
    api_usage: int = 0
    _faults: list[tuple[int, str]] = field(default_factory=list)
    _aimed: list[list[Any]] = field(default_factory=list)
    _tokens: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> Self:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                stand_in._answer(self, "POST")

            def do_PATCH(self) -> None:
                stand_in._answer(self, "PATCH")

            def do_GET(self) -> None:
                stand_in._answer(self, "GET")

            def do_PUT(self) -> None:
                stand_in._answer(self, "PUT")

            def do_DELETE(self) -> None:
                stand_in._answer(self, "DELETE")

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def sign_in(self, private_key: str, username: str) -> dict[str, str]:
        """The SALESFORCE_* settings (as setting names) of an app signing in to this org as `username`."""
        return {
            "salesforce_login_url": self.url,
            "salesforce_client_id": self.consumer_key,
            "salesforce_username": username,
            "salesforce_private_key": private_key,
        }

    def environment(self, private_key: str, username: str | None = None) -> dict[str, str]:
        """The same sign-in as SALESFORCE_* environment variables (the key on one line, as pasted into one)."""
        settings = self.sign_in(private_key, username or next(iter(self.users)))
        return {name.upper(): value.replace("\n", "\\n") for name, value in settings.items()}

    def add(self, sobject: str, record_id: str, **fields: Any) -> None:
        """A record the org has (only existing records can be updated by id)."""
        self.records[(sobject, record_id)] = dict(fields)

    def add_opportunity(self, opportunity_id: str, lines: list[tuple[str | None, float, float, float | None]]) -> None:
        """An Opportunity and its line items, each (ProductCode, Quantity, UnitPrice, Discount %)."""
        self.add("Opportunity", opportunity_id)
        self.line_items[opportunity_id] = [
            {
                "attributes": {"type": "OpportunityLineItem"},
                "Id": f"00k{opportunity_id[3:8]}{n:07d}AAA",
                "Product2": {"attributes": {"type": "Product2"}, "ProductCode": code},
                "Quantity": quantity,
                "UnitPrice": price,
                "Discount": discount,
            }
            for n, (code, quantity, price, discount) in enumerate(lines, start=1)
        ]

    def fail_next(self, code: str, times: int = 1) -> None:
        """Answer the next `times` API calls with this whole-call error."""
        self._faults.extend([(_ERROR_STATUS.get(code, 400), code)] * times)

    def fail_when(self, matches: Callable[[str, str, str], bool], code: str, times: int = 1) -> None:
        """Answer the next `times` API calls that `matches(method, path, query)` with this whole-call error."""
        with self._lock:
            self._aimed.append([matches, _ERROR_STATUS.get(code, 400), code, times])

    def _matching_fault(self, method: str, path: str, query: str) -> tuple[int, str] | None:
        for aimed in self._aimed:
            matches, status, code, times = aimed
            if times > 0 and matches(method, path, query):
                aimed[3] = times - 1
                return status, code
        return None

    # Hooks for more of the API (tests/bulk_api_stand_in.py): whether a path is served, and the answer.

    def _handles(self, method: str, path: str) -> bool:
        return False

    def _extra(self, request: BaseHTTPRequestHandler, method: str, path: str, query: str, body: bytes) -> None:
        raise NotImplementedError

    def issue_session(self) -> str:
        """A session id as an Outbound Message's SessionId carries one (the user the message is sent as)."""
        token = f"00DSTANDIN!{secrets.token_urlsafe(24)}"
        with self._lock:
            self._tokens.add(token)
        return token

    def expire_sessions(self) -> None:
        with self._lock:
            self._tokens.clear()

    @property
    def api_calls(self) -> list[tuple[str, str, int]]:
        return [c for c in self.calls if c[1].startswith("/services/data/")]

    # The protocol.

    def _answer(self, request: BaseHTTPRequestHandler, method: str) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length)
        path = request.path.split("?")[0]
        if method == "POST" and path == "/services/oauth2/token":
            status, payload = self._token(body)
            self._send(request, method, path, status, payload)
            return
        if self.latency:
            time.sleep(self.latency)
        found = _COLLECTIONS.match(path)
        retrieve = _RETRIEVE.match(path) if method == "GET" else None
        soql = _QUERY.match(path) if method == "GET" else None
        limits = _LIMITS.match(path) if method == "GET" else None
        extra = self._handles(method, path)
        if (
            not (method in ("PATCH", "POST") and found)
            and retrieve is None
            and soql is None
            and limits is None
            and not extra
        ):
            self._send(
                request,
                method,
                path,
                404,
                [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
            )
            return
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with self._lock:
            self.sessions_used.append(bearer)
            if self.revoke_before_each_call:
                self._tokens.clear()
        if bearer not in self._tokens:
            self._send(
                request,
                method,
                path,
                401,
                [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
            )
            return
        query = request.path.partition("?")[2]
        with self._lock:
            self.api_usage += 1
            fault = self._faults.pop(0) if self._faults else None
            if fault is None:
                fault = self._matching_fault(method, path, query)
        if fault is not None:
            status, code = fault
            self._send(request, method, path, status, [{"message": f"stand-in fault {code}", "errorCode": code}])
            return
        if extra:
            self._extra(request, method, path, query, body)
            return
        if limits is not None:
            with self._lock:
                hourly = {"Max": self.publish_allocation, "Remaining": self.publish_remaining}
                daily = {"Max": self.api_limit, "Remaining": self.api_limit - self.api_usage}
            self._send(request, method, path, 200, {"DailyApiRequests": daily, "HourlyPublishedPlatformEvents": hourly})
            return
        if soql is not None:
            status, payload = self._query(soql.group(1), soql.group(2), query)
            self._send(request, method, path, status, payload)
            return
        if retrieve is not None:
            asked = {k: v[0] for k, v in parse_qs(query).items()}
            wanted = asked.get("fields", "").split(",")
            self._send(
                request, method, path, 200, [self._read(retrieve.group(2), i, wanted) for i in asked["ids"].split(",")]
            )
            return
        try:
            data = json.loads(body)
            records = data["records"]
            if not isinstance(records, list) or not 0 < len(records) <= 200:
                raise ValueError("records")
        except (ValueError, KeyError, TypeError):
            self._send(request, method, path, 400, [{"message": "Malformed request", "errorCode": "JSON_PARSER_ERROR"}])
            return
        if data.get("allOrNone") is not False:
            self._send(
                request,
                method,
                path,
                400,
                [{"message": "the edge always sends allOrNone=false", "errorCode": "INVALID_FIELD"}],
            )
            return
        assert found is not None  # a PATCH to Collections (anything else was answered above)
        if method == "POST":
            if found.group(2):
                self._send(request, method, path, 405, [{"errorCode": "METHOD_NOT_ALLOWED", "message": "POST"}])
                return
            self._send(request, method, path, 200, [self._create(record) for record in records])
            return
        upsert = (found.group(2), found.group(3)) if found.group(2) else None
        self._send(request, method, path, 200, [self._save(record, upsert) for record in records])

    def _create(self, record: dict[str, Any]) -> dict[str, Any]:
        sobject = str(record.get("attributes", {}).get("type", ""))
        if not sobject.endswith("__e"):
            return _failure("INVALID_TYPE", f"the stand-in creates only Platform Events, not {sobject or 'nothing'}")
        fields = {k: v for k, v in record.items() if k != "attributes"}
        with self._lock:
            if self.publish_remaining <= 0:
                return _failure("LIMIT_EXCEEDED", "You have exceeded the hourly publish limit for platform events")
            self.publish_remaining -= 1
            event_uuid = str(uuid.uuid4())
            self.published.append((sobject, event_uuid, fields))
        return {
            "id": "e00xx0000000001AAA",  # not unique, as Salesforce documents: subscribers use ReplayId
            "success": True,
            "errors": [{"statusCode": "OPERATION_ENQUEUED", "message": event_uuid, "fields": []}],
        }

    def _query(self, version: str, locator: str | None, query: str) -> tuple[int, Any]:
        if locator is not None:
            with self._lock:
                rest = self._locators.pop(locator, None)
            if rest is None:
                return 400, [{"errorCode": "INVALID_QUERY_LOCATOR", "message": "invalid query locator"}]
            return 200, self._child_page(version, rest)
        soql = parse_qs(query).get("q", [""])[0]
        asked = _LINE_ITEMS_SOQL.match(soql)
        if asked is None:
            return 400, [{"errorCode": "MALFORMED_QUERY", "message": f"the stand-in does not know: {soql[:200]}"}]
        opportunity_id = asked.group("id")
        with self._lock:
            known = ("Opportunity", opportunity_id) in self.records
            lines = list(self.line_items.get(opportunity_id, []))
        if not known:
            return 200, {"totalSize": 0, "done": True, "records": []}
        record = {
            "attributes": {
                "type": "Opportunity",
                "url": f"/services/data/v{version}/sobjects/Opportunity/{opportunity_id}",
            },
            "Id": opportunity_id,
            "OpportunityLineItems": self._child_page(version, lines, total=len(lines)) if lines else None,
        }
        return 200, {"totalSize": 1, "done": True, "records": [record]}

    def _child_page(self, version: str, lines: list[dict[str, Any]], total: int | None = None) -> dict[str, Any]:
        page, rest = lines[: self.child_page_size], lines[self.child_page_size :]
        answer: dict[str, Any] = {
            "totalSize": total if total is not None else len(lines),
            "done": not rest,
            "records": page,
        }
        if rest:
            locator = f"01gSTANDIN{secrets.token_hex(4)}-{len(page)}"
            with self._lock:
                self._locators[locator] = rest
            answer["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}"
        return answer

    def _read(self, sobject: str, record_id: str, fields: list[str]) -> dict[str, Any] | None:
        with self._lock:
            record = self.records.get((sobject, record_id))
        if record is None:
            return None
        values = {"Id": record_id, **record}
        return {"attributes": {"type": sobject}, **{f: values.get(f) for f in fields}}

    def _save(self, record: dict[str, Any], upsert: tuple[str, str] | None) -> dict[str, Any]:
        sobject = str(record.get("attributes", {}).get("type", ""))
        fields = {k: v for k, v in record.items() if k not in ("attributes", "id")}
        if upsert is not None:
            sobject_path, external_field = upsert
            if sobject != sobject_path or external_field not in record:
                return _failure("INVALID_FIELD", f"{external_field} is required for an upsert of {sobject_path}")
            key = (sobject, str(record[external_field]))
        else:
            key = (sobject, str(record.get("id", "")))
        with self._lock:
            if key in self.lock_once:
                self.lock_once.discard(key)
                return _failure("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record")
            if key in self.reject:
                code, message = self.reject[key]
                return _failure(code, message)
            if upsert is None and key not in self.records:
                return _failure("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            created = key not in self.records
            self.records.setdefault(key, {}).update(fields)
        result: dict[str, Any] = {"id": key[1], "success": True, "errors": []}
        if upsert is not None:
            result["created"] = created
        return result

    def _token(self, body: bytes) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.token_requests += 1
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("grant_type") != JWT_GRANT:
            return 400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                self.public_key,
                algorithms=["RS256"],
                audience=self.url,
                options={"require": ["iss", "sub", "aud", "exp"]},
            )
        except jwt.InvalidTokenError as invalid:
            return 400, {"error": "invalid_grant", "error_description": f"invalid assertion: {invalid}"}
        if claims["iss"] != self.consumer_key:
            return 400, {"error": "invalid_client_id", "error_description": "client identifier invalid"}
        if claims["sub"] not in self.users:
            return 400, {"error": "invalid_grant", "error_description": "user hasn't approved this consumer"}
        if claims["exp"] > time.time() + 185:
            return 400, {"error": "invalid_grant", "error_description": "expiration too far in the future"}
        token = f"00DSTANDIN!{secrets.token_urlsafe(24)}"
        with self._lock:
            self._tokens.add(token)
        return 200, {
            "access_token": token,
            "instance_url": self.url,
            "id": f"{self.url}/id/00D000000000001EAA/005000000000001AAA",
            "token_type": "Bearer",
            "scope": "api",
        }

    def _send(self, request: BaseHTTPRequestHandler, method: str, path: str, status: int, payload: Any) -> None:
        self._send_bytes(request, method, path, status, json.dumps(payload).encode(), "application/json;charset=UTF-8")

    def _send_bytes(
        self,
        request: BaseHTTPRequestHandler,
        method: str,
        path: str,
        status: int,
        data: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        with self._lock:
            self.calls.append((method, path, status))
            usage = self.api_usage
        request.send_response(status)
        if data or status != 201:
            request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        if path.startswith("/services/data/"):
            request.send_header("Sforce-Limit-Info", f"api-usage={usage}/{self.api_limit}")
        request.end_headers()
        request.wfile.write(data)


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up (a result set read in part, a kept-alive connection at exit) is no error here."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (OSError, ValueError)):
            super().handle_error(request, client_address)


def _failure(code: str, message: str) -> dict[str, Any]:
    return {"success": False, "errors": [{"statusCode": code, "message": message, "fields": []}]}
