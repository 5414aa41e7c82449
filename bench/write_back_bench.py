"""Write-back benchmark: Salesforce API calls per 1,000 won Opportunities, and throughput against a stand-in that
answers in 150 ms (Salesforce's typical latency), beside the floor of the same calls made bare in the same run."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "layers" / "sf_edge")]

from fakes.write_back import MemoryDeadLetters, MemoryLedger  # noqa: E402
from salesforce_stand_in import SalesforceStandIn, key_pair  # noqa: E402
from sf_edge.salesforce.ids import to_18  # noqa: E402
from sf_edge.salesforce.rest_client import (  # noqa: E402
    JwtBearerSignIn,
    SalesforceClient,
    SalesforceSettings,
    Urllib3Transport,
)
from sf_edge.write_back.delivery import Queued, WriteBackDelivery  # noqa: E402
from sf_edge.write_back.messages import WriteBack  # noqa: E402

OPPORTUNITIES = 1000
SQS_BATCH = 200  # the event source mapping's BatchSize in template.yaml
LATENCY = 0.150
ROUNDS = 3


def _won(n: int) -> WriteBack:
    return WriteBack(
        sobject="Opportunity",
        record_id=to_18(f"0065g{n:010d}"),
        fields={"ERP_Order_Id__c": str(20000 + n), "Integration_Status__c": "Synced", "Integration_Message__c": None},
    )


def _client(org: SalesforceStandIn, private_key: str) -> SalesforceClient:
    settings = SalesforceSettings(login_url=org.url, client_id=org.consumer_key, username=next(iter(org.users)))
    transport = Urllib3Transport()
    return SalesforceClient(JwtBearerSignIn(settings, lambda: private_key, transport), transport)


def _deliver_all(org: SalesforceStandIn, private_key: str) -> tuple[float, int, int]:
    """1,000 write-backs as SQS would hand them over, through one container: (seconds, API calls, sign-ins)."""
    write_backs = [_won(n) for n in range(OPPORTUNITIES)]
    for wb in write_backs:
        org.add("Opportunity", wb.record_id)
    delivery = WriteBackDelivery(MemoryLedger(), MemoryDeadLetters(), _client(org, private_key))
    before = len(org.api_calls)
    started = time.perf_counter()
    for start in range(0, OPPORTUNITIES, SQS_BATCH):
        chunk = write_backs[start : start + SQS_BATCH]
        outcome = delivery.deliver([Queued(str(start + i), wb) for i, wb in enumerate(chunk)])
        assert outcome.sent == len(chunk), outcome
    return time.perf_counter() - started, len(org.api_calls) - before, org.token_requests


def _bare_calls(org: SalesforceStandIn, calls: int) -> float:
    """The floor: the same number of 200-record PATCHes, already signed in, straight through urllib3."""
    import urllib3

    pool = urllib3.PoolManager()
    body = json.dumps(
        {"allOrNone": False, "records": [_won(n).as_collection_record() for n in range(SQS_BATCH)]}
    ).encode()
    token = org._tokens.copy().pop() if org._tokens else ""
    started = time.perf_counter()
    for _ in range(calls):
        pool.request(
            "PATCH",
            f"{org.url}/services/data/v65.0/composite/sobjects",
            body=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
    return time.perf_counter() - started


def table() -> list[str]:
    private_key, public_key = key_pair()
    org = SalesforceStandIn(public_key, latency=LATENCY).start()
    try:
        runs = []
        for _ in range(ROUNDS):
            org.records.clear()
            ours, calls, sign_ins = _deliver_all(org, private_key)
            floor = _bare_calls(org, calls)
            runs.append((ours, floor, calls, sign_ins))
    finally:
        org.stop()
    ours = statistics.median(r[0] for r in runs)
    floor = statistics.median(r[1] for r in runs)
    calls, sign_ins = runs[0][2], runs[0][3]
    met = "met" if calls <= 5 and sign_ins == 1 else "missed"
    return [
        "",
        "## Write-back to Salesforce (stand-in answering in 150 ms)",
        "",
        "| measurement | ours | reference | ratio | target |",
        "|---|---:|---:|---:|---|",
        f"| API calls per {OPPORTUNITIES:,} won Opportunities (one container) | {calls} calls + {sign_ins} sign-in "
        f"| | | <= 5 + 1 sign-in: {met} |",
        f"| time to write back {OPPORTUNITIES:,} (batches of {SQS_BATCH}) | {ours * 1e3:.0f} ms "
        f"| the same {calls} calls bare: {floor * 1e3:.0f} ms | {ours / floor:.2f}x | |",
        f"| throughput, one function instance | {OPPORTUNITIES / ours:,.0f} records/s | "
        f"bare: {OPPORTUNITIES / floor:,.0f} records/s | {floor / ours:.2f}x | |",
    ]


if __name__ == "__main__":
    print("\n".join(table()))
