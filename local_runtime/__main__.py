"""`python -m local_runtime` (what `make run` runs): serve every endpoint until Ctrl-C."""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import threading

from local_runtime.aws_local import PortInUse
from local_runtime.stack import LocalStack


def main() -> int:
    """Start the stack, print what a Salesforce admin needs, wait for Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    stack = LocalStack(
        port=int(os.environ.get("PORT", "3000")),
        moto_port=int(os.environ.get("MOTO_PORT", "5000")),
        worker=os.environ.get("WORKER", "1") != "0",
        retry_delay=int(os.environ.get("WORKER_RETRY_SECONDS", "2")),
    )
    # SIGTERM (a supervisor, the bench) stops the stack as Ctrl-C does, during start-up too, so moto's
    # server never outlives us.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        stack.start()
    except PortInUse as taken:
        print(taken, file=sys.stderr)
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
      CALLOUT_AUTH    {os.environ["CALLOUT_AUTH"]}
      CALLOUT_API_KEY {os.environ.get("CALLOUT_API_KEY", "")}   (send it as the x-api-key header)
  OData 4.0 feed      {stack.url}/odata/v4/
      ODATA_AUTH      {os.environ["ODATA_AUTH"]}: {os.environ["ODATA_USERNAME"]} / {os.environ["ODATA_PASSWORD"]}
  ALLOWED_ORG_IDS     {os.environ["ALLOWED_ORG_IDS"]}
  local AWS (moto)    {stack.aws.endpoint}   (MOTO_PORT; e.g. aws --endpoint-url {stack.aws.endpoint} sqs list-queues)
      AWS CLI         export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1
                      (any dummy key works against the local AWS; no account is involved)
  queue               {stack.physical("NotificationQueue")}
  dead-letter queue   {stack.physical("NotificationDeadLetterQueue")}
  Event Relay bus     {stack.physical("SalesforceEventBus")}   (EVENT_BUS_NAME; relayed events reach the worker)
      try             aws --endpoint-url {stack.aws.endpoint} events put-events \\
                        --entries file://events/event_relay/account_create.json
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


def _interrupt(*_: object) -> None:
    """The first SIGINT/SIGTERM stops the stack; later ones (a supervisor repeating itself) must not cut the
    clean-up short, so they are ignored from here on (every join in `stop` has a timeout)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
