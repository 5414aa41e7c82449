"""`make run`'s stand-in for the system a webhook target calls: an HTTP server on loopback that takes the hub's
events as a user's system would (the API key checked, each change applied once by its `detail.key`) and lists
what it received on GET. Not a real system: it keeps the events in memory, and tests script its failures."""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from local_runtime.api_destinations import LOCAL_WEBHOOK_KEY


@dataclass
class WebhookReceiver:
    """Start with start(); `url` is what the webhook target's WebhookUrl points at."""

    api_key: str = LOCAL_WEBHOOK_KEY
    api_key_header: str = "x-api-key"
    port: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)  # each change once, in the order taken
    answers: list[int] = field(default_factory=list)  # every status answered, duplicates and failures too
    _keys: set[str] = field(default_factory=set)
    _faults: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> Self:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                given = self.headers.get(receiver.api_key_header, "")
                self._answer(*receiver.take(body, given))

            def do_GET(self) -> None:
                with receiver._lock:
                    listed = [
                        {"detailType": e.get("detail-type"), "key": e.get("detail", {}).get("key")}
                        for e in receiver.received
                    ]
                self._answer(200, {"received": len(listed), "events": listed})

            def _answer(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/changes"

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next `times` deliveries with `status` (a system down: 503; refusing: 400)."""
        with self._lock:
            self._faults.extend([status] * times)

    def take(self, body: bytes, api_key: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            status, payload = self._take(body, api_key)
            self.answers.append(status)
        return status, payload

    def _take(self, body: bytes, api_key: str) -> tuple[int, dict[str, Any]]:
        if not secrets.compare_digest(api_key.encode(), self.api_key.encode()):
            return 401, {"error": "wrong or missing API key"}
        if self._faults:
            return self._faults.pop(0), {"error": "scripted failure"}
        try:
            event = json.loads(body)
            key = str(event["detail"]["key"])
        except (ValueError, KeyError, TypeError):
            return 400, {"error": "not a change event"}
        if key in self._keys:
            return 200, {"duplicate": True}  # applied before: taken again, not applied twice
        self._keys.add(key)
        self.received.append(event)
        return 200, {"applied": key}
