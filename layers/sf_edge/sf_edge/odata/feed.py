"""The OData 4.0 feed as one function of a request: authentication, the resource, the read plan, the answer.

Errors of every kind leave as OData error JSON with the right status (400 bad syntax, 401, 404, 405, 501
unsupported); the response always carries `OData-Version: 4.0`.
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sf_edge.odata.csdl import metadata_xml, service_document
from sf_edge.odata.engine import collection, context_url, matches, project, streamed_page
from sf_edge.odata.request import ODataError, bind_options, parse_path, parse_query_string
from sf_edge.odata.schema import ENTITY_SETS, EntitySet
from sf_edge.odata.writes import etag, expected_version, validate_entity

JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"


class Table(Protocol):
    """What the feed needs from storage (sf_edge.aws.odata_store.EntityTable in AWS)."""

    items_read: int

    def read(self, read_plan: Any, after: dict[str, Any] | None = None, batch: int | None = None) -> Any: ...

    def resume_keys(self, read_plan: Any) -> tuple[str, ...]: ...

    def get(self, key: dict[str, Any]) -> dict[str, Any] | None: ...


class Writes(Protocol):
    """Conditional writes (sf_edge.aws.odata_store.EntityWrites in AWS)."""

    def create(self, values: dict[str, Any]) -> dict[str, Any]: ...

    def update(self, key: dict[str, Any], values: dict[str, Any], expected: int | None) -> dict[str, Any]: ...

    def replace(self, key: dict[str, Any], values: dict[str, Any], expected: int | None) -> dict[str, Any]: ...

    def delete(self, key: dict[str, Any], expected: int | None) -> None: ...


@dataclass(frozen=True)
class FeedRequest:
    method: str
    path: str  # below the service root, e.g. "/Orders(10248)"
    query: str  # raw query string
    headers: Mapping[str, str]
    service_root: str  # absolute, ending in "/"
    body: bytes = b""

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


@dataclass
class FeedResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    items_read: int = 0
    plan: str = ""


@dataclass(frozen=True)
class FeedAuth:
    """`basic` (a Named Principal's user and password), `apikey` (X-API-Key header) or `none` (on purpose)."""

    mode: str
    username: Callable[[], str] = lambda: ""
    secret: Callable[[], str] = lambda: ""

    def allows(self, headers: Mapping[str, str]) -> bool:
        lowered = {k.lower(): v for k, v in headers.items()}
        if self.mode == "none":
            return True
        expected = self.secret()
        if not expected:
            return False  # fail closed when the credential is not configured
        if self.mode == "apikey":
            return hmac.compare_digest(lowered.get("x-api-key", "").encode(), expected.encode())
        if self.mode == "basic":
            scheme, _, encoded = lowered.get("authorization", "").partition(" ")
            try:
                user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
            except ValueError:
                return False
            same_user = hmac.compare_digest(user.encode(), self.username().encode())
            same_password = hmac.compare_digest(password.encode(), expected.encode())
            return scheme.lower() == "basic" and same_user and same_password
        return False


class Feed:
    """Serves the entity sets of `sf_edge.odata.schema` from tables."""

    def __init__(
        self,
        tables: Callable[[EntitySet], Table],
        planner: Callable[[EntitySet, Any], Any],
        auth: FeedAuth,
        page_size: int = 2000,
        entity_sets: tuple[EntitySet, ...] = ENTITY_SETS,
        *,
        writes: Callable[[EntitySet], Writes] | None = None,
        csrf_token: str | None = None,
    ) -> None:
        self.tables = tables
        self.writes = writes
        self.csrf_token = csrf_token
        self.planner = planner
        self.auth = auth
        self.page_size = page_size
        self.entity_sets = entity_sets
        self.by_name = {s.name: s for s in entity_sets}
        self._metadata = metadata_xml(entity_sets)

    def handle(self, request: FeedRequest) -> FeedResponse:
        """Answer one request; never raises for bad input."""
        try:
            if not self.auth.allows(request.headers):
                response = _error(ODataError(401, "Unauthorized", "Missing or invalid credentials"))
                response.headers["WWW-Authenticate"] = 'Basic realm="odata"' if self.auth.mode == "basic" else "ApiKey"
                return response
            if request.method in ("GET", "HEAD"):
                response = self._read(request)
                if self.csrf_token and (request.header("X-CSRF-Token") or "").lower() == "fetch":
                    response.headers["X-CSRF-Token"] = self.csrf_token
                return response
            if request.method in ("POST", "PATCH", "PUT", "DELETE"):
                return self._write(request)
            raise ODataError(405, "MethodNotAllowed", f"{request.method} is not allowed")
        except ODataError as error:
            return _error(error)

    def _read(self, request: FeedRequest) -> FeedResponse:
        resource = parse_path(request.path, self.by_name)
        if resource.kind == "service":
            return _json(service_document(self.entity_sets, request.service_root))
        if resource.kind == "metadata":
            return FeedResponse(200, {"Content-Type": "application/xml", "OData-Version": "4.0"}, self._metadata)
        entity_set = self.by_name[resource.entity_set or ""]
        table = self.tables(entity_set)
        if resource.kind == "entity":
            options = bind_options(entity_set, parse_query_string(request.query))
            row = table.get(resource.key or {})
            if row is None:
                raise ODataError(404, "NotFound", f"No {entity_set.entity_type} with key {resource.key}")
            body = {
                "@odata.context": context_url(request.service_root, entity_set, options.select, entity=True),
                "@odata.etag": etag(row),
                **project(entity_set, row, options.select),
            }
            response = _json(body, items_read=table.items_read, plan="get")
            response.headers["ETag"] = etag(row)
            return response
        options = bind_options(entity_set, parse_query_string(request.query))
        read_plan = self.planner(entity_set, options.filter)
        if resource.kind == "collection" and options.streamable and read_plan.kind != "get":
            rows = table.read(read_plan, after=options.skiptoken.after, batch=self.page_size + 1)
            body = streamed_page(
                entity_set,
                options,
                rows,
                table.resume_keys(read_plan),
                service_root=request.service_root,
                page_size=self.page_size,
            )
            return _json(body, items_read=table.items_read, plan=read_plan.describe() + " (streamed)")
        rows = table.read(read_plan)
        if resource.kind == "count":
            count = sum(1 for row in rows if matches(options, entity_set, row))
            return FeedResponse(
                200,
                {"Content-Type": "text/plain", "OData-Version": "4.0"},
                str(count).encode(),
                table.items_read,
                read_plan.describe(),
            )
        body = collection(entity_set, options, rows, service_root=request.service_root, page_size=self.page_size)
        return _json(body, items_read=table.items_read, plan=read_plan.describe())

    def _write(self, request: FeedRequest) -> FeedResponse:
        if self.writes is None:
            raise ODataError(501, "NotImplemented", "This feed is read-only")
        if self.csrf_token and not hmac.compare_digest(
            (request.header("X-CSRF-Token") or "").encode(), self.csrf_token.encode()
        ):
            response = _error(ODataError(403, "CsrfTokenRequired", "Fetch a token with X-CSRF-Token: Fetch first"))
            response.headers["X-CSRF-Token"] = "Required"
            return response
        resource = parse_path(request.path, self.by_name)
        entity_set = self.by_name.get(resource.entity_set or "")
        if entity_set is None or resource.kind not in ("collection", "entity"):
            raise ODataError(405, "MethodNotAllowed", f"{request.method} is not allowed on {request.path}")
        writes = self.writes(entity_set)
        if request.method == "POST":
            if resource.kind != "collection":
                raise ODataError(405, "MethodNotAllowed", "POST creates in a collection: POST /" + entity_set.name)
            row = writes.create(validate_entity(entity_set, _body(request), partial=False))
            parts = [f"{k}={_key_literal(row[k])}" for k in entity_set.key]
            key = _key_literal(row[entity_set.key[0]]) if len(parts) == 1 else ",".join(parts)
            body = {
                "@odata.context": context_url(request.service_root, entity_set, None, entity=True),
                "@odata.etag": etag(row),
                **project(entity_set, row, None),
            }
            response = _json(body, plan="create")
            response.status = 201
            response.headers |= {"ETag": etag(row), "Location": f"{request.service_root}{entity_set.name}({key})"}
            return response
        if resource.kind != "entity" or resource.key is None:
            raise ODataError(405, "MethodNotAllowed", f"{request.method} needs an entity: /{entity_set.name}(key)")
        expected = expected_version(request.header("If-Match"))
        if request.method == "DELETE":
            writes.delete(resource.key, expected)
            return FeedResponse(204, {"OData-Version": "4.0"}, b"", plan="delete")
        values = validate_entity(entity_set, _body(request), partial=request.method == "PATCH", key=resource.key)
        if request.method == "PATCH":
            row = writes.update(resource.key, values, expected)
        else:
            row = writes.replace(resource.key, values, expected)
        return FeedResponse(204, {"OData-Version": "4.0", "ETag": etag(row)}, b"", plan=request.method.lower())


def _body(request: FeedRequest) -> Any:
    try:
        return json.loads(request.body or b"null")
    except (ValueError, RecursionError):
        raise ODataError(400, "InvalidBody", "The body is not valid JSON") from None


def _key_literal(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'" if isinstance(value, str) else str(value)


def _json(body: dict[str, Any], *, items_read: int = 0, plan: str = "") -> FeedResponse:
    return FeedResponse(
        200,
        {"Content-Type": JSON, "OData-Version": "4.0"},
        json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
        items_read,
        plan,
    )


def _error(error: ODataError) -> FeedResponse:
    return FeedResponse(
        error.status,
        {"Content-Type": "application/json", "OData-Version": "4.0"},
        json.dumps(error.body()).encode(),
        plan=error.code,
    )
