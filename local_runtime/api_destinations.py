"""EventBridge API destinations, locally: a stand-in built from EventBridge's documented behaviour, since moto
cannot call out (it sends an API destination neither the event nor the connection's key).

Each destination's rule target is a queue of the destination's name (local_runtime.aws_local); this delivers
from it as EventBridge does: the event JSON POSTed to the destination's endpoint with the connection's API key
header; an answer of 401, 407, 409, 429 or 5xx (or no answer) is retried with back-off while the rule target's
RetryPolicy allows (MaximumRetryAttempts, MaximumEventAgeInSeconds); any other answer, or the retries spent,
sends the event to the target's dead-letter queue with EventBridge's attributes (RULE_ARN, TARGET_ARN,
ERROR_CODE, ERROR_MESSAGE, RETRY_ATTEMPTS). Locally the API key is `LOCAL_WEBHOOK_KEY` (WEBHOOK_API_KEY): the
generated secret of a deployed target has no local counterpart.
"""

from __future__ import annotations

import logging
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from local_runtime.background_poller import BackgroundPoller, drain_rounds
from local_runtime.template import Template

log = logging.getLogger("local_runtime.api_destinations")
LOCAL_WEBHOOK_KEY = "local-webhook-key"
RETRYABLE_STATUSES = frozenset({401, 407, 409, 429})


@dataclass
class ApiDestinationDelivery:
    """Delivers one API destination's events."""

    name: str
    queue_url: str
    endpoint: str
    api_key_header: str | None
    rule_arn: str
    target_arn: str
    dead_letter_url: str | None
    max_retries: int = 185
    max_age_seconds: int = 86400
    retry_delay: int = 2
    delivered: int = 0
    dead_lettered: int = 0
    _poller: BackgroundPoller | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        from sf_edge.aws.clients import sqs_client

        self.sqs = sqs_client()

    def poll_once(self, wait_seconds: int = 0) -> int:
        """Deliver what the destination's queue holds (up to 10); how many were taken or dead-lettered."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
        ).get("Messages", [])
        done = 0
        for message in messages:
            status, why = self._call(message["Body"])
            attempts = int(message["Attributes"]["ApproximateReceiveCount"])
            age = time.time() - int(message["Attributes"]["SentTimestamp"]) / 1000
            if status is not None and 200 <= status < 300:
                self.delivered += 1
            elif self._retryable(status) and attempts <= self.max_retries and age < self.max_age_seconds:
                # EventBridge backs off exponentially; locally a short, growing delay keeps a retry in sight.
                delay = min(self.retry_delay * attempts, 60)
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=delay
                )
                log.warning("%s answered %s: retried in %d s (%s)", self.endpoint, status or "nothing", delay, why)
                continue
            else:
                self._dead_letter(message["Body"], status, why, attempts)
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            done += 1
        return done

    def _call(self, body: str) -> tuple[int | None, str]:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Amazon/EventBridge/ApiDestinations",
        }
        if self.api_key_header:
            headers[self.api_key_header] = os.environ.get("WEBHOOK_API_KEY", LOCAL_WEBHOOK_KEY)
        request = urllib.request.Request(self.endpoint, data=body.encode(), headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - the endpoint the template names
                return int(answer.status), ""
        except urllib.error.HTTPError as refused:
            return int(refused.code), refused.reason or ""
        except OSError as failure:
            return None, str(failure)

    @staticmethod
    def _retryable(status: int | None) -> bool:
        return status is None or status in RETRYABLE_STATUSES or status >= 500

    def _dead_letter(self, body: str, status: int | None, why: str, attempts: int) -> None:
        self.dead_lettered += 1
        code = "SDK_CLIENT_ERROR" if status is None else f"{status}"
        log.error("%s: event dead-lettered (%s %s after %d attempts)", self.name, code, why, attempts)
        if self.dead_letter_url is None:
            return
        attributes = {
            "RULE_ARN": self.rule_arn,
            "TARGET_ARN": self.target_arn,
            "ERROR_CODE": code,
            "ERROR_MESSAGE": (why or f"the endpoint answered {status}")[:1000],
            "RETRY_ATTEMPTS": str(attempts - 1),
        }
        self.sqs.send_message(
            QueueUrl=self.dead_letter_url,
            MessageBody=body,
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )

    def drain(self, rounds: int = 20) -> int:
        """Deliver until a round finds nothing visible (tests)."""
        return drain_rounds(self.poll_once, rounds)

    def start(self) -> None:
        self._poller = BackgroundPoller(f"api-destination-{self.name}", lambda: self.poll_once(wait_seconds=1))
        self._poller.start()

    def request_stop(self) -> None:
        if self._poller is not None:
            self._poller.request_stop()

    def join(self) -> None:
        if self._poller is not None:
            self._poller.join()


def deliveries(template: Template, retry_delay: int = 2) -> list[ApiDestinationDelivery]:
    """One delivery per API destination the provisioned template declares, with its rule target's policy."""
    queues_by_arn = {
        p["Arn"]: p["Ref"] for p in template.physical.values() if p.get("Arn", "").startswith("arn:aws:sqs")
    }
    found = []
    for logical_id, props in template.of_type("AWS::Events::ApiDestination").items():
        physical = template.physical[logical_id]
        connection = _connection(template, props)
        for rule_id, rule in template.of_type("AWS::Events::Rule").items():
            for target in rule.get("Targets", []):
                if template.resolve(target["Arn"]) != physical["Arn"]:
                    continue
                policy = template.resolve(target.get("RetryPolicy")) or {}
                dead_letter_arn = template.resolve((target.get("DeadLetterConfig") or {}).get("Arn"))
                found.append(
                    ApiDestinationDelivery(
                        name=logical_id,
                        queue_url=physical["QueueUrl"],
                        endpoint=physical["Endpoint"],
                        api_key_header=connection,
                        rule_arn=template.physical[rule_id]["Arn"],
                        target_arn=physical["Arn"],
                        dead_letter_url=queues_by_arn.get(dead_letter_arn) if dead_letter_arn else None,
                        max_retries=int(policy.get("MaximumRetryAttempts", 185)),
                        max_age_seconds=int(policy.get("MaximumEventAgeInSeconds", 86400)),
                        retry_delay=retry_delay,
                    )
                )
    return found


def _connection(template: Template, destination: dict[str, Any]) -> str | None:
    """The API key header of the destination's connection (None: another authorization type)."""
    arn = destination.get("ConnectionArn")
    logical = arn.get("Fn::GetAtt", [None])[0] if isinstance(arn, dict) else None
    if isinstance(logical, str) and "." in logical:
        logical = logical.split(".")[0]
    props = template.resources.get(str(logical), {}).get("Properties", {})
    api_key = props.get("AuthParameters", {}).get("ApiKeyAuthParameters")
    return str(template.resolve(api_key["ApiKeyName"])) if api_key else None
