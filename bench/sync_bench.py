"""Bulk sync benchmark, each figure beside a reference measured in the same run.

- Rows applied per second through the batch handlers' merges (a full load of new Accounts, then the same Accounts
  changed), beside a bare BatchWriteItem of the same Customer items into the same store (moto's server, as
  `make run` and the tests run it), interleaved rounds, medians.
- Peak memory (RSS) of the page applier (results read from the Bulk API stand-in, stored as pages, applied),
  at 10,000 and at 1,000,000 rows, each in a fresh process; the order system is stood in for by a store that
  answers at once and keeps nothing, so what is measured is ours, not moto's.
- Salesforce API calls per 1,000,000 rows synced (the stand-in counts them), against 1 job + ⌈rows / maxRecords⌉
  result calls + the polls; and the ingest jobs 1,000,000 write-backs take, against ⌈CSV bytes / 100 MB⌉.
"""

from __future__ import annotations

import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "layers" / "sf_edge"), str(ROOT / "functions" / "bulk_sync"), str(ROOT)]

MERGE_ROWS = int(os.environ.get("BENCH_SYNC_MERGE_ROWS", "2000"))
ROUNDS = int(os.environ.get("BENCH_SYNC_ROUNDS", "3"))
BIG_ROWS = int(os.environ.get("BENCH_SYNC_BIG_ROWS", "1000000"))
PAGE_SIZE = 10_000
FIELDS = ("Name", "AccountNumber", "Phone", "Fax", "BillingStreet", "BillingCity", "BillingState",
          "BillingPostalCode", "BillingCountry", "LastModifiedDate")  # fmt: skip


def _account(n: int, stamp: str, phone: str = "030-0074321") -> dict[str, Any]:
    from sf_edge.salesforce.ids import to_18

    return {
        "Id": to_18(f"001{n:012d}"),
        "SystemModstamp": stamp,
        "IsDeleted": "false",
        **dict.fromkeys(FIELDS),
        "Name": f"Bench Account {n}",
        "Phone": phone,
        "BillingStreet": f"{n} Bench Street",
        "BillingCity": "Berlin",
        "BillingCountry": "Germany",
    }


# Merges beside BatchWriteItem.


def merges_vs_batch_write() -> list[tuple[str, float, float, str]]:
    from local_runtime.aws_local import LocalAws
    from local_runtime.template import Template
    from sf_edge.aws.clients import dynamodb, reset
    from sf_edge.notifications import bulk_handlers  # noqa: F401 - registers the batch handlers
    from sf_edge.notifications.reference_handlers import registry
    from sf_edge.notifications.routing import Services
    from sf_edge.order_system.customer_repository import CustomerRepository
    from sf_edge.order_system.key_registry import KeyRegistry
    from sf_edge.order_system.order_repository import OrderRepository
    from sf_edge.sync.runs import bulk_message

    aws = LocalAws(0)
    aws.start()
    reset()
    received = datetime.now(UTC)
    timings: dict[str, list[float]] = {"load": [], "load bare": [], "update": [], "update bare": []}
    try:
        for round_ in range(ROUNDS):
            template = Template({"AllowedOrgIds": "00D000000000001"})
            aws.reset()
            aws.provision(template)
            resource_ = dynamodb()
            table = resource_.Table(template.physical["CustomersTable"]["Ref"])
            keys = KeyRegistry(resource_.Table(template.physical["KeyRegistryTable"]["Ref"]))
            services = Services(
                CustomerRepository(table, keys),
                OrderRepository(resource_.Table(template.physical["OrdersTable"]["Ref"]), keys),
                archive=None,  # type: ignore[arg-type]
            )

            stamp, later = f"2026-11-{1 + round_:02d}T10:00:00.000Z", f"2026-11-{1 + round_:02d}T11:00:00.000Z"
            first = [bulk_message("Account", _account(n, stamp), "00D0", received) for n in range(MERGE_ROWS)]
            timings["load"].append(_through_merges(registry, services, first))
            loaded = _scan(table)
            changed = [
                bulk_message("Account", _account(n, later, phone=f"+49 {n}"), "00D0", received)
                for n in range(MERGE_ROWS)
            ]
            timings["update"].append(_through_merges(registry, services, changed))
            updated = _scan(table)
            timings["load bare"].append(_batch_write(table, loaded))  # the same items again, into the same table
            timings["update bare"].append(_batch_write(table, updated))
    finally:
        aws.stop()
    load, load_bare = statistics.median(timings["load"]), statistics.median(timings["load bare"])
    update, update_bare = statistics.median(timings["update"]), statistics.median(timings["update bare"])
    return [
        (f"full load, {MERGE_ROWS} new Accounts through the merges (rows/s)", MERGE_ROWS / load, MERGE_ROWS / load_bare,
         "BatchWriteItem of the same Customers (rows/s)"),
        (f"the same {MERGE_ROWS} Accounts changed, through the merges (rows/s)", MERGE_ROWS / update,
         MERGE_ROWS / update_bare, "BatchWriteItem of the same Customers (rows/s)"),
    ]  # fmt: skip


def _through_merges(registry: Any, services: Any, messages: list[Any]) -> float:
    started = time.perf_counter()
    for start in range(0, len(messages), 200):  # as apply_page hands them over
        results = registry.dispatch_batch(messages[start : start + 200], services)
        assert all(r["action"] == "customer_upserted" for r in results), results[:3]
    return time.perf_counter() - started


def _batch_write(table: Any, items: list[dict[str, Any]]) -> float:
    client = table.meta.client
    started = time.perf_counter()
    for start in range(0, len(items), 25):
        pending: dict[str, Any] = {table.name: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
        while pending:
            pending = dict(client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {})
    return time.perf_counter() - started


def _scan(table: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    arguments: dict[str, Any] = {"Limit": 250}  # moto's server is slow to scan: short pages, under the timeout
    while True:
        response = table.scan(**arguments)
        items += response["Items"]
        if "LastEvaluatedKey" not in response:
            return items
        arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]


# The page applier's memory and Salesforce API calls, at two sizes.


class _DiscardingCustomers:
    """The order system's Customers answering at once and keeping nothing: only our applier's memory counts."""

    def account_links(self, account_ids: Sequence[str]) -> dict[str, Any]:
        return {}

    def link_accounts(self, links: Any) -> dict[str, Any]:
        from sf_edge.order_system.entities import AccountLink

        return {a: AccountLink(c) for a, c in links.items()}

    def items(self, customer_ids: Sequence[str]) -> dict[str, Any]:
        return {}

    def merge_many(self, merges: Any, read: Any = None) -> dict[str, Any]:
        from sf_edge.order_system.customer_repository import MergeOutcome

        return {c: MergeOutcome(list(m.changes), False, {}) for c, m in merges.items()}


class _DiskPages:
    """Pages on local disk, deleted once applied (the applier's side of S3)."""

    bucket = "bench"

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, key: str, data: BinaryIO) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            while piece := data.read(65536):
                out.write(piece)

    @contextmanager
    def open(self, key: str) -> Iterator[Callable[[int], bytes]]:
        with (self.root / key).open("rb") as source:
            yield source.read

    def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            (self.root / key).unlink(missing_ok=True)

    def stored(self) -> list[str]:
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*.csv"))


class _MemoryLedger:
    def __init__(self) -> None:
        from sf_edge.sync.runs import Page, Run

        self.runs: dict[str, Run] = {}
        self._pages: dict[tuple[str, int], Page] = {}

    def watermark(self, sobject: str) -> str | None:
        return None

    def run(self, sobject: str) -> Any:
        return self.runs.get(sobject)

    def open(self, run: Any) -> Any:
        return self.runs.setdefault(run.sobject, run)

    def save(self, run: Any) -> None:
        self.runs[run.sobject] = run

    def add_page(self, page: Any) -> None:
        self._pages[(page.job_id, page.number)] = page

    def pages(self, sobject: str, job_id: str) -> list[Any]:
        return [p for (j, _), p in self._pages.items() if j == job_id]

    def applied(self, page: Any) -> None:
        self._pages[(page.job_id, page.number)] = page

    def close(self, run: Any, report: Any) -> str:
        del self.runs[run.sobject]
        return str(run.high)

    def abandon(self, run: Any, why: str) -> None:
        del self.runs[run.sobject]


class _NoMarks:
    def marks(self, entity: str, limit: int) -> list[Any]:
        return []

    def outstanding(self, entity: str) -> int:
        return 0

    def clear(self, marks: Any) -> int:
        return 0

    def record_sync_failure(self, **_: Any) -> None:
        raise AssertionError("a benchmark row failed")


def applier_process(rows: int) -> dict[str, Any]:
    """One sync of `rows` synthetic Accounts from the stand-in, pages applied as they are read (the Distributed
    Map's work, one page at a time here); peak RSS and the stand-in's API calls."""
    from bulk_api_stand_in import BulkApiStandIn
    from salesforce_stand_in import key_pair
    from sf_edge.notifications import bulk_handlers  # noqa: F401
    from sf_edge.notifications.reference_handlers import registry
    from sf_edge.notifications.routing import Services
    from sf_edge.salesforce.bulk_api import BulkApi
    from sf_edge.salesforce.rest_client import JwtBearerSignIn, SalesforceClient, SalesforceSettings, Urllib3Transport
    from sf_edge.sync.runs import BulkSync, SyncLimits

    private, public = key_pair()
    org = BulkApiStandIn(public, polls_to_complete=1).start()
    org.synthetic("Account", rows, lambda n: _account(n, "2026-11-20T10:00:00.000Z"))
    transport = Urllib3Transport(read_timeout=120)
    settings = SalesforceSettings(login_url=org.url, client_id=org.consumer_key, username=next(iter(org.users)))
    api = BulkApi(SalesforceClient(JwtBearerSignIn(settings, lambda: private, transport), transport))
    ledger = _MemoryLedger()
    with tempfile.TemporaryDirectory() as scratch:
        pages = _DiskPages(Path(scratch))
        steps = BulkSync(
            bulk=lambda: api,
            ledger=ledger,
            pages=pages,
            marks=_NoMarks(),
            services=Services(_DiscardingCustomers(), orders=None, archive=None),  # type: ignore[arg-type]
            registry=registry,
            limits=SyncLimits(page_size=PAGE_SIZE),
        )
        started = time.perf_counter()
        state = steps.poll(steps.poll(steps.begin({"objects": ["Account"]})))
        applied = 0
        while state["state"] == "reading":
            state = steps.read_page(state)
            for key in pages.stored():  # apply each page once it is stored, then it is gone
                applied += steps.apply_page("Account", key)["applied"]
                pages.delete([key])
        seconds = time.perf_counter() - started
    org.stop()
    job_calls = [c for c in org.api_calls if "/jobs/query" in c[1]]
    return {
        "rows": applied,
        "seconds": seconds,
        "peak_rss_mb": _peak_rss_mb(),
        "creates": sum(1 for m, p, _ in job_calls if m == "POST"),
        "results": sum(1 for _, p, _ in job_calls if p.endswith("/results")),
        "polls": sum(1 for m, p, _ in job_calls if m == "GET" and not p.endswith("/results")),
    }


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: its own since it began; getrusage's maxrss on Linux carries over
    the parent's from before the exec, the benchmark's own hundreds of MB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: maxrss is the process's own


def _in_fresh_process(rows: int) -> dict[str, Any]:
    code = f"import json; from bench.sync_bench import applier_process; print(json.dumps(applier_process({rows})))"
    env = {**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def ingest_jobs_for(write_backs: int) -> tuple[int, int]:
    """The jobs (and CSV bytes) the bulk write-back makes of `write_backs` parked write-backs."""
    from sf_edge.salesforce.bulk_api import MAX_UPLOAD_BYTES, BulkJob
    from sf_edge.salesforce.ids import to_18
    from sf_edge.write_back.bulk_delivery import BulkWriteBack
    from sf_edge.write_back.messages import ParkedWriteBack
    from sf_edge.write_back.rules import DECLARED_RULES, WriteBackRules

    class Parked:
        def __init__(self) -> None:
            self.taken: set[str] = set()

        def parked(self, group: str) -> Iterator[ParkedWriteBack]:
            for n in range(write_backs):
                key = f"{group}/{to_18(f'006{n:012d}')}"
                if key not in self.taken:
                    fields = {"ERP_Order_Id__c": str(100000 + n), "Integration_Status__c": "Synced",
                              "Integration_Message__c": None}  # fmt: skip
                    yield ParkedWriteBack(key, "Opportunity", "Id", key.rsplit("/", 1)[1], fields, "s")  # type: ignore[arg-type]

        def in_batch(self, group: str, batch: str) -> Iterator[ParkedWriteBack]:
            return iter(())

        def take(self, parked: ParkedWriteBack, group: str, batch: str) -> bool:
            self.taken.add(parked.key)
            return True

    class Uploads:
        def __init__(self) -> None:
            self.sizes: list[int] = []

        def create_ingest(self, sobject: str, field: str) -> BulkJob:
            return BulkJob(f"750{len(self.sizes):015d}", "Open", "65.0", operation="upsert")

        def upload(self, job: BulkJob, data: BinaryIO) -> None:
            self.sizes.append(len(data.read()))

        def close(self, job: BulkJob) -> BulkJob:
            return job

    uploads, ledger = Uploads(), Parked()
    sender = BulkWriteBack(
        bulk=lambda: uploads,  # type: ignore[arg-type, return-value]
        ledger=ledger,  # type: ignore[arg-type]
        dead_letters=None,  # type: ignore[arg-type]
        fields_of=WriteBackRules.load(DECLARED_RULES).fields_of,
        max_upload_bytes=MAX_UPLOAD_BYTES,
    )
    while sender.begin({"group": "Opportunity/Id"})["state"] != "done":
        pass
    return len(uploads.sizes), sum(uploads.sizes)


def table() -> list[str]:
    merges = merges_vs_batch_write()
    small, big = _in_fresh_process(PAGE_SIZE), _in_fresh_process(BIG_ROWS)
    jobs, csv_bytes = ingest_jobs_for(BIG_ROWS)
    lines = [
        "",
        "## Bulk sync (Bulk API 2.0)",
        "",
        "| measurement | ours | reference | ratio | target |",
        "|---|---:|---:|---:|---|",
    ]
    for name, ours, reference, what in merges:
        ratio = ours / reference
        verdict = "met" if ratio >= 0.5 else "missed"
        lines.append(f"| {name} | {ours:,.0f} | {what}: {reference:,.0f} | {ratio:.2f}x | >= 0.5x: {verdict} |")
    rss = big["peak_rss_mb"] / small["peak_rss_mb"]
    lines.append(
        f"| page applier peak RSS, {BIG_ROWS:,} rows | {big['peak_rss_mb']:.0f} MB | {PAGE_SIZE:,} rows: "
        f"{small['peak_rss_mb']:.0f} MB | {rss:.2f}x | <= 1.2x: {'met' if rss <= 1.2 else 'missed'} |"
    )
    expected = 1 + math.ceil(BIG_ROWS / PAGE_SIZE) + big["polls"]
    calls = big["creates"] + big["results"] + big["polls"]
    lines.append(
        f"| Salesforce API calls, {BIG_ROWS:,} rows synced (maxRecords {PAGE_SIZE:,}; polls: 5 s, doubled to 60 s) "
        f"| {calls} ({big['creates']} job + {big['results']} result calls + {big['polls']} polls) "
        f"| 1 + ⌈rows / maxRecords⌉ + polls: {expected} | {calls / expected:.2f}x | = 1x: "
        f"{'met' if calls == expected else 'missed'} |"
    )
    limit = math.ceil(csv_bytes / (100 * 1024 * 1024))
    lines.append(
        f"| ingest jobs for {BIG_ROWS:,} write-backs ({csv_bytes / 1e6:.0f} MB of CSV) | {jobs} | "
        f"⌈CSV / 100 MB⌉: {limit} | {jobs / limit:.2f}x | = 1x: {'met' if jobs == limit else 'missed'} |"
    )
    lines += [
        "",
        f"The applier read and applied {big['rows']:,} rows in {big['seconds']:.0f} s "
        f"({big['rows'] / big['seconds']:,.0f} rows/s with the store answering at once: parsing, validation and "
        "batching, our CPU alone). Merges and BatchWriteItem run on moto's server, interleaved, medians of "
        f"{ROUNDS} rounds.",
    ]
    return lines


def write_section(results: Path = ROOT / "bench" / "results.md") -> None:
    """Measure the bulk sync alone and put its section into results.md in place of the last one, leaving the
    rest as the last full `make bench` wrote it (`python -m bench.sync_bench`)."""
    stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    section = table()
    section[1] += f" (measured {stamp}, on its own: `python -m bench.sync_bench`)"
    text = results.read_text(encoding="utf-8") if results.exists() else ""
    head, _, tail = text.partition("\n## Bulk sync (Bulk API 2.0)")
    rest = tail.partition("\n## ")[2]
    results.write_text(
        head.rstrip("\n") + "\n" + "\n".join(section) + "\n" + (f"\n## {rest}" if rest else ""), encoding="utf-8"
    )
    print("\n".join(section))


if __name__ == "__main__":
    write_section()
