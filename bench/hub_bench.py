"""Change hub benchmark: the worker's CPU per notification with the hub beside without it, and the time from the
Outbound Message's Ack to the change in a second target's queue, beside one SQS round trip, in the same run on
one local AWS (moto server on loopback, its own process: its CPU is not ours)."""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "layers" / "sf_edge"), str(ROOT)]

NOTIFICATIONS = int(os.environ.get("BENCH_HUB_NOTIFICATIONS", "200"))
DELIVERIES = int(os.environ.get("BENCH_HUB_DELIVERIES", "40"))
SAMPLE = ROOT / "events" / "samples" / "opportunity_closed_won.xml"


def _won(n: int, run: str) -> str:
    """A won Opportunity's notification as the listener queues it (a distinct notification and record each)."""
    from sf_edge.salesforce.ids import to_18
    from sf_edge.salesforce.notification_message import NotificationMessage, OutboundOrigin

    opportunity = to_18(f"0065g{run}{n:09d}")
    return NotificationMessage(
        listener="opportunity",
        organization_id="00D5g00000LoCaLAAA",
        notification_id=f"04l5g{run}{n:09d}AAA",
        sObjectType="Opportunity",
        record_id=opportunity,
        fields={"Id": opportunity, "AccountId": to_18("0015g00000ALFKI"), "StageName": "Closed Won", "IsWon": True},
        received_at=datetime.now(UTC),
        origin=OutboundOrigin(
            action_id="04k5g00000LoCaLAAA",
            enterprise_url="https://example.my.salesforce.com/services/Soap/c/62.0",
            partner_url="https://example.my.salesforce.com/services/Soap/u/62.0",
        ),
    ).to_json()


def _batch(bodies: list[str]) -> dict[str, Any]:
    return {
        "Records": [
            {"messageId": f"m{i}", "receiptHandle": "r", "body": body, "attributes": {"ApproximateReceiveCount": "1"},
             "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
             "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:NotificationQueue", "awsRegion": "us-east-1"}
            for i, body in enumerate(bodies)
        ]
    }  # fmt: skip


def worker_cpu() -> tuple[float, float]:
    """Process CPU per notification (batches of 10), hub on and off, interleaved: (with, without)."""
    from local_runtime.aws_local import LocalAws
    from local_runtime.lambda_host import add_layer_to_path, load_functions
    from local_runtime.template import Template

    add_layer_to_path()
    aws = LocalAws(0)
    aws.start()
    try:
        template = Template({"AllowedOrgIds": "00D5g00000LoCaL"})
        aws.provision(template)
        [spec] = [s for s in template.functions() if s.logical_id == "NotificationWorkerFunction"]
        os.environ.update({k: v for k, v in spec.environment.items() if not k.startswith("POWERTOOLS_")})
        function = load_functions([spec])[spec.logical_id]
        import notification_worker

        bus = spec.environment["HUB_BUS_NAME"]
        function.invoke(_batch([_won(n, "W") for n in range(10)]))  # warm: clients made, WSDL-free
        spent: dict[bool, list[float]] = {True: [], False: []}
        for round_ in range(NOTIFICATIONS // 10):
            for hub in (True, False) if round_ % 2 else (False, True):
                notification_worker.worker.configure(hub_bus_name=bus if hub else "")
                bodies = [_won(round_ * 10 + n, "H" if hub else "N") for n in range(10)]
                started = time.process_time()
                answer = function.invoke(_batch(bodies))
                spent[hub].append((time.process_time() - started) / 10)
                assert not answer.get("batchItemFailures"), answer
        return statistics.median(spent[True]), statistics.median(spent[False])
    finally:
        aws.stop()


def ack_to_second_target() -> tuple[list[float], list[float]]:
    """Seconds from each Outbound Message's Ack to its change in a second target's queue (a rule on the hub's bus
    to an SQS queue), and one SQS send-and-receive on the same local AWS, interleaved."""
    import boto3

    from local_runtime.stack import LocalStack

    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    stack = LocalStack(port=0, retry_delay=0)
    stack.start()
    try:
        assert stack.aws is not None
        sqs = boto3.client("sqs")
        events = boto3.client("events")
        queue = sqs.create_queue(QueueName="BenchSecondTarget")["QueueUrl"]
        probe = sqs.create_queue(QueueName="BenchRoundTrip")["QueueUrl"]
        bus = stack.physical("ChangeHubBus")
        events.put_rule(Name="BenchSecondTarget", EventBusName=bus,
                        EventPattern=json.dumps({"source": ["salesforce-integration-edge"]}))  # fmt: skip
        events.put_targets(Rule="BenchSecondTarget", EventBusName=bus, Targets=[
            {"Id": "q", "Arn": "arn:aws:sqs:us-east-1:123456789012:BenchSecondTarget"}])  # fmt: skip
        body = SAMPLE.read_text(encoding="utf-8")
        url = f"{stack.url}/outbound/opportunity?token={os.environ['OUTBOUND_TOKEN']}"
        hub: list[float] = []
        round_trips: list[float] = []
        for n in range(DELIVERIES):
            message = re.sub(r"<Id>04l[^<]*</Id>", f"<Id>04l5g000B{n:06d}AAA</Id>", body, count=1)
            request = urllib.request.Request(url, data=message.encode(), headers={"Content-Type": "text/xml"})  # noqa: S310
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - our loopback
                answer.read()
            acked = time.perf_counter()
            while not sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages"):
                if time.perf_counter() - acked > 20:
                    raise AssertionError("the change never reached the second target")
            hub.append(time.perf_counter() - acked)
            started = time.perf_counter()
            sqs.send_message(QueueUrl=probe, MessageBody="probe")
            while not sqs.receive_message(QueueUrl=probe, WaitTimeSeconds=1).get("Messages"):
                pass
            round_trips.append(time.perf_counter() - started)
        return hub, round_trips
    finally:
        stack.stop()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def table() -> list[str]:
    """The section bench/results.md gets."""
    with_hub, without = worker_cpu()
    hub, trips = ack_to_second_target()
    stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    ratio = with_hub / without
    return [
        "",
        f"## Change hub (measured {stamp})",
        "",
        "| measurement | ours | reference | ratio | target |",
        "|---|---:|---:|---:|---|",
        f"| worker CPU per won Opportunity, hub on vs off (batches of 10, moto on loopback) | {with_hub * 1e3:.2f} ms "
        f"| hub off: {without * 1e3:.2f} ms | {ratio:.2f}x | <= 1.3x: {'met' if ratio <= 1.3 else 'missed'} |",
        f"| Ack to the second target's queue, p50 ({len(hub)} messages, `make run`'s stack) "
        f"| {statistics.median(hub) * 1e3:.0f} ms | one SQS round trip p50: {statistics.median(trips) * 1e3:.0f} ms "
        f"| {statistics.median(hub) / statistics.median(trips):.1f}x | |",
        f"| Ack to the second target's queue, p95 | {_percentile(hub, 0.95) * 1e3:.0f} ms "
        f"| one SQS round trip p95: {_percentile(trips, 0.95) * 1e3:.0f} ms "
        f"| {_percentile(hub, 0.95) / _percentile(trips, 0.95):.1f}x | |",
    ]


if __name__ == "__main__":
    print("\n".join(table()))
