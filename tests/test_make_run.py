"""`make run`'s entry point as a user runs it: a process that serves, acknowledges, and stops on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

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
