"""Batch handlers for the bulk sync: a page of Accounts or won Opportunities applied with a few batched reads and
transactions instead of a handful of calls per row, reaching the end state the reference handlers reach one
by one (tests/integration/test_bulk_handlers.py applies the same rows both ways and compares the tables).

Only the common cases are batched: an Account already linked to a real Customer, or not linked yet; a won
Opportunity whose Account is linked, or whose Order exists. Every other row (a placeholder to replace, a row
without a stamp, an Opportunity without its Account, a deleted Opportunity, a row two of the page touch, a row
another writer changed between our read and our write) goes to its reference handler, one by one, so the rules
of those cases live in one place. A row that cannot be read (an id that is no Salesforce id, a value of the
wrong type) is answered `invalid` with the reason, and nothing of it is applied.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from sf_edge.notifications.reference_handlers import (
    CLOSED_WON,
    _AccountFields,
    _modstamp,
    _OpportunityFields,
    customer_changes,
    new_order,
    order_result,
    registry,
)
from sf_edge.notifications.routing import INVALID, HandlerResult, Services
from sf_edge.order_system.customer_repository import CustomerMerge
from sf_edge.order_system.entities import SHIP_TO, Customer, Order
from sf_edge.order_system.order_lines import NOT_READ_BY_BULK, unavailable
from sf_edge.salesforce.ids import to_18
from sf_edge.salesforce.notification_message import NotificationMessage

# The Customer columns an Order's ship-to copies: when one of them changes, the Customer's unshipped Orders follow.
_SHIP_TO_SOURCES = tuple(SHIP_TO.values())


def _invalid(why: Exception) -> HandlerResult:
    reason = (
        "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in why.errors()) if isinstance(why, ValidationError) else str(why)
    )
    return {"action": INVALID, "reason": reason[:500]}


def _one_by_one(message: NotificationMessage, services: Services) -> HandlerResult:
    try:
        result = registry.dispatch(message, services)
    except (ValidationError, ValueError) as bad:
        return _invalid(bad)
    result.pop("handler", None)  # dispatch_batch names the handler
    return result


@registry.register_batch("Account")
def accounts_to_customers(messages: Sequence[NotificationMessage], services: Services) -> list[HandlerResult]:
    """Whole Account records (each stamped by its SystemModstamp) to their Customers, as `account_to_customer`."""
    results: list[HandlerResult | None] = [None] * len(messages)
    slow: list[int] = []
    rows: list[tuple[int, _AccountFields, str, str]] = []
    for index, message in enumerate(messages):
        try:
            account = _AccountFields.model_validate(message.fields)
            account_id, stamp = to_18(account.Id), _modstamp(message.fields)
        except (ValidationError, ValueError) as bad:
            results[index] = _invalid(bad)
            continue
        if stamp is None:
            slow.append(index)
        else:
            rows.append((index, account, account_id, stamp))
    links = services.customers.account_links([account_id for _, _, account_id, _ in rows])
    wanted = {a: (account.AccountNumber or "").strip() or a for _, account, a, _ in rows if a not in links}
    links |= services.customers.link_accounts(wanted) if wanted else {}
    targets: dict[str, tuple[int, _AccountFields, str, str]] = {}
    seen: set[str] = set()
    for row in rows:
        index, _, account_id, _ = row
        link = links[account_id]
        if link.placeholder or link.customer_id in targets or account_id in seen:
            slow.append(index)  # a placeholder to replace, or a Customer two rows of this batch touch
        else:
            targets[link.customer_id] = row
        seen.add(account_id)
    leftovers = [a for c, (_, _, a, _) in targets.items() if a != c]
    stored = services.customers.items([*targets, *leftovers])
    for customer_id, (index, _, account_id, _) in list(targets.items()):
        if account_id != customer_id and stored.get(account_id, {}).get("Placeholder"):
            slow.append(index)  # a placeholder left behind: the handler moves its Orders and removes it
            del targets[customer_id]
    merges = {
        customer_id: CustomerMerge(
            customer_changes(
                messages[index], account, account_id, deleted=account.IsDeleted, own=customer_id == account_id
            ),
            stamp,
            new={"CompanyName": f"Salesforce Account {account_id}", "SalesforceAccountId": account_id},
        )
        for customer_id, (index, account, account_id, stamp) in targets.items()
    }
    outcomes = services.customers.merge_many(merges, read={c: stored[c] for c in targets if c in stored})
    for customer_id, (index, _, _, stamp) in targets.items():
        outcome = outcomes[customer_id]
        before, stamps = stored.get(customer_id, {}), outcome.item.get("FieldStamps") or {}
        moved = any(before.get(c) != outcome.item.get(c) for c in _SHIP_TO_SOURCES)
        # Applied again with nothing new (after an interruption, maybe before its Orders followed): follow again.
        again = not outcome.applied and any(str(stamps.get(c, "")) == stamp for c in _SHIP_TO_SOURCES)
        if outcome.existed and (moved or again):
            customer = Customer.model_validate(outcome.item)
            for order in services.orders.for_customer(customer_id):
                services.orders.follow_customer(order, customer)
        action = "customer_upserted" if outcome.applied else "stale_ignored"
        results[index] = {"action": action, "customerId": customer_id}
    for index in sorted(slow):
        results[index] = _one_by_one(messages[index], services)
    return [r if r is not None else {"action": INVALID, "reason": "not applied"} for r in results]


@registry.register_batch("Opportunity")
def won_opportunities_to_orders(messages: Sequence[NotificationMessage], services: Services) -> list[HandlerResult]:
    """Won Opportunities to one Order each, as `opportunity_closed_won`."""
    results: list[HandlerResult | None] = [None] * len(messages)
    slow: list[int] = []
    rows: dict[str, tuple[int, _OpportunityFields]] = {}
    for index, message in enumerate(messages):
        try:
            opportunity = _OpportunityFields.model_validate(message.fields)
            opportunity_id = to_18(opportunity.Id)
            account_id = to_18(opportunity.AccountId) if opportunity.AccountId else None
        except (ValidationError, ValueError) as bad:
            results[index] = _invalid(bad)
            continue
        if opportunity.IsDeleted or account_id is None or opportunity_id in rows:
            slow.append(index)
        elif not opportunity.won:
            results[index] = {"action": "ignored", "reason": f"stage {opportunity.StageName!r} is not {CLOSED_WON}"}
        else:
            rows[opportunity_id] = (index, opportunity)
    claimed = services.orders.order_ids_for_opportunities(list(rows))
    existing = services.orders.get_many(list(claimed.values()))
    unclaimed: dict[str, tuple[int, _OpportunityFields]] = {}
    for opportunity_id, (index, opportunity) in rows.items():
        order_id = claimed.get(opportunity_id)
        if order_id is None:
            unclaimed[opportunity_id] = (index, opportunity)
        elif order_id in existing:
            order = existing[order_id]
            results[index] = order_result("order_exists", order, opportunity_id)
        else:
            slow.append(index)  # claimed, its Order not written yet: the handler repairs it
    links = services.customers.account_links([to_18(o.AccountId or "") for _, o in unclaimed.values()])
    placed: dict[str, tuple[int, _OpportunityFields, str]] = {}
    for opportunity_id, (index, opportunity) in unclaimed.items():
        link = links.get(to_18(opportunity.AccountId or ""))
        if link is None or link.placeholder:
            slow.append(index)  # its Account is not known yet: the handler leaves a placeholder Customer
        else:
            placed[opportunity_id] = (index, opportunity, link.customer_id)
    customers = services.customers.items(list({c for _, _, c in placed.values()}))
    # Lines are read one Opportunity a call: not for a page of thousands. These Orders say so, and the
    # Opportunity's next notification completes them.
    lines = unavailable(services.lines_not_read if services.line_items is None else NOT_READ_BY_BULK)
    orders: dict[str, Order] = {}
    for opportunity_id, (index, opportunity, customer_id) in placed.items():
        stored = customers.get(customer_id)
        customer = Customer.model_validate(stored) if stored else None
        orders[opportunity_id] = new_order(messages[index], opportunity, customer_id, customer, lines)
    created = services.orders.create_many_for_opportunities(orders)
    for opportunity_id, (index, _, _) in placed.items():
        if opportunity_id in created:
            results[index] = order_result("order_created", created[opportunity_id], opportunity_id)
        else:
            slow.append(index)  # another channel claimed it in between
    for index in sorted(slow):
        results[index] = _one_by_one(messages[index], services)
    return [r if r is not None else {"action": INVALID, "reason": "not applied"} for r in results]
