"""A real HTTP/1.1 server that turns requests into API Gateway REST proxy events for the template's routes."""

from __future__ import annotations

import base64
import logging
import socket
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from local_runtime.lambda_host import LocalFunction
from local_runtime.template import Route

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's limit
log = logging.getLogger("local_runtime.gateway")


class LocalApiGateway(ThreadingHTTPServer):
    """Serves the routes of template.yaml on loopback."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], routes: list[Route], functions: dict[str, LocalFunction], stage: str
    ) -> None:
        self.routes = routes
        self.functions = functions
        self.stage = stage
        super().__init__(address, _RequestHandler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LocalApiGateway

    def do_GET(self) -> None:
        self._dispatch()

    def __getattr__(self, name: str) -> Any:
        # Every method (POST, DELETE, TRACE, QUERY, ...) goes to the route: the function decides, as behind ANY.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def _dispatch(self) -> None:
        started = time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD_BYTES:
            self.close_connection = True
            self._send(413, {"Content-Type": "application/json"}, b'{"message":"Request Too Long"}')
            return
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        route_path = split.path.rstrip("/") or "/"  # API Gateway matches /odata/v4/ to the /odata/v4 resource
        for route in self.server.routes:
            params = route.match(self.command, route_path)
            if params is not None:
                break
        else:
            self._send(403, {"Content-Type": "application/json"}, b'{"message":"Missing Authentication Token"}')
            return
        if route.payload == "2.0":
            event = self._http_api_event(route, params, split.path, split.query, body)
        else:
            event = self._event(route, params, split.path, split.query, body)
        try:
            response = self.server.functions[route.function].invoke(event)
        except Exception:
            log.exception("%s raised", route.function)
            self._send(502, {"Content-Type": "application/json"}, b'{"message": "Internal server error"}')
            return
        headers = dict(response.get("headers") or {})
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(values)
        raw = response.get("body") or ""
        payload = base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode("utf-8")
        self._send(int(response.get("statusCode", 200)), headers, payload)
        log.info(
            "%s %s -> %s in %.1f ms",
            self.command,
            split.path,
            response.get("statusCode"),
            (time.perf_counter() - started) * 1000,
        )

    def _event(self, route: Route, params: dict[str, str], path: str, query: str, body: bytes) -> dict[str, Any]:
        # As API Gateway (REST) does: values percent-decoded, `+` left as it is.
        pairs = [(unquote(k), unquote(v)) for k, _, v in (p.partition("=") for p in query.split("&") if p)]
        multi_query: dict[str, list[str]] = {}
        for key, value in pairs:
            multi_query.setdefault(key, []).append(value)
        multi_headers: dict[str, list[str]] = {"X-Forwarded-Proto": ["http"]}
        for key, value in self.headers.items():
            multi_headers.setdefault(key, []).append(value)
        try:
            text, encoded = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode("ascii"), True
        request_id = str(uuid.uuid4())
        return {
            "resource": route.path,
            "path": path,
            "httpMethod": self.command,
            "headers": {k: v[-1] for k, v in multi_headers.items()},
            "multiValueHeaders": multi_headers,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": route.path,
                "httpMethod": self.command,
                "path": path,  # no stage in local URLs
                "domainName": self.headers.get("Host", ""),
                "stage": self.server.stage,
                "requestId": request_id,
                "extendedRequestId": request_id,
                "accountId": "123456789012",
                "apiId": "local",
                "protocol": self.request_version,
                "requestTimeEpoch": int(time.time() * 1000),
                "identity": {"sourceIp": self.client_address[0], "userAgent": self.headers.get("User-Agent")},
            },
            "body": text if body else None,
            "isBase64Encoded": encoded,
        }

    def _http_api_event(
        self, route: Route, params: dict[str, str], path: str, query: str, body: bytes
    ) -> dict[str, Any]:
        """An HTTP API (payload 2.0) event: the query string as sent, headers lower-cased and joined by commas."""
        headers: dict[str, str] = {"x-forwarded-proto": "http"}
        for key, value in self.headers.items():
            name = key.lower()
            headers[name] = f"{headers[name]},{value}" if name in headers and name != "x-forwarded-proto" else value
        decoded: dict[str, str] = {}
        for name, _, value in (p.partition("=") for p in query.split("&") if p):
            key = unquote(name)
            decoded[key] = f"{decoded[key]},{unquote(value)}" if key in decoded else unquote(value)
        try:
            text, encoded = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode("ascii"), True
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
                "domainName": self.headers.get("Host", ""),
                "domainPrefix": "local",
                "http": {
                    "method": self.command,
                    "path": path,
                    "protocol": self.request_version,
                    "sourceIp": self.client_address[0],
                    "userAgent": self.headers.get("User-Agent", ""),
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

    def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        """Status line, headers and body in one write: no Nagle/delayed-ACK stall on keep-alive connections."""
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        lines = [f"HTTP/1.1 {status} {phrase}"]
        headers = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "connection")}
        headers.setdefault("Content-Type", "application/json")
        headers["x-amzn-RequestId"] = headers.get("x-amzn-RequestId", str(uuid.uuid4()))
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(payload)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + (b"" if self.command == "HEAD" else payload))
