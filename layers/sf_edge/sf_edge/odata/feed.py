"""The OData feeds as one function of a request: authenticate, parse the resource, bind the options, plan, read,
page, answer. One pipeline serves both versions; a `Dialect` (sf_edge.odata.dialects) supplies what differs.

Errors of every kind leave in the dialect's error shape with the status the protocol calls for (400 bad syntax,
401, 403 CSRF, 404, 405, 412, 501 unsupported).
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol
from urllib.parse import unquote

from sf_edge.domain_errors import DomainError
from sf_edge.headers import Headers
from sf_edge.odata.dialects import V4, Dialect, FeedResponse
from sf_edge.odata.engine import Page, ReadStats, Store, count_matches, read_page
from sf_edge.odata.expressions import expression_size
from sf_edge.odata.planner import Plan, plan
from sf_edge.odata.request import ODataError, QueryOptions, parse_path, parse_query_string
from sf_edge.odata.schema import ENTITY_SETS, EntitySet
from sf_edge.odata.writes import expected_version, validate_entity

# Lambda answers at most 6 MB (the response JSON, the body escaped inside it): a page ends early before that.
MAX_RESPONSE_BYTES = 5_500_000
# Filter nodes evaluated per request (the expression's size x the rows it is checked on): about 5 s of the
# function's 15 s at a few hundred ns a node. Past it, a request is refused up front rather than timed out.
MAX_FILTER_WORK = 20_000_000

__all__ = ["Feed", "FeedAuth", "FeedRequest", "FeedResponse"]


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

    @cached_property
    def _parsed_query(self) -> dict[str, str] | ODataError:
        # Parsed once per request, whoever asks first (negotiation, the read, the error answer), malformed or not.
        try:
            return parse_query_string(self.query)
        except ODataError as error:
            return error

    def query_options(self) -> dict[str, str]:
        """The query string's options, name -> value (a malformed query string raises its ODataError)."""
        parsed = self._parsed_query
        if isinstance(parsed, ODataError):
            raise parsed
        return parsed

    @property
    def format_option(self) -> str | None:
        """The `$format` asked for, for negotiating the answer's format: None when the query string names none,
        and for a malformed one (it is refused later, in the format negotiated without it)."""
        if "format" not in unquote(self.query).lower():  # however it is escaped; most requests carry none
            return None
        parsed = self._parsed_query
        return None if isinstance(parsed, ODataError) else parsed.get("$format")

    def header(self, name: str) -> str | None:
        found: str | None = Headers(self.headers).get(name)
        return found


@dataclass(frozen=True)
class FeedAuth:
    """`basic` (a Named Principal's user and password), `apikey` (X-API-Key header) or `none` (on purpose)."""

    mode: str
    username: Callable[[], str] = lambda: ""
    secret: Callable[[], str] = lambda: ""

    def allows(self, headers: Mapping[str, str]) -> bool:
        lowered = Headers(headers)
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
    """Serves the entity sets of `sf_edge.odata.schema` from tables, in whichever dialect a request comes in."""

    def __init__(
        self,
        stores: Callable[[EntitySet, ReadStats], Store],
        auth: FeedAuth,
        page_size: int = 2000,
        entity_sets: tuple[EntitySet, ...] = ENTITY_SETS,
        *,
        writes: Callable[[EntitySet], Writes] | None = None,
        csrf_token: str | None = None,
        planner: Callable[[EntitySet, QueryOptions], Plan] = plan,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_filter_work: int = MAX_FILTER_WORK,
    ) -> None:
        self.stores = stores
        self.writes = writes
        self.csrf_token = csrf_token
        self.planner = planner
        self.auth = auth
        self.page_size = page_size
        self.entity_sets = entity_sets
        self.by_name = {s.name: s for s in entity_sets}
        self.max_response_bytes = max_response_bytes
        self.max_filter_work = max_filter_work

    def handle(self, request: FeedRequest, version: Dialect | None = None) -> FeedResponse:
        """Answer one request in the version's dialect (4.0 unless given); never raises for bad input."""
        dialect = (version or V4()).negotiate(request.headers, request.format_option)
        try:
            if not self.auth.allows(request.headers):
                response = dialect.error(ODataError(401, "Unauthorized", "Missing or invalid credentials"))
                response.headers["WWW-Authenticate"] = dialect.challenge(self.auth.mode)
                return response
            method = dialect.method(request.method, request.headers)
            if method in ("GET", "HEAD"):
                stats = ReadStats()
                response = self._read(request, dialect, stats)
                response.items_read, response.store_ms = stats.items_read, stats.store_seconds * 1000
                if self.csrf_token and (request.header("X-CSRF-Token") or "").lower() == "fetch":
                    response.headers["X-CSRF-Token"] = self.csrf_token
                if method == "HEAD":  # the GET's status and headers, no body (RFC 9110 §9.3.2)
                    response.body = b""
                return response
            if method in dialect.write_methods:
                return self._write(request, method, dialect)
            raise ODataError(405, "MethodNotAllowed", f"{method} is not allowed")
        except (ODataError, DomainError) as raised:
            error = raised if isinstance(raised, ODataError) else ODataError.of(raised)
            response = dialect.error(error)
            if error.status == 403 and error.code == "CsrfTokenRequired":
                response.headers["X-CSRF-Token"] = "Required"
            if error.status == 503:  # a dependency (the secret store, ...) did not answer: worth retrying soon
                response.headers["Retry-After"] = "1"
            return response

    def _read(self, request: FeedRequest, dialect: Dialect, stats: ReadStats) -> FeedResponse:
        resource = parse_path(request.path, self.by_name)
        root = request.service_root
        if resource.kind == "service":
            return dialect.service_document(self.entity_sets, root)
        if resource.kind == "metadata":
            return dialect.metadata(self.entity_sets)
        entity_set = self.by_name[resource.entity_set or ""]
        store = self.stores(entity_set, stats)
        raw = request.query_options()
        if resource.kind == "entity":
            options = dialect.entity_options(entity_set, raw)
            row = store.get(resource.key or {})
            if row is None:
                raise ODataError(404, "NotFound", f"No {entity_set.entity_type} with key {resource.key}")
            response = dialect.entity(root, entity_set, row, options)
            response.plan = "get"
            return response
        options = dialect.collection_options(entity_set, raw)
        read_plan = self.planner(entity_set, options)
        self._within_budget(entity_set, read_plan, store)
        if resource.kind == "count":
            response = dialect.count(count_matches(entity_set, options, read_plan, store))
            response.plan = read_plan.describe()
            return response
        page = read_page(
            entity_set,
            options,
            read_plan,
            store,
            service_root=root,
            page_size=self.page_size,
            exact_numbers=dialect.exact_numbers,
        )
        response = self._bounded(dialect, root, entity_set, options, page)
        response.plan = read_plan.describe() + (" (streamed)" if page.streamed else "")
        if read_plan.unserved_order is not None:
            response.unserved_index = read_plan.unserved_order.index_name
        return response

    def _within_budget(self, entity_set: EntitySet, plan: Plan, store: Store) -> None:
        """Refuse a filter whose evaluation over the rows it reads would pass the function's timeout."""
        if plan.residual is None or plan.kind not in ("scan", "query"):
            return
        size = expression_size(plan.residual)
        if size * 1000 <= self.max_filter_work:  # cheap enough for a thousand rows: no count needed to know
            return
        rows = store.count(plan.count_key or ("", None)) if plan.kind == "scan" else None
        if rows is not None and size * rows > self.max_filter_work:
            raise ODataError(
                400,
                "FilterTooComplex",
                f"$filter has {size} terms to check on {rows} rows: narrow it (fewer terms, or a condition an "
                "index answers, such as an equality on the key or a sorted property)",
                "$filter",
            )

    def _bounded(
        self, dialect: Dialect, root: str, entity_set: EntitySet, options: QueryOptions, page: Page
    ) -> FeedResponse:
        """The page rendered, ended early (with a next link) when its Lambda response would pass the limit."""
        response = dialect.collection(root, entity_set, options, page)
        while len(page.rows) > 1 and _lambda_payload_bytes(response.body, self.max_response_bytes) > (
            self.max_response_bytes
        ):
            size = _lambda_payload_bytes(response.body, 0)
            page = page.cut(max(1, int(len(page.rows) * self.max_response_bytes / size * 0.95)))
            response = dialect.collection(root, entity_set, options, page)
        return response

    def _write(self, request: FeedRequest, method: str, dialect: Dialect) -> FeedResponse:
        if self.writes is None:
            raise ODataError(501, "NotImplemented", "This feed is read-only")
        if self.csrf_token and not hmac.compare_digest(
            (request.header("X-CSRF-Token") or "").encode(), self.csrf_token.encode()
        ):
            raise ODataError(403, "CsrfTokenRequired", "Fetch a token with X-CSRF-Token: Fetch first")
        resource = parse_path(request.path, self.by_name)
        entity_set = self.by_name.get(resource.entity_set or "")
        if entity_set is None or resource.kind not in ("collection", "entity"):
            raise ODataError(405, "MethodNotAllowed", f"{method} is not allowed on {request.path}")
        writes = self.writes(entity_set)
        if method == "POST":
            if resource.kind != "collection":
                raise ODataError(405, "MethodNotAllowed", "POST creates in a collection: POST /" + entity_set.name)
            row = writes.create(validate_entity(entity_set, dialect.body(entity_set, request.body), partial=False))
            response = dialect.created(request.service_root, entity_set, row)
            response.plan = "create"
            return response
        if resource.kind != "entity" or resource.key is None:
            raise ODataError(405, "MethodNotAllowed", f"{method} needs an entity: /{entity_set.name}(key)")
        expected = expected_version(request.header("If-Match"))
        if method == "DELETE":
            writes.delete(resource.key, expected)
            response = dialect.deleted()
            response.plan = "delete"
            return response
        partial = dialect.partial(method)
        values = validate_entity(entity_set, dialect.body(entity_set, request.body), partial=partial, key=resource.key)
        if partial:
            row = writes.update(resource.key, values, expected)
        else:
            row = writes.replace(resource.key, values, expected)
        response = dialect.updated(row)
        response.plan = method.lower()
        return response


def _lambda_payload_bytes(body: bytes, budget: int) -> int:
    """The body's size inside Lambda's response JSON (escaped, non-ASCII as \\u escapes); measured only when the
    quick bound (at most 6 bytes per body byte) could pass the budget."""
    if len(body) * 6 <= budget:
        return len(body)
    return len(json.dumps(body.decode("utf-8")))
