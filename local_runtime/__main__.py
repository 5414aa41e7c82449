"""`python -m local_runtime` (what `make run` runs): serve every endpoint until Ctrl-C."""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Annotated

from local_runtime.aws_local import PortInUse
from local_runtime.lambda_host import add_layer_to_path
from local_runtime.stack import LocalStack
from local_runtime.template import ParameterError

add_layer_to_path()

from sf_edge.settings import FunctionSettings, SettingsError, at_least, at_most  # noqa: E402 - the layer, just added

PORT_NUMBER = Annotated[int, at_least(0), at_most(65535)]


@dataclass(frozen=True, kw_only=True)
class RunSettings(FunctionSettings):
    """`make run`'s own settings (the functions' come from template.yaml, each checked as it is composed)."""

    port: PORT_NUMBER = 3000
    moto_port: PORT_NUMBER = 5000  # 0: a free one
    worker: bool = True  # WORKER=0 (or false): messages stay in the queue
    worker_retry_seconds: Annotated[int, at_least(0)] = 2
    metrics: bool = False  # METRICS=1: each invocation's metric line (EMF JSON, what CloudWatch reads) on the console


def main() -> int:
    """Start the stack, print what a Salesforce admin needs, wait for Ctrl-C. A setting that cannot work stops the
    start with one line naming the variable (exit 2), never a traceback and never later, per message."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    try:
        settings = RunSettings.from_env()
    except SettingsError as bad:
        print(f"make run: {bad}", file=sys.stderr)
        return 2
    if not settings.metrics:
        os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    stack = LocalStack(
        port=settings.port,
        moto_port=settings.moto_port,
        worker=settings.worker,
        retry_delay=settings.worker_retry_seconds,
    )
    # SIGTERM (a supervisor, the bench) stops the stack as Ctrl-C does, during start-up too, so moto's
    # server never outlives us.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)  # the terminal closed: moto's server, in its own session, goes too
    try:
        stack.start()
    except PortInUse as taken:
        print(taken, file=sys.stderr)
        return 2
    except (SettingsError, ParameterError) as bad:
        print(f"make run: {bad}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    try:
        assert stack.aws is not None
        token = os.environ["OUTBOUND_TOKEN"]
        login_url = stack.template.parameters.get("SalesforceLoginUrl", "")
        write_backs = f"sent to {login_url}" if login_url else "recorded in WriteBackLedgerTable (SALESFORCE_* unset)"
        sync_from = f"from {login_url}" if login_url else "SALESFORCE_* unset: nothing to sync from"
        listener = importlib.import_module(stack.functions["OutboundListenerFunction"].spec.module)
        listeners = sorted(listener.intake().listener_names)
        print(
            f"""
Salesforce integration edge, running locally
  API                 {stack.url}
  Outbound Messages   {stack.url}/outbound/<listener>?token={token}
      listeners       {", ".join(listeners)}
  OUTBOUND_TOKEN      {token}
  Callouts            {stack.url}/api/v1/...   (OpenAPI: {stack.url}/api/v1/openapi.json)
      CALLOUT_AUTH    {_callout_credentials()}
  OData 4.0 feed      {stack.url}/odata/v4/   (2.0: {stack.url}/odata/v2/)
      ODATA_AUTH      {_odata_credentials()}
  ALLOWED_ORG_IDS     {os.environ["ALLOWED_ORG_IDS"]}
  local AWS (moto)    {stack.aws.endpoint}   (MOTO_PORT; e.g. aws --endpoint-url {stack.aws.endpoint} sqs list-queues)
      AWS CLI         export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1
                      (any dummy key works against the local AWS; no account is involved)
  queue               {stack.physical("NotificationQueue")}
  dead-letter queue   {stack.physical("NotificationDeadLetterQueue")}
  Event Relay bus     {stack.physical("SalesforceEventBus")}   (EVENT_BUS_NAME; relayed events reach the worker)
      try             aws --endpoint-url {stack.aws.endpoint} events put-events \\
                        --entries file://events/event_relay/account_create.json
  change hub bus      {stack.physical("ChangeHubBus")}   (every accepted change, once, for each target)
      webhook target  {_webhook_target(stack)}
  Order_Status__e     {"published to " + login_url if login_url else "not published (SALESFORCE_* unset)"}
  write-backs         {write_backs}
  bulk sync           make sync, in another terminal   ({sync_from})
  worker              {"polling" if stack.worker else "off (WORKER=0): messages stay in the queue"}
  seeded              {", ".join(f"{k}: {v} rows" for k, v in stack.seeded.items())}
Try:  curl -s -H 'Content-Type: text/xml' --data-binary @events/samples/opportunity_closed_won.xml \\
        '{stack.url}/outbound/opportunity?token={token}'
Ctrl-C stops.
""",
            flush=True,
        )
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        print("Stopping...", file=sys.stderr)
        stack.stop()
    return 0


def _webhook_target(stack: LocalStack) -> str:
    """Where the webhook target delivers: make run's loopback receiver (GET lists it), or WEBHOOK_URL."""
    if stack.webhook is not None:
        return f"{stack.webhook.url}   (a stand-in of your system: curl it to see what it received)"
    return stack.template.parameters.get("WebhookUrl") or "none (WEBHOOK_URL empty)"


def _callout_credentials() -> str:
    mode = os.environ["CALLOUT_AUTH"]
    if mode.lower() == "apikey":
        return f"{mode}: x-api-key {os.environ.get('CALLOUT_API_KEY', '')}"
    return (
        f"{mode}: a bearer JWT from {os.environ.get('CALLOUT_JWT_ISSUER', '')}, signed by CALLOUT_JWT_PUBLIC_KEY's key"
    )


def _odata_credentials() -> str:
    """What the feed checks, in the mode it runs in (no credentials shown for a mode that uses none)."""
    mode = os.environ["ODATA_AUTH"]
    if mode.lower() == "basic":
        return f"{mode}: {os.environ['ODATA_USERNAME']} / {os.environ['ODATA_PASSWORD']}"
    if mode.lower() == "apikey":
        return f"{mode}: X-API-Key {os.environ['ODATA_API_KEY']}"
    return f"{mode}: anyone may read (no credentials), on purpose"


def _interrupt(*_: object) -> None:
    """The first SIGINT/SIGTERM stops the stack; later ones (a supervisor repeating itself) must not cut the
    clean-up short, so they are ignored from here on (every join in `stop` has a timeout)."""
    for handled in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(handled, signal.SIG_IGN)
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
