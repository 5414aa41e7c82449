"""`make run`'s front door under what a hostile review threw at it (issue 11): a burst of concurrent connections,
chunked bodies, a negative Content-Length, a client that stops sending. It is werkzeug's server now; only the API
Gateway translation is ours."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from conftest import ROOT, TOKEN, serving
from local_runtime.aws_local import LocalAws
from local_runtime.stack import LocalStack


@pytest.fixture(scope="module")
def server(local_aws: LocalAws) -> Iterator[LocalStack]:
    with serving(local_aws, indexer=False) as stack:
        yield stack


def address(server: LocalStack) -> tuple[str, int]:
    parts = urlsplit(server.url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def raw(server: LocalStack, request: bytes, timeout: float = 10) -> bytes:
    """Send bytes as they are; the whole answer, read until the server closes (requests say Connection: close)."""
    with socket.create_connection(address(server), timeout=timeout) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


def test_two_hundred_concurrent_connections_are_all_answered(server: LocalStack) -> None:
    """A listen backlog of 5 used to reset 87 of 200 connections opened at once."""
    failures: list[BaseException] = []
    statuses: list[int] = []
    start = threading.Barrier(200, timeout=30)

    def one() -> None:
        try:
            start.wait()
            with urllib.request.urlopen(f"{server.url}/api/v1/openapi.json", timeout=60) as response:
                statuses.append(response.status)
        except urllib.error.HTTPError as error:  # answered: refused by the API is still an answer
            statuses.append(error.code)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=one) for _ in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(statuses) == 200


def test_a_chunked_body_is_read_whole(server: LocalStack) -> None:
    """A chunked body used to be ignored (an empty body, and the chunks left on a kept-alive connection to be
    read as the next request: request smuggling)."""
    body = (ROOT / "events" / "samples" / "account_alfki.xml").read_bytes()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:500], body[500:])) + b"0\r\n\r\n"
    host, port = address(server)
    answer = raw(
        server,
        f"POST /outbound/account?token={TOKEN} HTTP/1.1\r\nHost: {host}:{port}\r\n".encode()
        + b"Content-Type: text/xml; charset=utf-8\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + chunks,
    )
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert b"<ns0:Ack>true</ns0:Ack>" in answer


def test_a_negative_content_length_is_refused_at_once(server: LocalStack) -> None:
    started = time.monotonic()
    answer = raw(
        server, b"POST /outbound/account HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\nConnection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 400"), answer[:100]
    assert time.monotonic() - started < 5


def test_a_client_that_stops_sending_is_dropped(server: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    from local_runtime import gateway

    monkeypatch.setattr(gateway._Handler, "timeout", 1)
    with socket.create_connection(address(server), timeout=10) as connection:
        connection.sendall(b"POST /outbound/account HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part")
        started = time.monotonic()
        try:
            closed = connection.recv(1024)
        except ConnectionResetError:
            closed = b""
    assert time.monotonic() - started < 8  # dropped after its timeout, not held forever
    assert not closed.startswith(b"HTTP/1.1 200")
