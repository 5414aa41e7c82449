"""What differs between OData 4.0 and 2.0, and nothing else: option names, literals, bodies, formats, errors.

The feed (`sf_edge.odata.feed`) runs one pipeline for both versions (authenticate, parse the path, bind the options,
plan, read, page) and asks a dialect only how to read a request and how to write an answer. A dialect is chosen
per request by the endpoint's prefix; `negotiate` binds it to the format the client asked for (2.0: JSON verbose
or AtomPub).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any, Protocol
from urllib.parse import quote

from sf_edge.headers import Headers
from sf_edge.odata import v2
from sf_edge.odata.csdl import metadata_xml, service_document
from sf_edge.odata.engine import Page, context_url, project, project_all
from sf_edge.odata.request import ODataError, QueryOptions, bind_options
from sf_edge.odata.schema import NAMESPACE, EntitySet
from sf_edge.odata.writes import etag

V4_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
METADATA_LEVELS = ("minimal", "full", "none")
# Types a JSON value already says (OData JSON 4.0 §4.5.3): every other one is annotated in full metadata.
_SELF_DESCRIBING = frozenset({"String", "Boolean", "Double"})


def metadata_level(accept: str | None, format_option: str | None) -> str:
    """The `odata.metadata` a 4.0 request asks for ($format first, then the first JSON media range of Accept that
    names one); minimal when none does. A level OData does not define is returned as given, to be refused."""
    for media in ([format_option] if format_option else []) + (accept or "").split(","):
        kind, *parameters = (part.strip() for part in media.split(";"))
        if kind.lower() not in ("application/json", "json", "*/*", "application/*"):
            continue
        for parameter in parameters:
            name, _, value = (text.strip().lower() for text in parameter.partition("="))
            if name == "odata.metadata":
                return value
            if name == "odata":  # the pre-4.0 spelling: odata=fullmetadata
                return value.removesuffix("metadata")
    return "minimal"


@dataclass
class FeedResponse:
    """An answer: status, headers, body, and what it cost (items read, the plan, ms waiting on the store)."""

    status: int
    headers: dict[str, str]
    body: bytes
    items_read: int = 0
    plan: str = ""
    store_ms: float = 0.0
    unserved_index: str | None = None  # the GSI that would serve this request's $orderby, when none does


class Dialect(Protocol):
    """One OData version's reading of requests and writing of answers."""

    @property
    def name(self) -> str: ...

    @property
    def version_headers(self) -> Mapping[str, str]: ...

    @property
    def write_methods(self) -> frozenset[str]: ...

    @property
    def exact_numbers(self) -> bool:
        """Whether rows must carry decimals as Decimal (2.0 writes them as strings) rather than stored text."""
        ...

    def negotiate(self, headers: Mapping[str, str], format_option: str | None) -> Dialect: ...

    def method(self, method: str, headers: Mapping[str, str]) -> str: ...

    def entity_options(self, entity_set: EntitySet, raw: dict[str, str]) -> QueryOptions: ...

    def collection_options(self, entity_set: EntitySet, raw: dict[str, str]) -> QueryOptions: ...

    def body(self, entity_set: EntitySet, payload: bytes) -> Any: ...

    def partial(self, method: str) -> bool: ...

    def service_document(self, entity_sets: tuple[EntitySet, ...], root: str) -> FeedResponse: ...

    def metadata(self, entity_sets: tuple[EntitySet, ...]) -> FeedResponse: ...

    def entity(self, root: str, entity_set: EntitySet, row: dict[str, Any], options: QueryOptions) -> FeedResponse: ...

    def collection(self, root: str, entity_set: EntitySet, options: QueryOptions, page: Page) -> FeedResponse: ...

    def count(self, total: int) -> FeedResponse: ...

    def created(self, root: str, entity_set: EntitySet, row: dict[str, Any]) -> FeedResponse: ...

    def updated(self, row: dict[str, Any]) -> FeedResponse: ...

    def deleted(self) -> FeedResponse: ...

    def error(self, error: ODataError) -> FeedResponse: ...

    def challenge(self, auth_mode: str) -> str: ...


@cache
def _v4_json(level: str) -> str:
    return V4_JSON.replace("odata.metadata=minimal", f"odata.metadata={level}")


def _key_text(entity_set: EntitySet, row: dict[str, Any]) -> str:
    """The key predicate's text: `10248`, `'ALFKI'` or `OrderID=10248,ProductID=11`."""
    if len(entity_set.key) == 1:
        return key_literal(row[entity_set.key[0]])
    return ",".join(f"{k}={key_literal(row[k])}" for k in entity_set.key)


def json_number(value: Any) -> Any:
    """`default` of orjson.dumps: a Decimal as a JSON number with every digit it has (a float would keep 17), in
    plain notation, as a number the request only writes out comes from the store."""
    if isinstance(value, Decimal):
        from orjson import Fragment  # loaded already: orjson.dumps is what calls this

        return Fragment(format(value, "f"))
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _json_bytes(body: Any) -> bytes:
    import orjson  # several times faster than json on the pages of thousands of rows a feed writes

    return orjson.dumps(body, default=json_number)


def _json_body(payload: bytes) -> Any:
    try:
        return json.loads(payload or b"null")
    except (ValueError, RecursionError):
        raise ODataError(400, "InvalidBody", "The body is not valid JSON") from None


KEY_SAFE = "'=,()"


def key_literal(value: Any) -> str:
    """A key value as it appears in a resource path: strings quoted with '' escaping."""
    return "'" + str(value).replace("'", "''") + "'" if isinstance(value, str) else str(value)


@cache
def _v4_metadata(entity_sets: tuple[EntitySet, ...]) -> bytes:
    return metadata_xml(entity_sets)


@cache
def _v2_metadata(entity_sets: tuple[EntitySet, ...]) -> bytes:
    return v2.metadata_xml(entity_sets)


@dataclass(frozen=True)
class V4:
    """OData 4.0 JSON, in the metadata level the client asks for (JSON 4.0 §3.1): `minimal` (the default, what
    Salesforce Connect reads), `full` (each entity's type, id, edit link and ETag, and the type of every value JSON
    does not say) or `none` (no control information but the count and the next link)."""

    name: str = "4.0"
    version_headers: Mapping[str, str] = dataclasses.field(default_factory=lambda: {"OData-Version": "4.0"})
    write_methods: frozenset[str] = frozenset({"POST", "PUT", "PATCH", "DELETE"})
    exact_numbers: bool = False
    level: str = "minimal"  # odata.metadata

    def negotiate(self, headers: Mapping[str, str], format_option: str | None) -> V4:
        level = metadata_level(Headers(headers).get("accept"), format_option)
        return self if level == self.level else dataclasses.replace(self, level=level)

    def method(self, method: str, headers: Mapping[str, str]) -> str:
        return method

    def _acceptable(self) -> None:
        if self.level not in METADATA_LEVELS:
            raise ODataError(
                406,
                "NotAcceptable",
                f"odata.metadata={self.level[:40]} is not a metadata level: ask for minimal, full or none",
            )

    def entity_options(self, entity_set: EntitySet, raw: dict[str, str]) -> QueryOptions:
        self._acceptable()
        return bind_options(entity_set, raw)

    def collection_options(self, entity_set: EntitySet, raw: dict[str, str]) -> QueryOptions:
        self._acceptable()
        return bind_options(entity_set, raw)

    def body(self, entity_set: EntitySet, payload: bytes) -> Any:
        return _json_body(payload)

    def partial(self, method: str) -> bool:
        return method == "PATCH"

    def _json(self, body: dict[str, Any], status: int = 200) -> FeedResponse:
        content_type = _v4_json(self.level) if self.level in ("full", "none") else V4_JSON
        return FeedResponse(status, {"Content-Type": content_type, **self.version_headers}, _json_bytes(body))

    def _context(self, url: str) -> dict[str, Any]:
        return {} if self.level == "none" else {"@odata.context": url}

    def _entity(
        self, root: str, entity_set: EntitySet, row: dict[str, Any], values: dict[str, Any], *, whole: bool = True
    ) -> dict[str, Any]:
        """An entity's values with the control information of the metadata level; the ETag from the row's version
        when the row is the stored one (`whole`), not a projection the store already cut to the selection."""
        if self.level == "none":
            return values
        versioned = {"@odata.etag": etag(row)} if whole else {}
        if self.level != "full":
            return {**versioned, **values}
        control: dict[str, Any] = {"@odata.type": f"#{NAMESPACE}.{entity_set.entity_type}"}
        if all(row.get(k) is not None for k in entity_set.key):
            link = f"{root}{entity_set.name}({quote(_key_text(entity_set, row), safe=KEY_SAFE)})"
            control |= {"@odata.id": link, "@odata.editLink": link}
        annotated: dict[str, Any] = {}
        for name, value in values.items():
            prop = entity_set.property(name)
            if value is not None and prop is not None and prop.type not in _SELF_DESCRIBING:
                annotated[f"{name}@odata.type"] = f"#{prop.type}"
            annotated[name] = value
        return {**control, **versioned, **annotated}

    def service_document(self, entity_sets: tuple[EntitySet, ...], root: str) -> FeedResponse:
        body = service_document(entity_sets, root)
        if self.level == "none":
            body.pop("@odata.context", None)
        return self._json(body)

    def metadata(self, entity_sets: tuple[EntitySet, ...]) -> FeedResponse:
        return FeedResponse(200, {"Content-Type": "application/xml", **self.version_headers}, _v4_metadata(entity_sets))

    def entity(self, root: str, entity_set: EntitySet, row: dict[str, Any], options: QueryOptions) -> FeedResponse:
        body = {
            **self._context(context_url(root, entity_set, options.select, entity=True)),
            **self._entity(root, entity_set, row, project(entity_set, row, options.select)),
        }
        response = self._json(body)
        response.headers["ETag"] = etag(row)
        return response

    def collection(self, root: str, entity_set: EntitySet, options: QueryOptions, page: Page) -> FeedResponse:
        body: dict[str, Any] = self._context(context_url(root, entity_set, options.select))
        if page.total is not None:
            body["@odata.count"] = page.total
        values = page.rows if page.projected else project_all(entity_set, page.rows, options.select)
        if self.level == "full":  # the rows' own values: the key and version, even when not selected
            values = [
                self._entity(root, entity_set, row, value, whole=not page.projected)
                for row, value in zip(page.rows, values, strict=True)
            ]
        body["value"] = values
        if page.next_link:
            body["@odata.nextLink"] = page.next_link
        return self._json(body)

    def count(self, total: int) -> FeedResponse:
        return FeedResponse(200, {"Content-Type": "text/plain", **self.version_headers}, str(total).encode())

    def created(self, root: str, entity_set: EntitySet, row: dict[str, Any]) -> FeedResponse:
        body = {
            **self._context(context_url(root, entity_set, None, entity=True)),
            **self._entity(root, entity_set, row, project(entity_set, row, None)),
        }
        response = self._json(body, 201)
        location = (
            f"{root}{entity_set.name}({quote(_key_text(entity_set, row), safe=KEY_SAFE)})"  # never a header break
        )
        response.headers |= {"ETag": etag(row), "Location": location}
        return response

    def updated(self, row: dict[str, Any]) -> FeedResponse:
        return FeedResponse(204, {**self.version_headers, "ETag": etag(row)}, b"")

    def deleted(self) -> FeedResponse:
        return FeedResponse(204, dict(self.version_headers), b"")

    def error(self, error: ODataError) -> FeedResponse:
        return FeedResponse(
            error.status,
            {"Content-Type": "application/json", **self.version_headers},
            json.dumps(error.body()).encode(),
            plan=error.code,
        )

    def challenge(self, auth_mode: str) -> str:
        return 'Basic realm="odata"' if auth_mode == "basic" else "ApiKey"


@dataclass(frozen=True)
class V2:
    """OData 2.0: JSON verbose or AtomPub, 2.0's option names, and Salesforce's custom search parameter."""

    search_parameter: str = "doSearch"
    atom: bool = False
    name: str = "2.0"
    version_headers: Mapping[str, str] = dataclasses.field(default_factory=lambda: {"DataServiceVersion": "2.0"})
    write_methods: frozenset[str] = frozenset({"POST", "PUT", "PATCH", "MERGE", "DELETE"})
    exact_numbers: bool = True

    def negotiate(self, headers: Mapping[str, str], format_option: str | None) -> V2:
        accept = Headers(headers).get("accept")
        try:
            atom = v2.wants_atom(accept, format_option)
        except ODataError:
            atom = False
        return dataclasses.replace(self, atom=atom)

    def method(self, method: str, headers: Mapping[str, str]) -> str:
        # Method tunnelling (X-HTTP-Method: MERGE on a POST) exists for clients that can only POST; a GET or HEAD
        # never becomes a write.
        if method != "POST":
            return method
        tunnelled = Headers(headers).get("x-http-method")
        return tunnelled.upper() if tunnelled else method

    def entity_options(self, entity_set: EntitySet, raw: dict[str, str]) -> QueryOptions:
        return bind_options(entity_set, {k: v for k, v in raw.items() if k == "$select"}, v2=True)

    def collection_options(self, entity_set: EntitySet, raw: dict[str, str]) -> QueryOptions:
        return v2.bind_v2_options(entity_set, raw, self.search_parameter)

    def body(self, entity_set: EntitySet, payload: bytes) -> Any:
        body = _json_body(payload)
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

    def partial(self, method: str) -> bool:
        return method in ("MERGE", "PATCH")

    def _json(self, body: dict[str, Any], status: int = 200) -> FeedResponse:
        return FeedResponse(status, {"Content-Type": v2.JSON, **self.version_headers}, _json_bytes(body))

    def _xml(self, body: bytes, content_type: str) -> FeedResponse:
        return FeedResponse(200, {"Content-Type": content_type, **self.version_headers}, body)

    def service_document(self, entity_sets: tuple[EntitySet, ...], root: str) -> FeedResponse:
        if self.atom:
            return self._xml(v2.service_document_xml(entity_sets, root), "application/atomsvc+xml;charset=utf-8")
        return self._json(v2.service_document_json(entity_sets))

    def metadata(self, entity_sets: tuple[EntitySet, ...]) -> FeedResponse:
        return self._xml(_v2_metadata(entity_sets), "application/xml;charset=utf-8")

    def entity(self, root: str, entity_set: EntitySet, row: dict[str, Any], options: QueryOptions) -> FeedResponse:
        if self.atom:
            response = self._xml(v2.atom_entry(root, entity_set, row, options.select), v2.ATOM_ENTRY)
        else:
            response = self._json({"d": v2.json_entity(root, entity_set, row, options.select)})
        response.headers["ETag"] = etag(row)
        return response

    def collection(self, root: str, entity_set: EntitySet, options: QueryOptions, page: Page) -> FeedResponse:
        if self.atom:
            body = v2.atom_feed(root, entity_set, page.rows, options.select, page.total, page.next_link)
            return self._xml(body, v2.ATOM_FEED)
        return self._json(v2.json_collection(root, entity_set, page.rows, options.select, page.total, page.next_link))

    def count(self, total: int) -> FeedResponse:
        return FeedResponse(200, {"Content-Type": "text/plain", **self.version_headers}, str(total).encode())

    def created(self, root: str, entity_set: EntitySet, row: dict[str, Any]) -> FeedResponse:
        body = _json_bytes({"d": v2.json_entity(root, entity_set, row, None)})
        headers = {
            "Content-Type": v2.JSON,
            **self.version_headers,
            "ETag": etag(row),
            "Location": v2.entity_uri(root, entity_set, row),
        }
        return FeedResponse(201, headers, body)

    def updated(self, row: dict[str, Any]) -> FeedResponse:
        return FeedResponse(204, {**self.version_headers, "ETag": etag(row)}, b"")

    def deleted(self) -> FeedResponse:
        return FeedResponse(204, dict(self.version_headers), b"")

    def error(self, error: ODataError) -> FeedResponse:
        if self.atom:
            return FeedResponse(
                error.status,
                {"Content-Type": "application/xml;charset=utf-8", **self.version_headers},
                v2.error_xml(error),
                plan=error.code,
            )
        return FeedResponse(
            error.status,
            {"Content-Type": v2.JSON, **self.version_headers},
            json.dumps(v2.error_json(error)).encode(),
            plan=error.code,
        )

    def challenge(self, auth_mode: str) -> str:
        return 'Basic realm="odata"' if auth_mode == "basic" else "ApiKey"
