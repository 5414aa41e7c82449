"""`make run`'s entry point as a user runs it: a process that serves, acknowledges, and stops on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import CALLOUT_KEY, ROOT


def test_local_runtime_serves_and_stops_cleanly_on_ctrl_c() -> None:
    env = {**os.environ, "PORT": "0", "MOTO_PORT": "0", "OUTBOUND_TOKEN": "run-token", "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_ENDPOINT_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "local_runtime"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = None
        deadline = time.monotonic() + 90
        assert process.stdout is not None
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            found = re.match(r"\s+API\s+(http://\S+)", line)
            url = found.group(1) if found else None
        assert url, "the local runtime never printed its URL"
        body = (ROOT / "events" / "samples" / "account_alfki.xml").read_bytes()
        request = urllib.request.Request(
            f"{url}/outbound/account?token=run-token", data=body, headers={"Content-Type": "text/xml; charset=utf-8"}
        )
        with urllib.request.urlopen(request, timeout=20) as response:
            assert response.status == 200
            assert b"<ns0:Ack>true</ns0:Ack>" in response.read()
        callout = urllib.request.Request(f"{url}/api/v1/orders/10248", headers={"x-api-key": CALLOUT_KEY})
        with urllib.request.urlopen(callout, timeout=20) as response:
            assert json.loads(response.read())["customerId"] == "VINET"  # seeded from Northwind, served by callout_api
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0


@pytest.mark.parametrize("setting", ["PORT", "MOTO_PORT"])
def test_a_taken_port_is_one_clear_line_not_a_hang(setting: str) -> None:
    """macOS's AirPlay receiver holds 5000: `make run` used to wait forever for moto, or print a traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "PORT": "0", "MOTO_PORT": "0", setting: str(port)}
        env.pop("AWS_ENDPOINT_URL", None)
        started = time.monotonic()
        finished = subprocess.run(
            [sys.executable, "-m", "local_runtime"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
    assert finished.returncode == 2
    assert time.monotonic() - started < 30
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1, finished.stderr
    assert f"{setting}={port} is taken" in lines[0]
    assert "Traceback" not in finished.stderr
