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


def _start(port: str = "0", moto_port: str = "0") -> tuple[subprocess.Popen[str], str, str]:
    """`python -m local_runtime` as `make run` starts it; returns the process, the API URL and moto's URL."""
    env = {**os.environ, "PORT": port, "MOTO_PORT": moto_port, "OUTBOUND_TOKEN": "run-token", "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_ENDPOINT_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "local_runtime"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    urls: dict[str, str] = {}
    deadline = time.monotonic() + 90
    assert process.stdout is not None
    while len(urls) < 2 and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        found = re.match(r"\s+(API|local AWS \(moto\))\s+(http://\S+)", line)
        if found:
            urls[found.group(1)] = found.group(2)
    if len(urls) < 2:
        process.kill()
        pytest.fail("the local runtime never printed its URLs")
    return process, urls["API"], urls["local AWS (moto)"]


def _accepts(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as knock:
        knock.settimeout(1)
        return knock.connect_ex((host, int(port))) == 0


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_local_runtime_serves_and_stops_cleanly(stop: signal.Signals) -> None:
    """Ctrl-C and a supervisor's SIGTERM both stop moto's server too, and a new run can take the same ports."""
    process, url, moto = _start()
    try:
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
        process.send_signal(stop)
        process.send_signal(stop)  # a supervisor that repeats itself must not cut the clean-up short
        assert process.wait(timeout=30) == 0
    assert not _accepts(moto), "moto's server outlived the local runtime"
    # The connections just closed sit in TIME_WAIT on both ports; they must not make the ports look taken.
    again, again_url, again_moto = _start(url.rsplit(":", 1)[1], moto.rsplit(":", 1)[1])
    again.send_signal(signal.SIGTERM)
    assert again.wait(timeout=30) == 0
    assert (again_url, again_moto) == (url, moto)


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
    progress = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ local_runtime ")  # what the start is doing
    lines = [line for line in finished.stderr.strip().splitlines() if not progress.match(line)]
    assert len(lines) == 1, finished.stderr
    assert f"{setting}={port} is taken" in lines[0]
    assert "Traceback" not in finished.stderr


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"PORT": "abc"}, "PORT: must be a whole number"),
        ({"MOTO_PORT": "abc"}, "MOTO_PORT"),
        ({"WORKER": "maybe"}, "WORKER: must be true or false"),
        ({"WORKER_RETRY_SECONDS": "-1"}, "WORKER_RETRY_SECONDS: must be at least 0"),
        ({"QUEUE_TYPE": "bogus"}, "QUEUE_TYPE: must be one of Standard, Fifo"),
        ({"ALLOWED_ORG_IDS": "bad"}, "ALLOWED_ORG_IDS"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR"),
        ({"ALLOWED_SOURCE_CIDRS": "999.0.0.0/8"}, "ALLOWED_SOURCE_CIDRS"),
        ({"OUTBOUND_TOKEN": ""}, "OUTBOUND_TOKEN: is required"),
        ({"CALLOUT_AUTH": "Jwt"}, "CALLOUT_JWT_PUBLIC_KEY"),
        (
            {"SALESFORCE_LOGIN_URL": "https://login.salesforce.com", "SALESFORCE_CLIENT_ID": "3MVG9x"}
            | {"SALESFORCE_USERNAME": "integration@example.com"},
            "SALESFORCE_PRIVATE_KEY: is required",
        ),
    ],
    ids=lambda value: next(iter(value)) if isinstance(value, dict) else "",
)
def test_a_setting_that_cannot_work_stops_the_start_naming_it(changes: dict[str, str], named: str) -> None:
    """Issue 25.8: each of these started silently (and failed per message later), ran with the worker on
    (`WORKER=false`), or ended in a bare traceback. Now: exit 2, one line naming the variable, nothing left running."""
    env = {**os.environ, "PORT": "0", "MOTO_PORT": "0", **changes}
    env.pop("AWS_ENDPOINT_URL", None)
    finished = subprocess.run(
        [sys.executable, "-m", "local_runtime"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    problems = [line for line in finished.stderr.splitlines() if line.startswith("make run: ")]
    assert finished.returncode == 2, finished.stderr[-2000:]
    assert len(problems) == 1, finished.stderr[-2000:]
    assert named in problems[0]
    assert "Traceback" not in finished.stderr


def test_worker_false_is_off_and_odata_none_shows_no_credentials() -> None:
    from local_runtime.__main__ import RunSettings, _odata_credentials

    assert RunSettings.from_env({"WORKER": "false"}).worker is False
    assert RunSettings.from_env({"WORKER": "0"}).worker is False
    assert RunSettings.from_env({}).worker is True
    env = {"ODATA_AUTH": "None", "ODATA_USERNAME": "salesforce", "ODATA_PASSWORD": "p4ss", "ODATA_API_KEY": "k3y"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        shown = _odata_credentials()
    assert "p4ss" not in shown
    assert "k3y" not in shown
    assert "no credentials" in shown
