"""`make bench`, OData beside SAP CAP: the 29 Salesforce-Connect-shaped reads of ../shared/anchors/cap-odata
(bench_odata.py's list) against CAP over SQLite and against `make run`'s feed, same client, same run.

For each read: CAP's whole request (median), ours whole (median), and ours `app` from the Server-Timing header
(the feed's own time: everything but waiting on DynamoDB, which locally is moto's server). Target: our app time
<= 0.5x CAP's whole request on every read. Skipped, with the command to run, when CAP is not set up.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import importlib.util
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
ANCHOR = ROOT.parent / "shared" / "anchors" / "cap-odata"
CAP_HOME = Path(os.environ.get("CAP_ANCHOR_HOME", Path.home() / ".cache" / "cap-odata-anchor"))
RUNS = int(os.environ.get("BENCH_CAP_RUNS", "15"))
AUTH = "Basic " + base64.b64encode(b"salesforce:local-dev-password").decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.2)
    raise TimeoutError(f"nothing answered on port {port}")


@contextlib.contextmanager
def _process(command: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[None]:
    process = subprocess.Popen(
        command, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait(port)
        yield
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.poll() is None:
            process.kill()


def _anchor_client() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_odata", ANCHOR / "bench_odata.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Client:
    """One kept-alive HTTP/1.1 connection; each GET returns (status, body, seconds, our app ms or None)."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = headers

    def get(self, target: str) -> tuple[int, bytes, float, float | None, str | None]:
        started = time.perf_counter()
        self.connection.request("GET", target, headers=self.headers)
        response = self.connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        timing = response.getheader("Server-Timing")
        app = None
        if timing:
            parts = dict(p.strip().split(";", 1) for p in timing.split(","))
            app = float(parts["app"].removeprefix("dur="))
        return response.status, body, elapsed, app, timing

    def close(self) -> None:
        self.connection.close()


def _measure(client: _Client, root_path: str, relative: str, encode: object, walk: bool) -> tuple[float, float | None]:
    """(seconds, app ms) of one read; a walk follows next links and sums its requests."""
    import json

    target = root_path + encode(relative)  # type: ignore[operator]
    total, app_total, seen_app = 0.0, 0.0, False
    for _ in range(1000):
        status, body, seconds, app, _timing = client.get(target)
        if status != 200:
            raise RuntimeError(f"{status} for {target}: {body[:200]!r}")
        total += seconds
        if app is not None:
            app_total, seen_app = app_total + app, True
        if not walk:
            break
        link = json.loads(body).get("@odata.nextLink")
        if not link:
            break
        parsed = urllib.parse.urlsplit(link)
        target = parsed.path + "?" + parsed.query if parsed.scheme else root_path + link
    return total, (app_total if seen_app else None)


def _run(
    port: int, root_path: str, headers: dict[str, str], anchor: ModuleType
) -> dict[str, tuple[float, float | None]]:
    client = _Client(port, headers)
    medians: dict[str, tuple[float, float | None]] = {}
    try:
        samples: dict[str, list[tuple[float, float | None]]] = {name: [] for name, _w, _q in anchor.QUERIES}
        for round_ in range(RUNS + 1):
            for name, _what, relative in anchor.QUERIES:
                measured = _measure(client, root_path, relative, anchor.encode, name in anchor.WALKS)
                if round_:  # the first round warms up
                    samples[name].append(measured)
        for name, values in samples.items():
            seconds = statistics.median(v[0] for v in values) * 1000
            apps = [v[1] for v in values if v[1] is not None]
            medians[name] = (seconds, statistics.median(apps) if apps else None)
    finally:
        client.close()
    return medians


def table() -> list[str]:
    """The CAP section of bench/results.md."""
    header = ["", "## OData beside SAP CAP (29 Salesforce-Connect-shaped reads, Northwind, loopback)", ""]
    if not (ANCHOR / "bench_odata.py").exists():
        return [*header, "Skipped: ../shared/anchors/cap-odata is not beside this clone."]
    if not (CAP_HOME / "serve.sh").exists() or shutil.which("node") is None:
        return [*header, "Skipped: CAP is not set up (run `../shared/anchors/cap-odata/cap setup` once)."]
    anchor = _anchor_client()
    cap_port, our_port, moto_port = _free_port(), _free_port(), _free_port()
    with _process([str(ANCHOR / "cap"), "serve", str(cap_port)], cap_port):
        cap = _run(cap_port, "/odata/v4/northwind/", {"Accept": "application/json"}, anchor)
    env = {"PORT": str(our_port), "MOTO_PORT": str(moto_port), "WORKER": "0", "POWERTOOLS_LOG_LEVEL": "WARNING"}
    with _process([sys.executable, "-m", "local_runtime"], our_port, env):
        ours = _run(our_port, "/odata/v4/", {"Accept": "application/json", "Authorization": AUTH}, anchor)
    lines = [
        *header,
        f"Medians of {RUNS} rounds (after one warm-up round), one kept-alive connection per server, same client, same",
        "run. `app` is our Server-Timing app time: the feed's own work, without waiting on the store (locally moto's",
        "server, ~4 ms a call, which is what the whole-request column mostly measures).",
        "",
        "| read | CAP ms | ours ms | ours app ms | app / CAP (target <= 0.5) | whole / CAP |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    met = 0
    for name, _what, _relative in anchor.QUERIES:
        cap_ms, _ = cap[name]
        our_ms, app_ms = ours[name]
        ratio = (app_ms or 0) / cap_ms
        met += ratio <= 0.5
        lines.append(
            f"| {name} | {cap_ms:.2f} | {our_ms:.2f} | {app_ms if app_ms is not None else float('nan'):.2f} | "
            f"{ratio:.2f}{'' if ratio <= 0.5 else ' (missed)'} | {our_ms / cap_ms:.1f}x |"
        )
    lines += ["", f"app time <= 0.5x CAP on {met} of {len(anchor.QUERIES)} reads."]
    return lines


if __name__ == "__main__":
    print("\n".join(table()))
