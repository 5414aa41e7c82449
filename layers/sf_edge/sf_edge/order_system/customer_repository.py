"""Customers in DynamoDB, and the link from a Salesforce Account to its Customer.

A link is claimed once per Account. One claimed by a won Opportunity that arrived before its Account is a
placeholder (a Customer keyed by the Account id, marked `Placeholder`): the Account's own notification decides
the real Customer (its AccountNumber, else the Account id) and replaces the placeholder with it, so the end state
does not depend on which notification came first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sf_edge.aws.item_table import ItemTable
from sf_edge.domain_errors import ConditionNotMet
from sf_edge.order_system import OrderSystemError
from sf_edge.order_system.entities import AccountLink, Customer
from sf_edge.order_system.key_registry import KeyRegistry
from sf_edge.row_version import VERSION, read_condition, version_of

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class StaleUpdate(OrderSystemError):  # noqa: N818 - an outcome, not a failure
    """The stored Customer reflects a newer Salesforce change than the one being applied."""


class CustomerRepository:
    """Reads and writes Customers (partition key `CustomerID`)."""

    def __init__(self, table: Table, keys: KeyRegistry) -> None:
        self.table = ItemTable(table)
        self.keys = keys

    def get(self, customer_id: str) -> Customer | None:
        """The Customer with this id, if any."""
        item = self._item(customer_id)
        return Customer.model_validate(item) if item else None

    def _item(self, customer_id: str) -> dict[str, Any]:
        """The stored Customer as an item, read consistently (empty when there is none)."""
        return self.table.get({"CustomerID": customer_id}) or {}

    def customer_id_for_account(self, account_id: str) -> str | None:
        """The CustomerID linked to a Salesforce Account (18-character id), if linked."""
        link = self.account_link(account_id)
        return link.customer_id if link else None

    def account_link(self, account_id: str) -> AccountLink | None:
        """The Account's link, read consistently, if it has one."""
        claim = self.keys.get(f"account#{account_id}")
        return _link(claim) if claim else None

    def account_links(self, account_ids: Sequence[str]) -> dict[str, AccountLink]:
        """The links of these Accounts, read consistently in batches; unlinked ones left out."""
        claims = self.keys.get_many([f"account#{a}" for a in account_ids])
        return {key.removeprefix("account#"): _link(claim) for key, claim in claims.items()}

    def link_accounts(self, links: Mapping[str, str]) -> dict[str, AccountLink]:
        """`link_account` for many Accounts (Account id → the Customer wanted); whichever link won, per Account."""
        won = self.keys.claim_many({f"account#{a}": {"CustomerID": c} for a, c in links.items()})
        return {key.removeprefix("account#"): _link(claim) for key, claim in won.items()}

    def link_account(self, account_id: str, customer_id: str, *, placeholder: bool = False) -> AccountLink:
        """Link the Account to a Customer unless it is linked already; return whichever link won."""
        attributes: dict[str, Any] = {"CustomerID": customer_id} | ({"Placeholder": True} if placeholder else {})
        return _link(self.keys.claim(f"account#{account_id}", attributes))

    def confirm_link(self, account_id: str, customer_id: str) -> AccountLink:
        """Turn a placeholder link into the real one (idempotent); a link already confirmed is left as it is."""
        return _link(self.keys.confirm(f"account#{account_id}", "CustomerID", customer_id))

    def create_placeholder(self, account_id: str) -> None:
        """The placeholder Customer of an Account not yet heard of (keyed by the Account id); kept if present."""
        self.ensure(account_id, account_id, placeholder=True)

    def remove_placeholder(self, customer_id: str) -> bool:
        """Delete the Customer if it is (still) a placeholder; True when one was deleted."""
        try:
            self.table.delete({"CustomerID": customer_id}, ConditionExpression="attribute_exists(Placeholder)")
        except ConditionNotMet:
            return False
        return True

    def upsert(self, customer_id: str, changes: dict[str, Any], *, modstamp: str | None) -> None:
        """Set (or, for None values, remove) attributes; refuse a change older than the stored one."""
        from sf_edge.aws.update_expressions import set_or_remove

        update = set_or_remove(
            changes | ({"SalesforceModstamp": modstamp} if modstamp else {}),
            more_sets=["#v = if_not_exists(#v, :zero) + :one"],  # the row's version: every write moves it
        )
        names = update.names | {"#v": VERSION}
        kwargs: dict[str, Any] = {
            "UpdateExpression": update.expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": update.values | {":zero": 0, ":one": 1},
        }
        if modstamp:
            names["#ms"] = "SalesforceModstamp"
            kwargs["ConditionExpression"] = "attribute_not_exists(#ms) OR #ms <= :ms"
            kwargs["ExpressionAttributeValues"][":ms"] = modstamp
        try:
            self.table.update({"CustomerID": customer_id}, **kwargs)
        except ConditionNotMet:
            raise StaleUpdate(customer_id) from None

    def merge(self, customer_id: str, changes: Mapping[str, Any], *, stamp: str | Mapping[str, str]) -> list[str]:
        """Apply the changes that win over what is stored (`winning_changes`: a change event carries only the
        fields it changed, so changes to different fields must not hide one another); return the columns applied.
        Nothing is written when nothing wins (a change already applied, brought again by another channel).

        Optimistic: the write is conditional on the row's version as read, and read again when another write
        landed in between."""
        stamp_of = stamps_of(stamp)
        for _ in range(_MERGE_ATTEMPTS):
            item = self._item(customer_id)
            applied = winning_changes(item, changes, stamp_of)
            if not applied:
                return []
            try:
                self.table.update({"CustomerID": customer_id}, **merge_update(item, applied, stamp_of))
            except ConditionNotMet:
                continue
            return sorted(applied)
        raise ConcurrentChange(customer_id)

    def items(self, customer_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored Customers (as items) with these ids, read consistently in batches; absent ones left out."""
        return {str(i["CustomerID"]): i for i in self.table.get_many([{"CustomerID": c} for c in customer_ids])}

    def merge_many(
        self, merges: Mapping[str, CustomerMerge], read: Mapping[str, dict[str, Any]] | None = None
    ) -> dict[str, MergeOutcome]:
        """`merge` for many Customers at once, each with its own stamp: read in batches (or as `read` holds them),
        the winning changes written 100 a transaction, each conditional on its row as read. A Customer another
        writer changed in between takes the one-row path (`ensure`, then `merge`), so it is merged on what that
        writer left. A Customer not stored yet is created with its `new` attributes (what `ensure` writes)."""
        items = dict(read) if read is not None else self.items(list(merges))
        outcomes: dict[str, MergeOutcome] = {}
        writes: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        for customer_id, wanted in merges.items():
            item = items.get(customer_id, {})
            stamp_of = stamps_of(wanted.stamp)
            applied = winning_changes(item or wanted.new, wanted.changes, stamp_of)
            if not applied:
                outcomes[customer_id] = MergeOutcome([], bool(item), item)
                continue
            if item:
                # The whole item as read with the changes, put only while the row is as read (its version): the
                # same outcome as merge's update, for a write whose cost does not grow with its expression.
                after = _updated(item, applied, stamp_of)
                as_read = read_condition(item, "CustomerID")
                action = {
                    "Put": {
                        "Item": after,
                        "ConditionExpression": as_read.expression,
                        "ExpressionAttributeNames": as_read.names,
                        **({"ExpressionAttributeValues": as_read.values} if as_read.values else {}),
                    }
                }
            else:
                after = _created(customer_id, wanted.new, applied, stamp_of)
                action = {"Put": {"Item": after, "ConditionExpression": "attribute_not_exists(CustomerID)"}}
            writes.append((customer_id, action, after))
            outcomes[customer_id] = MergeOutcome(sorted(applied), bool(item), after)
        lost = self.table.write_conditionally([[action] for _, action, _ in writes])
        for index in sorted(lost):
            customer_id = writes[index][0]
            wanted = merges[customer_id]
            existed = bool(self._item(customer_id))
            if wanted.new:
                self.ensure(customer_id, str(wanted.new.get("SalesforceAccountId", "")))
            columns = self.merge(customer_id, wanted.changes, stamp=wanted.stamp)
            outcomes[customer_id] = MergeOutcome(columns, existed, self._item(customer_id))
        return outcomes

    def stamped_fields(self, customer_id: str) -> tuple[dict[str, Any], dict[str, str]]:
        """The Customer's columns written by merge, with their stamps (what a placeholder hands on)."""
        item = self._item(customer_id)
        stamps = {str(k): str(v) for k, v in (item.get("FieldStamps") or {}).items()}
        return {c: item.get(c) for c in stamps}, stamps

    def ensure(self, customer_id: str, account_id: str, *, placeholder: bool = False) -> None:
        """A Customer for the Account, named after it until its Name arrives; kept if present."""
        item: dict[str, Any] = {
            "CustomerID": customer_id,
            "CompanyName": f"Salesforce Account {account_id}",
            "SalesforceAccountId": account_id,
            VERSION: 1,
        }
        with suppress(ConditionNotMet):  # the customer is there already (created meanwhile): it stands
            self.table.put(
                item | ({"Placeholder": True} if placeholder else {}),
                ConditionExpression="attribute_not_exists(CustomerID)",
            )


_MERGE_ATTEMPTS = 8


def stamps_of(stamp: str | Mapping[str, str]) -> Callable[[str], str]:
    """The stamp of each column: one for all, or one each."""
    if isinstance(stamp, str):
        return lambda _column: stamp
    return lambda column: stamp[column]


def winning_changes(
    item: Mapping[str, Any], changes: Mapping[str, Any], stamp_of: Callable[[str], str]
) -> dict[str, Any]:
    """The changes that win over the stored Customer: a newer stamp than its column's, or the same stamp with
    another value (two changes of one moment: the later arrival wins). A change with its column's stamp and
    value is already there, so it is not a change.

    Each column keeps the stamp of its last write (`FieldStamps`); a whole-record stamp written by `upsert`
    (`SalesforceModstamp`, as before per-column stamps) counts for every column."""
    stamps: Mapping[str, Any] = item.get("FieldStamps") or {}
    record = str(item.get("SalesforceModstamp") or "")
    winning: dict[str, Any] = {}
    for column, value in changes.items():
        stamp, held = stamp_of(column), max(str(stamps.get(column, "")), record)
        if stamp > held or (stamp == held and item.get(column) != value):
            winning[column] = value
    return winning


def merge_update(item: Mapping[str, Any], applied: Mapping[str, Any], stamp_of: Callable[[str], str]) -> dict[str, Any]:
    """The UpdateItem arguments (all but the key) that write `applied` and their stamps over `item`, moving its
    version, only if the row is still as read."""
    from sf_edge.aws.update_expressions import set_or_remove

    stamps = {str(k): str(v) for k, v in (item.get("FieldStamps") or {}).items()}
    update = set_or_remove(
        {**applied, "FieldStamps": stamps | {c: stamp_of(c) for c in applied}}, more_sets=["#v = :next"]
    )
    read = read_condition(item, "CustomerID")
    return {
        "UpdateExpression": update.expression,
        "ConditionExpression": read.expression,
        "ExpressionAttributeNames": update.names | read.names | {"#v": VERSION},
        "ExpressionAttributeValues": update.values | read.values | {":next": version_of(item) + 1},
    }


@dataclass(frozen=True)
class CustomerMerge:
    """Changes to merge into one Customer with their stamp; `new`: the attributes a Customer not stored yet starts
    with (empty: the merge alone makes it)."""

    changes: Mapping[str, Any]
    stamp: str
    new: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MergeOutcome:
    """What a merge applied, whether the Customer was stored before it, and the Customer as it now is."""

    applied: list[str]
    existed: bool
    item: Mapping[str, Any]


def _updated(item: Mapping[str, Any], applied: Mapping[str, Any], stamp_of: Callable[[str], str]) -> dict[str, Any]:
    after = {k: v for k, v in item.items() if k not in applied} | {k: v for k, v in applied.items() if v is not None}
    after["FieldStamps"] = dict(item.get("FieldStamps") or {}) | {c: stamp_of(c) for c in applied}
    after[VERSION] = version_of(item) + 1
    return after


def _created(
    customer_id: str, new: Mapping[str, Any], applied: Mapping[str, Any], stamp_of: Callable[[str], str]
) -> dict[str, Any]:
    values = {**new, **applied}
    return {
        "CustomerID": customer_id,
        **{k: v for k, v in values.items() if v is not None},
        "FieldStamps": {c: stamp_of(c) for c in applied},
        VERSION: 1,
    }


class ConcurrentChange(OrderSystemError):  # noqa: N818 - SQS retries the notification
    """Other writes kept landing on the Customer between a merge's read and its write."""


def _link(claim: dict[str, Any]) -> AccountLink:
    return AccountLink(str(claim["CustomerID"]), bool(claim.get("Placeholder")))
