"""`make run`'s HTTP front door: werkzeug's threaded server (HTTP/1.1 parsing, chunked bodies, keep-alive, listen
backlog, socket timeouts) with API Gateway's translation of a request into a Lambda proxy event for the template's
routes: REST API events (payload 1.0) for `Api` routes, HTTP API events (payload 2.0) for `HttpApi` routes.
"""

from __future__ import annotations

import base64
import logging
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote, unquote_plus

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from local_runtime.lambda_host import LocalFunction
from local_runtime.template import Route

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's limit
SOCKET_TIMEOUT_SECONDS = 30  # a client that stops sending mid-request is dropped, not waited for
log = logging.getLogger("local_runtime.gateway")


class _Handler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Salesforce and benchmark clients use it
    wbufsize = 64 * 1024  # headers and body leave in one segment: no Nagle / delayed-ACK stall on keep-alive
    timeout = SOCKET_TIMEOUT_SECONDS

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s -> %s", self.command, self.path, code)


class LocalApiGateway:
    """Serves the routes of template.yaml on loopback."""

    def __init__(
        self, address: tuple[str, int], routes: list[Route], functions: dict[str, LocalFunction], stage: str
    ) -> None:
        self.routes = routes
        self.functions = functions
        self.stage = stage
        self.server: BaseWSGIServer = make_server(
            address[0], address[1], self._wsgi, threaded=True, request_handler=_Handler
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def server_address(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def shutdown(self) -> None:
        self.server.shutdown()

    def server_close(self) -> None:
        self.server.server_close()

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return self.answer(Request(environ))(environ, start_response)

    def _unrouted(self, path: str) -> Response:
        """What API Gateway answers for a method or path no route has: an HTTP API (payload 2.0) a 404, a REST API
        the 403 "Missing Authentication Token"."""
        first = path.strip("/").split("/", 1)[0]
        if any(r.payload == "2.0" and r.path.strip("/").split("/", 1)[0] == first for r in self.routes):
            return _json(404, b'{"message":"Not Found"}')
        return _json(403, b'{"message":"Missing Authentication Token"}')

    def answer(self, request: Request) -> Response:
        """One request, as API Gateway and Lambda would answer it."""
        started = time.perf_counter()
        declared = request.headers.get("Content-Length")
        if declared is not None and not declared.strip().isdigit():
            return _json(400, b'{"message":"Bad Request: Content-Length"}', close=True)
        if request.content_length is not None and request.content_length > MAX_PAYLOAD_BYTES:
            return _json(413, b'{"message":"Request Too Long"}', close=True)
        body = request.stream.read(MAX_PAYLOAD_BYTES + 1)  # chunked bodies arrive de-chunked, up to the limit
        if len(body) > MAX_PAYLOAD_BYTES:
            return _json(413, b'{"message":"Request Too Long"}', close=True)
        raw_path = _raw_path(request)
        route_path = unquote(raw_path).rstrip("/") or "/"  # API Gateway matches /odata/v4/ to /odata/v4
        for route in self.routes:
            params = route.match(request.method, route_path)
            if params is not None:
                break
        else:
            return self._unrouted(route_path)
        query = request.query_string.decode("latin-1")
        event = (
            _http_api_event(request, raw_path, route, params, query, body)
            if route.payload == "2.0"
            else _rest_event(request, raw_path, route, params, query, body, self.stage)
        )
        try:
            result = self.functions[route.function].invoke(event)
        except Exception:
            log.exception("%s raised", route.function)
            return _json(502, b'{"message": "Internal server error"}')
        headers = dict(result.get("headers") or {})
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(values)
        raw = result.get("body") or ""
        payload = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode("utf-8")
        headers = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "connection")}
        headers.setdefault("Content-Type", "application/json")
        headers.setdefault("x-amzn-RequestId", str(uuid.uuid4()))
        log.info(
            "%s %s -> %s in %.1f ms",
            request.method,
            request.path,
            result.get("statusCode"),
            (time.perf_counter() - started) * 1000,
        )
        return Response(payload, status=int(result.get("statusCode", 200)), headers=headers)


def _json(status: int, body: bytes, *, close: bool = False) -> Response:
    response = Response(body, status=status, content_type="application/json")
    if close:
        response.headers["Connection"] = "close"
    return response


def _raw_path(request: Request) -> str:
    """The path as the client sent it (percent-escapes kept), as API Gateway passes it on."""
    raw = str(request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path)
    return raw.split("?", 1)[0] or "/"


def _rest_event(
    request: Request, path: str, route: Route, params: dict[str, str], query: str, body: bytes, stage: str
) -> dict[str, Any]:
    """A REST API (payload 1.0) event: query values decoded as a form is (`+` a space, `%2B` a plus), as API Gateway
    and SAM CLI's emulator give them."""
    multi_query: dict[str, list[str]] = {}
    for key, _, value in (p.partition("=") for p in query.split("&") if p):
        multi_query.setdefault(unquote_plus(key), []).append(unquote_plus(value))
    multi_headers: dict[str, list[str]] = {"X-Forwarded-Proto": ["http"]}
    for key, value in request.headers.items():
        multi_headers.setdefault(key, []).append(value)
    text, encoded = _body_text(body)
    request_id = str(uuid.uuid4())
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": request.method,
        "headers": {k: v[-1] for k, v in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": route.path,
            "httpMethod": request.method,
            "path": path,  # no stage in local URLs
            "domainName": request.host,
            "stage": stage,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "accountId": "123456789012",
            "apiId": "local",
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": request.remote_addr, "userAgent": request.headers.get("User-Agent")},
        },
        "body": text if body else None,
        "isBase64Encoded": encoded,
    }


def _http_api_event(
    request: Request, path: str, route: Route, params: dict[str, str], query: str, body: bytes
) -> dict[str, Any]:
    """An HTTP API (payload 2.0) event: the query string as sent, headers lower-cased and joined by commas."""
    headers: dict[str, str] = {"x-forwarded-proto": "http"}
    for key, value in request.headers.items():
        name = key.lower()
        headers[name] = f"{headers[name]},{value}" if name in headers and name != "x-forwarded-proto" else value
    decoded: dict[str, str] = {}
    for name, _, value in (p.partition("=") for p in query.split("&") if p):
        key = unquote(name)
        decoded[key] = f"{decoded[key]},{unquote(value)}" if key in decoded else unquote(value)
    text, encoded = _body_text(body)
    request_id = str(uuid.uuid4())
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{route.method} {route.path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": request.host,
            "domainPrefix": "local",
            "http": {
                "method": request.method,
                "path": path,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": request.remote_addr,
                "userAgent": request.headers.get("User-Agent", ""),
            },
            "requestId": request_id,
            "routeKey": f"{route.method} {route.path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": encoded,
    }
    if decoded:
        event["queryStringParameters"] = decoded
    if params:
        event["pathParameters"] = params
    if body:
        event["body"] = text
    return event


def _body_text(body: bytes) -> tuple[str, bool]:
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True
