"""What the listener imports at cold start: regressions here cost every new Lambda container."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT

PROBE = """
import sys, outbound_listener
outbound_listener.intake().registry.get("opportunity")  # composed as on the first request
print(",".join(sorted(m for m in ("aws_xray_sdk.core", "boto3", "aws_lambda_powertools.utilities.data_classes",
                                 "sf_edge.salesforce.notification_message")  # the listener writes its JSON
                      if m in sys.modules)))
"""


def loaded_modules(**env: str) -> set[str]:
    paths = os.pathsep.join([str(ROOT / "layers" / "sf_edge"), str(ROOT / "functions" / "outbound_listener")])
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={
            **os.environ,
            "PYTHONPATH": paths,
            "AWS_DEFAULT_REGION": "us-east-1",
            "NOTIFICATION_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/notifications",
            **env,
        },
        capture_output=True,
        text=True,
        check=True,
    )
    return set(filter(None, result.stdout.strip().split(",")))


def test_tracing_off_keeps_the_xray_sdk_and_boto3_out_of_the_cold_start() -> None:
    assert loaded_modules(POWERTOOLS_TRACE_DISABLED="true") == set()


def test_tracing_on_loads_the_xray_sdk() -> None:
    assert "aws_xray_sdk.core" in loaded_modules(POWERTOOLS_TRACE_DISABLED="false", AWS_LAMBDA_FUNCTION_NAME="probe")
