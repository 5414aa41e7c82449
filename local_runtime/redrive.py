"""`make redrive`: move the dead-letter queue's notifications back to the queue they came from, once their cause
is fixed. The worker's idempotency applies each notification once, however often it was dead-lettered. A hub
target's dead-letter queue (its system refused the events, or was down past the retry window) is replayed onto
the hub's bus: the target gets each event again, and any other target whose rule matches drops it by its
`detail.key`.

Locally it talks to `make run`'s moto (MOTO_PORT, default 5000). Deployed, use SQS's own DLQ redrive (the console's
*Start DLQ redrive*, or `aws sqs start-message-move-task --source-arn <NotificationDeadLetterQueue ARN>`), which
does the same inside SQS.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from local_runtime.aws_local import LOCAL_CREDENTIALS, running_local_aws
from local_runtime.template import Template


def queues_with_dead_letters(template: Template) -> list[tuple[str, str]]:
    """(queue, its dead-letter queue) logical ids, as template.yaml's RedrivePolicy pairs them."""
    pairs = []
    for logical_id, props in template.of_type("AWS::SQS::Queue").items():
        policy = props.get("RedrivePolicy")
        if policy:
            target = policy["deadLetterTargetArn"]
            dead_letters = target.get("Fn::GetAtt", [""])[0] if isinstance(target, dict) else str(target)
            pairs.append((logical_id, str(dead_letters).split(".")[0]))
    return pairs


def hub_target_dead_letters(template: Template) -> list[tuple[str, str]]:
    """(bus, dead-letter queue logical id) of every rule target that is an API destination (a hub target)."""
    destinations = set(template.of_type("AWS::Events::ApiDestination"))
    found = []
    for props in template.of_type("AWS::Events::Rule").values():
        for target in props.get("Targets", []):
            arn = target.get("Arn")
            named = arn.get("Fn::GetAtt", [""])[0] if isinstance(arn, dict) else ""
            dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
            if str(named).split(".")[0] in destinations and isinstance(dead_letter, dict):
                queue = str(dead_letter["Fn::GetAtt"][0]).split(".")[0]
                found.append((_bus_name(template, props["EventBusName"]), queue))
    return found


def _bus_name(template: Template, bus: Any) -> str:
    """The bus a rule is on, by its declared name (the template need not be provisioned in this process)."""
    buses = template.of_type("AWS::Events::EventBus")
    if isinstance(bus, dict) and bus.get("Ref") in buses:
        return str(template.resolve(buses[bus["Ref"]]["Name"]))
    return str(template.resolve(bus))


def replay_all(sqs: Any, events: Any, dead_letter_url: str, bus: str) -> int:
    """Put every dead-lettered event back on its bus (each deleted once EventBridge took it); how many."""
    replayed = 0
    while True:
        got = sqs.receive_message(QueueUrl=dead_letter_url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
            "Messages", []
        )
        if not got:
            return replayed
        for message in got:
            event = json.loads(message["Body"])
            answer = events.put_events(
                Entries=[
                    {
                        "Source": event["source"],
                        "DetailType": event["detail-type"],
                        "Detail": json.dumps(event["detail"]),
                        "EventBusName": bus,
                    }
                ]
            )
            if answer.get("FailedEntryCount"):
                raise RuntimeError(f"EventBridge refused a replayed event: {answer['Entries'][0]}")
            sqs.delete_message(QueueUrl=dead_letter_url, ReceiptHandle=message["ReceiptHandle"])
            replayed += 1


def move_all(sqs: Any, dead_letter_url: str, queue_url: str) -> int:
    """Move every message (body and attributes; FIFO group and deduplication ids kept), each deleted from the
    dead-letter queue only after the queue accepted it. Returns how many moved."""
    fifo = queue_url.endswith(".fifo")
    moved = 0
    while True:
        got = sqs.receive_message(
            QueueUrl=dead_letter_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            VisibilityTimeout=60,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not got:
            return moved
        entries = []
        for i, message in enumerate(got):
            entry: dict[str, Any] = {"Id": str(i), "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                entry["MessageAttributes"] = message["MessageAttributes"]
            if fifo:
                system = message["Attributes"]
                entry["MessageGroupId"] = system["MessageGroupId"]
                entry["MessageDeduplicationId"] = system.get("MessageDeduplicationId", message["MessageId"])
            entries.append(entry)
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        sent = {s["Id"] for s in response.get("Successful", [])}
        done = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got) if str(i) in sent]
        if done:
            sqs.delete_message_batch(QueueUrl=dead_letter_url, Entries=done)
        moved += len(done)
        if response.get("Failed"):
            raise RuntimeError(f"{len(response['Failed'])} messages could not be moved back; they stay dead-lettered")


def main() -> int:
    import boto3

    endpoint = running_local_aws()
    sqs = boto3.client("sqs", region_name=LOCAL_CREDENTIALS["AWS_REGION"], endpoint_url=endpoint)
    # A webhook URL so that the hub target's resources are declared (make run points it at its receiver).
    template = Template({"AllowedOrgIds": "00D000000000001", "WebhookUrl": "https://example.com/changes"})
    events = boto3.client("events", region_name=LOCAL_CREDENTIALS["AWS_REGION"], endpoint_url=endpoint)
    for bus, dead_letters in hub_target_dead_letters(template):
        try:
            dead_letter_url = _url(sqs, dead_letters)
        except LookupError:
            continue  # make run with WEBHOOK_URL empty: no such target
        print(f"{dead_letters} -> {bus}: {replay_all(sqs, events, dead_letter_url, bus)} replayed")
    for queue, dead_letters in queues_with_dead_letters(template):
        try:
            queue_url = _url(sqs, queue)
            dead_letter_url = _url(sqs, dead_letters)
        except Exception as exc:  # not provisioned: make run is not running on this port
            print(f"{queue}: not found at {endpoint} ({exc}); is `make run` running (MOTO_PORT)?", file=sys.stderr)
            return 2
        print(f"{dead_letters} -> {queue}: {move_all(sqs, dead_letter_url, queue_url)} moved")
    return 0


def _url(sqs: Any, logical_id: str) -> str:
    for name in (logical_id, f"{logical_id}.fifo"):
        try:
            return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
        except sqs.exceptions.QueueDoesNotExist:
            continue
    raise LookupError(logical_id)


if __name__ == "__main__":
    sys.exit(main())
