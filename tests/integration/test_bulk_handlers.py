"""The batch handlers reach the end state the reference handlers reach one by one: the same rows (every case the
batch path takes and every case it hands to the reference handler) applied both ways, on the same starting
state, leave the same Customers, Orders and links, and answer the same actions."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from conftest import Stack, seed_customers, worker_services
from sf_edge.notifications import bulk_handlers  # noqa: F401 - registers the batch handlers
from sf_edge.notifications.reference_handlers import registry
from sf_edge.salesforce.ids import to_18
from sf_edge.salesforce.notification_message import NotificationMessage
from sf_edge.sync.runs import bulk_message

ORG = "00D000000000001"
RECEIVED = datetime(2026, 12, 1, tzinfo=UTC)
ACC = {n: to_18(f"0015g0000BaTc{n:02d}") for n in range(10)}
OPP = {n: to_18(f"0065g0000BaTc{n:02d}") for n in range(10)}


def account(n: int, stamp: str, **fields: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = {
        "Id": ACC[n], "SystemModstamp": stamp, "IsDeleted": "false", "Name": f"Account {n}", "AccountNumber": None,
        "Phone": None, "Fax": None, "BillingStreet": f"Street {n}", "BillingCity": "Lyon", "BillingState": None,
        "BillingPostalCode": None, "BillingCountry": "France", "LastModifiedDate": None,
    }  # fmt: skip
    return row | fields


def opportunity(n: int, account_id: str | None, stamp: str, **fields: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = {
        "Id": OPP[n], "SystemModstamp": stamp, "IsDeleted": "false", "AccountId": account_id, "Name": f"Deal {n}",
        "StageName": "Closed Won", "IsWon": "true", "Amount": "250.00", "CloseDate": "2026-11-28",
    }  # fmt: skip
    return row | fields


ACCOUNTS = [
    account(0, "2026-11-20T10:00:00.000Z"),  # new
    account(1, "2026-11-20T10:00:00.000Z", AccountNumber="ALFKI", Name="Alfreds (from Salesforce)"),  # Northwind
    account(2, "2026-11-21T10:00:00.000Z"),  # its won Opportunity came first: a placeholder to replace
    account(3, "2026-11-20T10:00:00.000Z", Phone="1"),
    account(3, "2026-11-22T10:00:00.000Z", Phone="2"),  # the same Account twice: the newer wins
    account(4, "2026-11-20T10:00:00.000Z", AccountNumber="BLAUS"),
    account(5, "2026-11-20T10:00:00.000Z", AccountNumber="BLAUS"),  # the same Customer as the row before
    account(6, "2026-11-20T10:00:00.000Z", IsDeleted="true"),  # deleted in Salesforce (queryAll)
    account(7, "2026-11-19T10:00:00.000Z", Name="older than what is stored"),  # linked, and stale
    account(8, "2026-11-23T10:00:00.000Z", BillingCity="Paris"),  # linked, moved: its Order follows
    {"Id": "not-an-id", "SystemModstamp": "2026-11-20T10:00:00.000Z", "Name": "x"},
    account(9, "not a time"),
]
OPPORTUNITIES = [
    opportunity(0, ACC[0], "2026-11-28T10:00:00.000Z"),  # its Account linked in this sync
    opportunity(1, ACC[1], "2026-11-28T10:00:00.000Z"),  # to ALFKI
    opportunity(2, to_18("0015g0000NoAcct"), "2026-11-28T10:00:00.000Z"),  # its Account unknown: a placeholder
    opportunity(3, None, "2026-11-28T10:00:00.000Z"),  # no Account: archived
    opportunity(4, ACC[3], "2026-11-28T10:00:00.000Z", StageName="Prospecting", IsWon="false"),
    opportunity(5, ACC[8], "2026-11-28T10:00:00.000Z"),  # its Order exists already
    opportunity(6, ACC[8], "2026-11-28T10:00:00.000Z", IsDeleted="true"),  # won, then deleted
    opportunity(7, ACC[4], "2026-11-28T10:00:00.000Z", Amount="lots"),
]


def messages(rows: list[dict[str, str | None]], sobject: str) -> list[NotificationMessage]:
    return [bulk_message(sobject, row, ORG, RECEIVED) for row in rows]


def prepare(stack: Stack) -> Any:
    """Northwind's Customers; Accounts 7 and 8 linked and stored (8 with a won Opportunity's unshipped Order,
    and the Opportunity 6 won); Account 2's Opportunity applied before the Account, so a placeholder."""
    stack.provision()
    seed_customers(stack)
    services = worker_services()
    registry.dispatch_batch(
        messages([account(7, "2026-11-20T10:00:00.000Z"), account(8, "2026-11-20T10:00:00.000Z")], "Account"), services
    )
    earlier = [opportunity(n, ACC[a], "2026-11-20T10:00:00.000Z") for n, a in ((9, 2), (5, 8), (6, 8))]
    for row in messages(earlier, "Opportunity"):
        registry.dispatch(row, services)
    return services


def state(stack: Stack) -> dict[str, Any]:
    """The tables, with what differs by construction left out: row versions (a one-by-one write is a few writes,
    a batched one one) and OrderIDs (taken in another order), Orders known by their Opportunity instead."""
    customers = {
        c["CustomerID"]: {k: v for k, v in c.items() if k != "_v"}
        for c in stack.table("CustomersTable").scan()["Items"]
    }
    orders = {
        o["SalesforceOpportunityId"]: {k: v for k, v in o.items() if k not in ("_v", "OrderID")}
        for o in stack.table("OrdersTable").scan()["Items"]
        if o.get("SalesforceOpportunityId")
    }
    links = {
        k["Key"]: k.get("CustomerID", "order")
        for k in stack.table("KeyRegistryTable").scan()["Items"]
        if "#" in k["Key"] and not k["Key"].startswith("sequence#")
    }
    return {"customers": customers, "orders": orders, "links": links}


def actions(results: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["handler"], r["action"]) for r in results]


def test_batches_reach_the_state_one_by_one_does(stack: Stack) -> None:
    rows = messages(ACCOUNTS, "Account") + messages(OPPORTUNITIES, "Opportunity")

    services = prepare(stack)
    one_by_one = []
    for message in rows:
        try:
            one_by_one.append(registry.dispatch(message, services))
        except ValueError as bad:
            one_by_one.append({"handler": "-", "action": "invalid", "reason": str(bad)})
    expected = state(stack)

    services = prepare(stack)
    batched = registry.dispatch_batch(rows[: len(ACCOUNTS)], services) + registry.dispatch_batch(
        rows[len(ACCOUNTS) :], services
    )

    assert state(stack) == expected
    pairs = list(zip(actions(one_by_one), actions(batched), strict=True))
    assert [b for a, b in pairs if a[1] != "invalid"] == [a for a, _ in pairs if a[1] != "invalid"]
    invalid = [r for r in batched if r["action"] == "invalid"]
    assert len(invalid) == 3  # the id that is no id, the stamp that is no time, the amount that is no number
    assert expected["customers"]["ALFKI"]["CompanyName"] == "Alfreds (from Salesforce)"
    assert expected["customers"][ACC[3]]["Phone"] == "2"
    assert expected["customers"][ACC[6]]["SalesforceDeleted"] is True
    assert expected["customers"][ACC[7]]["CompanyName"] == "Account 7"  # the stale row changed nothing
    assert expected["orders"][OPP[5]]["ShipCity"] == "Paris"
    assert expected["orders"][OPP[6]]["SalesforceDeleted"] is True
    assert expected["orders"][OPP[2]]["CustomerID"] == to_18("0015g0000NoAcct")  # a placeholder, until it is known
    assert ACC[2] not in expected["customers"] or not expected["customers"][ACC[2]].get("Placeholder")
    assert expected["orders"][OPP[1]]["SalesforceAmount"] == Decimal("250.00")
