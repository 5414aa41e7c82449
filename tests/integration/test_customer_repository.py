"""The Customers repository against moto's DynamoDB: links won once, placeholders told apart from real Customers,
and Salesforce changes applied by their stamps whatever order they come in (the worker's convergence rests on it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from conftest import Stack
from sf_edge.aws.item_table import ItemTable
from sf_edge.order_system.customer_repository import (
    ConcurrentChange,
    CustomerMerge,
    CustomerRepository,
    StaleUpdate,
)
from sf_edge.order_system.entities import AccountLink
from sf_edge.order_system.key_registry import KeyRegistry

ACCOUNT = "0015g00000BlAuSAAV"
OTHER_ACCOUNT = "0015g00000FrAnKAAV"
T1, T2, T3 = "2026-11-20T09:00:00Z", "2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z"


@pytest.fixture
def customers(stack: Stack) -> CustomerRepository:
    return CustomerRepository(stack.table("CustomersTable"), KeyRegistry(stack.table("KeyRegistryTable")))


def item(customers: CustomerRepository, customer_id: str) -> dict[str, Any]:
    return customers.table.get({"CustomerID": customer_id}) or {}


# Links.


def test_the_first_link_of_an_account_wins(customers: CustomerRepository) -> None:
    assert customers.link_account(ACCOUNT, "ALFKI") == AccountLink("ALFKI")
    assert customers.link_account(ACCOUNT, "BLAUS") == AccountLink("ALFKI")  # a second worker loses, and learns it
    assert customers.customer_id_for_account(ACCOUNT) == "ALFKI"


def test_confirming_turns_a_placeholder_link_into_the_real_one(customers: CustomerRepository) -> None:
    assert customers.link_account(ACCOUNT, ACCOUNT, placeholder=True) == AccountLink(ACCOUNT, placeholder=True)
    assert customers.confirm_link(ACCOUNT, "BLAUS") == AccountLink("BLAUS")
    assert customers.account_link(ACCOUNT) == AccountLink("BLAUS")
    assert customers.confirm_link(ACCOUNT, "BLAUS") == AccountLink("BLAUS")  # again: idempotent


def test_a_confirmed_link_is_never_moved_by_a_later_confirm(customers: CustomerRepository) -> None:
    customers.link_account(ACCOUNT, "ALFKI")
    assert customers.confirm_link(ACCOUNT, "BLAUS") == AccountLink("ALFKI")
    assert customers.account_link(ACCOUNT) == AccountLink("ALFKI")


# Placeholders.


def test_only_a_placeholder_is_ever_removed(customers: CustomerRepository) -> None:
    customers.ensure("ALFKI", ACCOUNT)
    customers.create_placeholder(OTHER_ACCOUNT)
    assert "Placeholder" not in item(customers, "ALFKI")
    assert item(customers, OTHER_ACCOUNT)["Placeholder"] is True
    assert customers.remove_placeholder("ALFKI") is False
    assert customers.get("ALFKI") is not None
    assert customers.remove_placeholder(OTHER_ACCOUNT) is True
    assert customers.get(OTHER_ACCOUNT) is None
    assert customers.remove_placeholder(OTHER_ACCOUNT) is False  # already gone


def test_ensure_keeps_a_customer_that_exists(customers: CustomerRepository) -> None:
    customers.merge("ALFKI", {"CompanyName": "Alfreds Futterkiste"}, stamp=T1)
    customers.ensure("ALFKI", ACCOUNT, placeholder=True)
    assert item(customers, "ALFKI")["CompanyName"] == "Alfreds Futterkiste"
    assert "Placeholder" not in item(customers, "ALFKI")


# Whole-record upserts (Outbound Messages) and per-field merges (change events).


def test_an_upsert_keeps_its_stamp_and_refuses_an_older_one(customers: CustomerRepository) -> None:
    customers.upsert("ALFKI", {"CompanyName": "Alfreds", "Phone": "030-0074321"}, modstamp=T2)
    assert (item(customers, "ALFKI")["SalesforceModstamp"], item(customers, "ALFKI")["_v"]) == (T2, 1)
    with pytest.raises(StaleUpdate):
        customers.upsert("ALFKI", {"Phone": "older"}, modstamp=T1)
    customers.upsert("ALFKI", {"Phone": None, "City": "Berlin"}, modstamp=T3)
    stored = item(customers, "ALFKI")
    assert (stored["SalesforceModstamp"], stored["_v"], stored["City"]) == (T3, 2, "Berlin")
    assert "Phone" not in stored  # None removes the column


def test_an_upsert_without_a_stamp_stores_none_and_refuses_nothing(customers: CustomerRepository) -> None:
    customers.upsert("ALFKI", {"City": "Berlin"}, modstamp=None)
    customers.upsert("ALFKI", {"City": "Hamburg"}, modstamp=None)
    stored = item(customers, "ALFKI")
    assert (stored["City"], stored["_v"]) == ("Hamburg", 2)
    assert "SalesforceModstamp" not in stored


def test_a_merge_with_the_same_stamp_applies_again(customers: CustomerRepository) -> None:
    """'Not older' wins: the same change re-read (a gap event) or sent twice is applied, not ignored."""
    assert customers.merge("ALFKI", {"Phone": "1"}, stamp=T2) == ["Phone"]
    assert customers.merge("ALFKI", {"Phone": "2"}, stamp=T2) == ["Phone"]
    assert item(customers, "ALFKI")["Phone"] == "2"
    assert customers.merge("ALFKI", {"Phone": "older"}, stamp=T1) == []
    assert item(customers, "ALFKI")["Phone"] == "2"


def test_a_change_already_applied_writes_nothing(customers: CustomerRepository) -> None:
    """The same change brought again (a redelivery, or by Outbound Message, CDC and the bulk sync in turn) lands
    once: no write, so neither the row's version (its ETag) nor the tables' streams move."""
    assert customers.merge("ALFKI", {"Phone": "1", "City": "Berlin"}, stamp=T2) == ["City", "Phone"]
    before = item(customers, "ALFKI")
    assert customers.merge("ALFKI", {"Phone": "1", "City": "Berlin"}, stamp=T2) == []
    assert customers.merge("ALFKI", {"Phone": "1", "City": "Hamburg"}, stamp=T2) == ["City"]  # another value
    assert item(customers, "ALFKI")["_v"] == before["_v"] + 1


def test_a_newer_stamp_with_the_same_value_still_moves_the_columns_stamp(customers: CustomerRepository) -> None:
    """Otherwise a change older than this one but newer than the stored stamp would win later."""
    customers.merge("ALFKI", {"Phone": "1"}, stamp=T1)
    assert customers.merge("ALFKI", {"Phone": "1"}, stamp=T3) == ["Phone"]
    assert customers.merge("ALFKI", {"Phone": "2"}, stamp=T2) == []
    assert item(customers, "ALFKI")["Phone"] == "1"


def test_every_writer_moves_the_one_row_version(customers: CustomerRepository, stack: Stack) -> None:
    from sf_edge.aws.odata_store import EntityWrites
    from sf_edge.odata.schema import BY_NAME

    customers.ensure("NEWCO", ACCOUNT)  # a Customer created for an Account: version 1
    assert item(customers, "NEWCO")["_v"] == 1
    customers.merge("NEWCO", {"City": "Lyon"}, stamp=T1)
    customers.upsert("NEWCO", {"Fax": "1"}, modstamp=None)
    feed = EntityWrites(BY_NAME["Customers"], stack.table("CustomersTable"))
    assert feed.update({"CustomerID": "NEWCO"}, {"Phone": "2"}, expected=3)["_v"] == 4  # the ETag the feed serves


class RacingTable(ItemTable):
    """The Customers table, with another writer landing between each of a merge's reads and its write: by
    default an upsert of another column (which moves the row version), or `race(customers, value)`."""

    def __init__(
        self,
        stack: Stack,
        races: int,
        race: Callable[[CustomerRepository, str], Any] = lambda c, fax: c.upsert("ALFKI", {"Fax": fax}, modstamp=None),
        customers: CustomerRepository | None = None,
    ) -> None:
        super().__init__(stack.table("CustomersTable"))
        self.customers = customers or CustomerRepository(
            stack.table("CustomersTable"), KeyRegistry(stack.table("KeyRegistryTable"))
        )
        self.races, self.race = races, race

    def get(self, key: Mapping[str, Any], *, consistent: bool = True) -> dict[str, Any] | None:
        read = super().get(key, consistent=consistent)
        if self.races:
            self.races -= 1
            self.race(self.customers, f"race-{self.races}")
        return read


def test_a_merge_overtaken_by_another_write_reads_again_and_keeps_both(
    customers: CustomerRepository, stack: Stack
) -> None:
    customers.merge("ALFKI", {"Phone": "1"}, stamp=T1)
    customers.table = RacingTable(stack, races=2)
    assert customers.merge("ALFKI", {"City": "Berlin"}, stamp=T2) == ["City"]
    stored = item(customers, "ALFKI")
    assert (stored["Phone"], stored["City"], stored["Fax"]) == ("1", "Berlin", "race-0")


def test_two_merges_racing_on_one_read_both_land_with_their_stamps(customers: CustomerRepository, stack: Stack) -> None:
    # Each merge must move the revision, or the second writer's condition passes on a stale read and its stamps
    # map (written whole) drops the first writer's stamp.
    customers.merge("ALFKI", {"Phone": "1"}, stamp=T1)
    other_merge = lambda c, fax: c.merge("ALFKI", {"Fax": fax}, stamp=T3)  # noqa: E731 - another column's change
    customers.table = RacingTable(stack, 1, other_merge)
    assert customers.merge("ALFKI", {"City": "Berlin"}, stamp=T2) == ["City"]
    stored = item(customers, "ALFKI")
    assert (stored["Phone"], stored["City"], stored["Fax"]) == ("1", "Berlin", "race-0")
    assert set(stored["FieldStamps"]) >= {"Phone", "City", "Fax"}


def test_a_merge_overtaken_by_a_salesforce_connect_write_reads_again_and_keeps_it(
    customers: CustomerRepository, stack: Stack
) -> None:
    """The feed's writes move the version the merge's condition checks, so neither overwrites the other."""
    from sf_edge.aws.odata_store import EntityWrites
    from sf_edge.odata.schema import BY_NAME

    customers.merge("ALFKI", {"Phone": "1"}, stamp=T1)
    feed = EntityWrites(BY_NAME["Customers"], stack.table("CustomersTable"))
    racer = lambda _c, fax: feed.update({"CustomerID": "ALFKI"}, {"Fax": fax}, expected=None)  # noqa: E731
    customers.table = RacingTable(stack, 1, racer, customers)
    assert customers.merge("ALFKI", {"City": "Berlin"}, stamp=T2) == ["City"]
    stored = item(customers, "ALFKI")
    assert (stored["Phone"], stored["City"], stored["Fax"], stored["_v"]) == ("1", "Berlin", "race-0", 3)


def test_a_merge_always_overtaken_gives_up_for_sqs_to_retry(customers: CustomerRepository, stack: Stack) -> None:
    customers.merge("ALFKI", {"Phone": "1"}, stamp=T1)
    customers.table = RacingTable(stack, races=100)
    with pytest.raises(ConcurrentChange):
        customers.merge("ALFKI", {"City": "Berlin"}, stamp=T2)
    assert "City" not in item(customers, "ALFKI")


# Many merges at once (the bulk sync's pages): the same outcome as one merge each, written 100 a transaction.


def test_many_merges_update_the_stored_create_the_new_and_skip_what_is_there(customers: CustomerRepository) -> None:
    customers.merge("ALFKI", {"Phone": "1", "Fax": "9"}, stamp=T1)  # version 1
    customers.merge("ANATR", {"City": "México D.F."}, stamp=T2)  # version 1, already as the sync brings it
    outcomes = customers.merge_many(
        {
            "ALFKI": CustomerMerge({"Phone": "2", "Fax": None}, stamp=T2),  # None removes the column
            "ANATR": CustomerMerge({"City": "México D.F."}, stamp=T2),
            "NEWCO": CustomerMerge({"City": "Lyon"}, stamp=T2, new={"CompanyName": "New Co", "Fax": None}),
        }
    )
    assert {k: (o.applied, o.existed) for k, o in outcomes.items()} == {
        "ALFKI": (["Fax", "Phone"], True),
        "ANATR": ([], True),
        "NEWCO": (["City"], False),
    }
    alfki = item(customers, "ALFKI")
    assert (alfki["Phone"], "Fax" in alfki, alfki["_v"]) == ("2", False, 2)  # the version moved by one
    assert alfki["FieldStamps"] == {"Phone": T2, "Fax": T2}
    assert outcomes["ALFKI"].item == alfki  # the outcome is the row as written
    assert item(customers, "ANATR")["_v"] == 1  # nothing to apply: not written
    newco = item(customers, "NEWCO")
    assert (newco["CompanyName"], newco["City"], "Fax" in newco, newco["_v"]) == ("New Co", "Lyon", False, 1)


def test_a_merge_among_many_that_lost_its_row_to_another_writer_is_merged_on_what_that_writer_left(
    customers: CustomerRepository,
) -> None:
    customers.merge("ALFKI", {"Phone": "1"}, stamp=T1)
    customers.merge("BLAUS", {"Phone": "1"}, stamp=T1)
    read = customers.items(["ALFKI", "BLAUS"])  # what the page read...
    customers.upsert("BLAUS", {"Fax": "racer"}, modstamp=None)  # ...before another writer moved BLAUS
    outcomes = customers.merge_many(
        {"ALFKI": CustomerMerge({"City": "Berlin"}, stamp=T2), "BLAUS": CustomerMerge({"City": "Mannheim"}, stamp=T2)},
        read=read,
    )
    assert (outcomes["ALFKI"].applied, outcomes["BLAUS"].applied) == (["City"], ["City"])
    blaus = item(customers, "BLAUS")
    assert (blaus["Fax"], blaus["City"], blaus["_v"]) == ("racer", "Mannheim", 3)  # both writes kept
    assert outcomes["BLAUS"].item == blaus
    assert outcomes["BLAUS"].existed
    assert item(customers, "ALFKI")["City"] == "Berlin"


def test_a_new_customer_created_meanwhile_is_merged_not_overwritten(customers: CustomerRepository) -> None:
    read: dict[str, dict[str, Any]] = {}  # the page read no NEWCO...
    customers.merge("NEWCO", {"Phone": "racer"}, stamp=T1)  # ...then another writer created it
    outcomes = customers.merge_many(
        {"NEWCO": CustomerMerge({"City": "Lyon"}, stamp=T2, new={"SalesforceAccountId": ACCOUNT})},
        read=read,
    )
    newco = item(customers, "NEWCO")
    assert (newco["Phone"], newco["City"]) == ("racer", "Lyon")
    assert outcomes["NEWCO"].applied == ["City"]
    assert outcomes["NEWCO"].existed


def test_a_merge_among_many_whose_row_was_deleted_meanwhile_makes_only_what_it_changes(
    customers: CustomerRepository,
) -> None:
    """Without `new` attributes nothing is made up for the Customer: no placeholder name, no Account id."""
    customers.merge("ALFKI", {"Phone": "1"}, stamp=T1)
    read = customers.items(["ALFKI"])
    customers.table.delete({"CustomerID": "ALFKI"})  # another writer removed the row after the page read it
    customers.merge_many({"ALFKI": CustomerMerge({"City": "Berlin"}, stamp=T2)}, read=read)
    stored = item(customers, "ALFKI")
    assert stored["City"] == "Berlin"
    assert "CompanyName" not in stored
    assert "SalesforceAccountId" not in stored
