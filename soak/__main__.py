"""`make soak`: replay Outbound Messages the way Salesforce delivers them, against the local stack, with faults.

Bounded in time and count, loopback only. Salesforce's behaviour: concurrent deliveries of 1-100 notifications,
retries of un-acked messages with back-off, duplicate deliveries after an ack, no ordering. Faults: a share of
SendMessageBatch calls throttled (the listener must Fault and Salesforce retry), a share of worker records failing
once (SQS must redeliver them), and poison messages that must end in the dead-letter queue. The end state is
checked: every won Opportunity has exactly one Order, the dead-letter queue holds only the poison.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The handlers run here print a metrics line per invocation: a report, not Lambda's logs, so keep them quiet.
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "sf_edge"), str(ROOT), str(ROOT / "tests")]

# The local stack applies about one notification a second (one moto server serves the worker, the write-backs and
# the OData indexer's streams): 200 fit the deadline on these machines; a larger run needs a larger SOAK_SECONDS.
OPPORTUNITIES = int(os.environ.get("SOAK_OPPORTUNITIES", "200"))
SENDERS = int(os.environ.get("SOAK_SENDERS", "6"))
SQS_FAULT_RATE = float(os.environ.get("SOAK_SQS_FAULT_RATE", "0.1"))
WORKER_FAULT_RATE = float(os.environ.get("SOAK_WORKER_FAULT_RATE", "0.05"))
DUPLICATE_RATE = float(os.environ.get("SOAK_DUPLICATE_RATE", "0.2"))
POISON = int(os.environ.get("SOAK_POISON", "3"))
DEADLINE_SECONDS = float(os.environ.get("SOAK_SECONDS", "240"))
TOKEN = "soak-token"  # noqa: S105 - a local, throwaway token


@dataclass
class Stats:
    sent: int = 0
    acked: int = 0
    faults_seen: int = 0
    duplicates: int = 0
    sqs_faults_injected: int = 0
    worker_faults_injected: int = 0
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)


def main() -> int:
    os.environ.update(
        OUTBOUND_TOKEN=TOKEN,
        ALLOWED_ORG_IDS="00D000000000001",
        POWERTOOLS_LOG_LEVEL="ERROR",
    )
    from local_runtime.stack import LocalStack
    from salesforce_sender import salesforce_layout
    from sf_edge.aws.clients import sqs_client
    from sf_edge.salesforce.ids import to_18

    rng = random.Random(20261124)
    stats = Stats()
    stack = LocalStack(port=0, moto_port=0, worker=True, retry_delay=0)
    stack.start()
    _inject_faults(stack, rng, stats)
    started = time.monotonic()
    try:
        ids = [to_18(f"0065g{i:010d}") for i in range(OPPORTUNITIES)]
        accounts = [to_18(f"0015g0000Soak{i % 40:02d}") for i in range(OPPORTUNITIES)]
        batches: list[list[int]] = []
        order = list(range(OPPORTUNITIES))
        rng.shuffle(order)  # no ordering guarantee
        while order:
            size = rng.choice([1, 1, 5, 10, 37, 100])
            batches.append(order[:size])
            order = order[size:]
        url = f"{stack.url}/outbound/opportunity?token={TOKEN}"

        def deliver(batch: list[int]) -> None:
            records = [
                (
                    to_18(f"04l5g{i:010d}"),
                    {
                        "Id": ids[i],
                        "AccountId": accounts[i],
                        "StageName": "Closed Won",
                        "IsWon": "true",
                        "Amount": f"{100 + i}.0",
                        "CloseDate": "2026-11-20",
                    },
                )
                for i in batch
            ]
            body = salesforce_layout("Opportunity", records, org_id="00D000000000001EAA")
            delay = 0.05
            while time.monotonic() - started < DEADLINE_SECONDS:
                began = time.perf_counter()
                status = _post(url, body)
                stats.add(sent=1)
                if status == 200:
                    with stats.lock:
                        stats.acked += 1
                        stats.latencies.append(time.perf_counter() - began)
                    if rng.random() < DUPLICATE_RATE:  # Salesforce re-delivers even after an ack
                        stats.add(sent=1, duplicates=1)
                        _post(url, body)
                    return
                stats.add(faults_seen=1)
                time.sleep(delay)  # Salesforce backs off (up to 2 h between tries; seconds here)
                delay = min(delay * 2, 1.0)

        with ThreadPoolExecutor(SENDERS) as pool:
            list(pool.map(deliver, batches))
        sending = time.monotonic() - started
        for n in range(POISON):
            sqs_client().send_message(QueueUrl=stack.physical("NotificationQueue"), MessageBody=f"poison {n}")
        _wait_for_empty_queue(stack, started)
        return _report(stack, stats, ids, time.monotonic() - started, sending)
    finally:
        stack.stop()


def _post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "text/xml; charset=utf-8"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _inject_faults(stack: Any, rng: random.Random, stats: Stats) -> None:
    """Throttle a share of SendMessageBatch calls; fail a share of worker records once."""
    import importlib

    from botocore.exceptions import ClientError

    from sf_edge.notifications import reference_handlers

    listener = importlib.import_module("outbound_listener")
    publisher = listener.intake().publisher  # the composed intake of `make run`'s listener
    real_client = publisher.client

    class Flaky:
        def __getattr__(self, name: str) -> Any:
            return getattr(real_client, name)

        def send_message_batch(self, **kwargs: Any) -> Any:
            if rng.random() < SQS_FAULT_RATE:
                stats.add(sqs_faults_injected=1)
                raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "injected"}}, "SendMessageBatch")
            return real_client.send_message_batch(**kwargs)

    publisher._client = Flaky()
    real_handler = reference_handlers.registry.resolve("opportunity", "Opportunity")
    failed_once: set[str] = set()

    def flaky_handler(message: Any, services: Any) -> Any:
        if message.notification_id not in failed_once and rng.random() < WORKER_FAULT_RATE:
            failed_once.add(message.notification_id)
            stats.add(worker_faults_injected=1)
            raise ConnectionError("injected DynamoDB fault")
        return real_handler(message, services)

    reference_handlers.registry._handlers[(None, "Opportunity")] = flaky_handler


def _wait_for_empty_queue(stack: Any, started: float) -> None:
    from sf_edge.aws.clients import sqs_client

    sqs = sqs_client()
    quiet = 0
    while time.monotonic() - started < DEADLINE_SECONDS * 2:
        attributes = sqs.get_queue_attributes(
            QueueUrl=stack.physical("NotificationQueue"),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        depth = int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
        quiet = quiet + 1 if depth == 0 else 0
        if quiet >= 3:
            return
        time.sleep(0.5)


def _report(stack: Any, stats: Stats, ids: list[str], elapsed: float, sending: float) -> int:
    from sf_edge.aws.clients import dynamodb, sqs_client

    orders = dynamodb().Table(stack.physical("OrdersTable"))
    created: dict[str, int] = {}
    scan: dict[str, Any] = {}
    while True:
        page = orders.scan(**scan)
        for item in page["Items"]:
            if "SalesforceOpportunityId" in item:
                key = str(item["SalesforceOpportunityId"])
                created[key] = created.get(key, 0) + 1
        if "LastEvaluatedKey" not in page:
            break
        scan = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    dead = []
    while True:
        got = (
            sqs_client()
            .receive_message(QueueUrl=stack.physical("NotificationDeadLetterQueue"), MaxNumberOfMessages=10)
            .get("Messages", [])
        )
        if not got:
            break
        dead += [m["Body"] for m in got]
    missing = [i for i in ids if i not in created]
    twice = [k for k, n in created.items() if n > 1]
    # The change hub's webhook target: each won Opportunity once, however often it was delivered or failed.
    deadline = time.monotonic() + 60
    while stack.webhook is not None and len(stack.webhook.received) < len(ids) and time.monotonic() < deadline:
        time.sleep(0.5)
    received = stack.webhook.received if stack.webhook is not None else []
    hub_records = [e["detail"]["recordId"] for e in received if e["detail"]["sObjectType"] == "Opportunity"]
    hub_missing = [i for i in ids if i not in hub_records]
    hub_repeats = len(stack.webhook.answers) - len(received) if stack.webhook is not None else 0
    latencies = sorted(stats.latencies) or [0.0]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"""
soak: {OPPORTUNITIES} won Opportunities in {stats.acked} messages, {SENDERS} concurrent senders
  time                 {sending:.1f} s sending, {elapsed:.1f} s until the worker had applied everything
  deliveries sent      {stats.sent} (acked {stats.acked}, faulted and retried {stats.faults_seen},
                       duplicates after ack {stats.duplicates})
  faults injected      SQS SendMessageBatch {stats.sqs_faults_injected}, worker records {stats.worker_faults_injected},
                       poison messages {POISON}
  ack latency          p50 {statistics.median(latencies) * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms
  throughput           {stats.acked / sending:.1f} messages/s, {OPPORTUNITIES / sending:.0f} notifications/s
  applied              {len(created)} Orders for {OPPORTUNITIES} Opportunities
                       missing {len(missing)}, applied twice {len(twice)}
  dead-letter queue    {len(dead)} message(s): {sorted(dead)}
  change hub           {len(set(hub_records))} Opportunities reached the webhook target, missing {len(hub_missing)},
                       published again {hub_repeats} (a repeat would be dropped by its key)
""")
    ok = not missing and not twice and sorted(dead) == sorted(f"poison {n}" for n in range(POISON))
    ok = ok and not hub_missing and hub_repeats == 0
    print("soak: PASS" if ok else "soak: FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
