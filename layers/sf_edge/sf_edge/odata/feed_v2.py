"""The OData 2.0 feed: the 4.0 feed's storage, planner, engine, auth and writes, with 2.0's options and formats."""

from __future__ import annotations

import json
from typing import Any

from sf_edge.odata import v2
from sf_edge.odata.engine import matches, offset_page, streamed
from sf_edge.odata.feed import Feed, FeedRequest, FeedResponse
from sf_edge.odata.request import ODataError, bind_options, parse_path, parse_query_string
from sf_edge.odata.schema import EntitySet
from sf_edge.odata.writes import etag, expected_version, validate_entity

VERSION_HEADER = {"DataServiceVersion": "2.0"}


class FeedV2:
    """Serves `/odata/v2/` from the same declarations and storage as a 4.0 `Feed`."""

    def __init__(self, feed: Feed, search_parameter: str = "doSearch") -> None:
        self.feed = feed
        self.search_parameter = search_parameter

    def handle(self, request: FeedRequest) -> FeedResponse:
        """Answer one request in the format the client asked for; never raises for bad input."""
        raw = parse_query_string_safe(request.query)
        try:
            atom = v2.wants_atom(request.header("Accept"), raw.get("$format"))
        except ODataError:
            atom = False
        try:
            if not self.feed.auth.allows(request.headers):
                response = self._error(ODataError(401, "Unauthorized", "Missing or invalid credentials"), atom)
                response.headers["WWW-Authenticate"] = 'Basic realm="odata"'
                return response
            method = (request.header("X-HTTP-Method") or request.method).upper()
            if method in ("GET", "HEAD"):
                return self._read(request, parse_query_string(request.query), atom)
            if method in ("POST", "PUT", "MERGE", "PATCH", "DELETE"):
                return self._write(request, method, atom)
            raise ODataError(405, "MethodNotAllowed", f"{method} is not allowed")
        except ODataError as error:
            return self._error(error, atom)

    def _read(self, request: FeedRequest, raw: dict[str, str], atom: bool) -> FeedResponse:
        resource = parse_path(request.path, self.feed.by_name)
        root = request.service_root
        sets = self.feed.entity_sets
        if resource.kind == "service":
            if atom:
                return _xml(v2.service_document_xml(sets, root), "application/atomsvc+xml;charset=utf-8")
            return _json(v2.service_document_json(sets))
        if resource.kind == "metadata":
            return _xml(v2.metadata_xml(sets), "application/xml;charset=utf-8")
        entity_set = self.feed.by_name[resource.entity_set or ""]
        table = self.feed.tables(entity_set)
        if resource.kind == "entity":
            options = bind_options(entity_set, {k: v for k, v in raw.items() if k == "$select"}, v2=True)
            row = table.get(resource.key or {})
            if row is None:
                raise ODataError(404, "NotFound", f"No {entity_set.entity_type} with key {resource.key}")
            if atom:
                response = _xml(v2.atom_entry(root, entity_set, row, options.select), v2.ATOM_ENTRY)
            else:
                response = _json({"d": v2.json_entity(root, entity_set, row, options.select)})
            response.headers["ETag"] = etag(row)
            response.items_read, response.plan = table.items_read, "get"
            return response
        options = v2.bind_v2_options(entity_set, raw, self.search_parameter)
        read_plan = self.feed.planner(entity_set, options.filter)
        if resource.kind == "count":
            count = sum(1 for row in table.read(read_plan) if matches(options, entity_set, row))
            return FeedResponse(
                200,
                {"Content-Type": "text/plain", **VERSION_HEADER},
                str(count).encode(),
                table.items_read,
                read_plan.describe(),
            )
        if options.streamable and read_plan.kind != "get":
            rows = table.read(read_plan, after=options.skiptoken.after, batch=self.feed.page_size + 1)
            page = streamed(
                entity_set,
                options,
                rows,
                table.resume_keys(read_plan),
                service_root=root,
                page_size=self.feed.page_size,
            )
            described = read_plan.describe() + " (streamed)"
        else:
            page = offset_page(
                entity_set, options, table.read(read_plan), service_root=root, page_size=self.feed.page_size
            )
            described = read_plan.describe()
        if atom:
            body = v2.atom_feed(root, entity_set, page.rows, options.select, page.total, page.next_link)
            response = _xml(body, v2.ATOM_FEED)
        else:
            response = _json(
                v2.json_collection(root, entity_set, page.rows, options.select, page.total, page.next_link)
            )
        response.items_read, response.plan = table.items_read, described
        return response

    def _write(self, request: FeedRequest, method: str, atom: bool) -> FeedResponse:
        writes_factory = self.feed.writes
        if writes_factory is None:
            raise ODataError(501, "NotImplemented", "This feed is read-only")
        resource = parse_path(request.path, self.feed.by_name)
        entity_set = self.feed.by_name.get(resource.entity_set or "")
        if entity_set is None or resource.kind not in ("collection", "entity"):
            raise ODataError(405, "MethodNotAllowed", f"{method} is not allowed on {request.path}")
        writes = writes_factory(entity_set)
        if method == "POST" and resource.kind == "collection":
            values = validate_entity(entity_set, _body(entity_set, request), partial=False)
            row = writes.create(values)
            body = json.dumps({"d": v2.json_entity(request.service_root, entity_set, row, None)}).encode()
            headers = {
                "Content-Type": v2.JSON,
                **VERSION_HEADER,
                "ETag": etag(row),
                "Location": v2.entity_uri(request.service_root, entity_set, row),
            }
            return FeedResponse(201, headers, body, plan="create")
        if resource.kind != "entity" or resource.key is None:
            raise ODataError(405, "MethodNotAllowed", f"{method} needs an entity: /{entity_set.name}(key)")
        expected = expected_version(request.header("If-Match"))
        if method == "DELETE":
            writes.delete(resource.key, expected)
            return FeedResponse(204, dict(VERSION_HEADER), b"", plan="delete")
        partial = method in ("MERGE", "PATCH", "POST")
        values = validate_entity(entity_set, _body(entity_set, request), partial=partial, key=resource.key)
        row = (
            writes.update(resource.key, values, expected) if partial else writes.replace(resource.key, values, expected)
        )
        return FeedResponse(204, {**VERSION_HEADER, "ETag": etag(row)}, b"", plan=method.lower())

    @staticmethod
    def _error(error: ODataError, atom: bool) -> FeedResponse:
        if atom:
            return FeedResponse(
                error.status,
                {"Content-Type": "application/xml;charset=utf-8", **VERSION_HEADER},
                v2.error_xml(error),
                plan=error.code,
            )
        return FeedResponse(
            error.status,
            {"Content-Type": v2.JSON, **VERSION_HEADER},
            json.dumps(v2.error_json(error)).encode(),
            plan=error.code,
        )


def parse_query_string_safe(query: str) -> dict[str, str]:
    """The options, or none when the query string itself is malformed (reported later, in the right format)."""
    try:
        return parse_query_string(query)
    except ODataError:
        return {}


def _body(entity_set: EntitySet, request: FeedRequest) -> Any:
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, RecursionError):
        raise ODataError(400, "InvalidBody", "The body is not valid JSON") from None
    if isinstance(body, dict) and isinstance(body.get("d"), dict):
        body = body["d"]
    if not isinstance(body, dict):
        return body
    converted: dict[str, Any] = {}
    for name, value in body.items():
        if name == "__metadata":
            continue
        prop = entity_set.property(name)
        converted[name] = v2.from_json_value(prop, value) if prop is not None else value
    return converted


def _json(body: dict[str, Any]) -> FeedResponse:
    return FeedResponse(
        200,
        {"Content-Type": v2.JSON, **VERSION_HEADER},
        json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
    )


def _xml(body: bytes, content_type: str) -> FeedResponse:
    return FeedResponse(200, {"Content-Type": content_type, **VERSION_HEADER}, body)
