"""`make sync` (beside `make run`): one bulk sync of every declared object now, on `make run`'s local AWS.

It starts the workflow `make run` deployed to its moto (BulkSyncStateMachine, run by moto's Step Functions
executor, its tasks by `make run`'s functions), shows its progress from the sync ledger while it runs (object,
step, pages read and applied, rows, rows/s), and ends with a summary per object: rows applied, unchanged,
deleted, failed, and the new watermark. `OBJECTS=Account` syncs only those named. The Salesforce org is the one
`make run` was started with (SALESFORCE_*); without one, the sync ends at once saying there is nothing to sync from.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from typing import Any

from local_runtime.aws_local import LOCAL_CREDENTIALS

STATE_MACHINE = "BulkSyncStateMachine"
LEDGER = "SyncStateTable"


def main() -> int:
    port = os.environ.get("MOTO_PORT", "5000")
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(LOCAL_CREDENTIALS | {"AWS_ENDPOINT_URL": endpoint})
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    sfn = boto3.client("stepfunctions")
    try:
        machines = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    except (BotoCoreError, ClientError) as unreachable:
        print(f"No local AWS at {endpoint} ({type(unreachable).__name__}): start `make run` first (MOTO_PORT).")
        return 2
    if STATE_MACHINE not in machines:
        print(f"The local AWS at {endpoint} has no {STATE_MACHINE}: is it `make run`'s (MOTO_PORT)?")
        return 2
    objects = [o.strip() for o in os.environ.get("OBJECTS", "").split(",") if o.strip()]
    execution = sfn.start_execution(
        stateMachineArn=machines[STATE_MACHINE],
        name=f"make-sync-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}",
        input=json.dumps({"objects": objects}),
    )["executionArn"]
    print(f"Bulk sync started: {execution.rsplit(':', 1)[-1]}  ({', '.join(objects) or 'every declared object'})")
    ledger = boto3.resource("dynamodb").Table(LEDGER)
    started = time.monotonic()
    shown = ""
    while True:
        described = sfn.describe_execution(executionArn=execution)
        line = progress(ledger, started)
        if line and line != shown:
            print(f"  {line}", flush=True)
            shown = line
        if described["status"] != "RUNNING":
            break
        time.sleep(1)
    if described["status"] != "SUCCEEDED":
        print(f"\nThe sync {described['status'].lower()}: {described.get('error', '')}")
        print(f"  {described.get('cause', '')}")
        return 1
    print()
    print(summary(json.loads(described.get("output") or "{}").get("reports", [])))
    return 0


def progress(ledger: Any, started: float) -> str:
    """What the runs in progress have done so far, from the ledger (one run per object at a time)."""
    from boto3.dynamodb.conditions import Attr, Key

    parts = []
    for run in ledger.scan(FilterExpression=Attr("Item").eq("run"))["Items"]:
        detail = json.loads(run["Run"])
        pages = ledger.query(
            KeyConditionExpression=Key("Object").eq(run["Object"]) & Key("Item").begins_with(f"page#{run['JobId']}#")
        )["Items"]
        applied = [json.loads(p.get("Counts") or "{}") for p in pages if p.get("Applied")]
        rows = sum(c.get("rows", 0) for c in applied)
        rate = rows / max(time.monotonic() - started, 0.001)
        parts.append(
            f"{run['Object']}: {detail['state']}, pages read {detail['pages_read']}, applied {len(applied)}, "
            f"rows {rows} ({rate:,.0f} rows/s)"
        )
    return "; ".join(parts)


def summary(reports: list[dict[str, Any]]) -> str:
    header = (
        f"{'object':<14}{'rows':>9}{'applied':>9}{'unchanged':>11}{'deleted':>9}{'failed':>8}{'seconds':>9}  watermark"
    )
    lines = [header, "-" * len(header)]
    for r in reports:
        lines.append(
            f"{r['object']:<14}{r['rows']:>9}{r['applied']:>9}{r['unchanged']:>11}{r['deleted']:>9}{r['failed']:>8}"
            f"{r['seconds']:>9}  {r['watermark']}"
            + (f"   ({r['reconciled']} reconciled)" if r.get("reconciled") else "")
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
