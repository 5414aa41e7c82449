"""The entity sets the OData feeds publish, declared once: `$metadata`, the service document, query binding, the
read planner, the indexes and counts the stream maintains, and template.yaml's tables (keys, GSIs, streams; checked
by tests/unit/test_declarations.py) all derive from these declarations. Adding an entity set is adding one `EntitySet`
here and the table `make tables` prints for it.

Types and lengths follow Northwind's published metadata, so Salesforce Connect's tutorials line up, except where
the worker fills a column from a Salesforce field: those take the Salesforce field's length (CustomerID holds an
18-character Account id, CompanyName an Account Name of up to 255 characters, the address columns Salesforce's
billing address lengths).

Access patterns are declared, not discovered: every `SortOrder` is a list view order served by a GSI (rows sorted
by the property, ties by the key), either across the whole set (a sharded bucket partition, merged on read) or
within one value of a partition property ("Orders of a customer, by date"). `counted` partition properties get a
maintained count per value; every set gets a maintained total. `searchable` text feeds the `$search` token index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

NAMESPACE = "NorthwindModel"


@dataclass(frozen=True)
class Prop:
    """One property: Edm type (without the `Edm.` prefix) and its facets."""

    name: str
    type: str = "String"
    max_length: int | None = None  # None for strings means MaxLength="max"
    nullable: bool = True
    precision: int | None = None
    scale: int | None = None
    searchable: bool = False

    @property
    def edm_type(self) -> str:
        return f"Edm.{self.type}"

    @property
    def dynamodb_type(self) -> str:
        """The attribute type DynamoDB stores the value as (S, N or BOOL)."""
        if self.type in ("Int16", "Int32", "Int64", "Decimal", "Double", "Single"):
            return "N"
        return "BOOL" if self.type == "Boolean" else "S"


BUCKET = "_b"  # the shard a row's key hashes to: the partition key of the set-wide sorted indexes


def sort_attribute(name: str) -> str:
    """The attribute holding a row's position in the order of property `name` (value, then key; see indexing)."""
    return f"_s_{name}"


@dataclass(frozen=True)
class SortOrder:
    """A list view order a GSI serves: rows by property `by` (ties by the key), across the set or `within` one
    value of a partition property. Ascending and descending are the same index read forwards or backwards."""

    by: str
    within: str | None = None  # None: across the whole set, over the set's sharded buckets

    @property
    def index_name(self) -> str:
        return f"{self.within or 'all'}-by-{self.by}"

    @property
    def partition_attribute(self) -> str:
        return self.within or BUCKET

    @property
    def sort_attribute(self) -> str:
        return sort_attribute(self.by)


@dataclass(frozen=True, eq=False)  # declarations are compared and hashed by identity
class EntitySet:
    """An entity set: its entity type, key, properties, table and the secondary keys a GSI serves."""

    name: str
    entity_type: str
    key: tuple[str, ...]
    properties: tuple[Prop, ...]
    table_env: str
    indexes: dict[str, str] = field(default_factory=dict)  # property → GSI keyed on it alone (equality lookups)
    orders: tuple[SortOrder, ...] = ()
    counted: tuple[str, ...] = ()  # properties with a maintained count per value (children of a parent)
    shards: int = 1  # buckets the set-wide sorted indexes spread writes over (each read merges them)

    def __post_init__(self) -> None:
        names = [p.name for p in self.properties]
        assert len(set(names)) == len(names), f"{self.name}: duplicate property"
        assert set(self.key) <= set(names), f"{self.name}: key not among the properties"
        for order in self.orders:
            assert order.by in names, f"{self.name}: sort order on an undeclared property"
            assert order.within is None or order.within in self.counted, (
                f"{self.name}: {order.index_name} partitions by {order.within}; count it too (counted=...)"
            )
        assert set(self.counted) <= set(names), f"{self.name}: counted property not declared"
        assert 1 <= self.shards <= 16, f"{self.name}: 1 to 16 shards"
        assert all(p.type == "String" for p in self.properties if p.searchable), f"{self.name}: search reads text"

    def property(self, name: str) -> Prop | None:
        """The property called `name` (case-sensitive, as OData is)."""
        return self._by_name.get(name)

    @cached_property
    def _by_name(self) -> dict[str, Prop]:
        return {p.name: p for p in self.properties}

    @cached_property
    def property_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.properties)

    @cached_property
    def searchable(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.properties if p.searchable)

    @cached_property
    def sorted_properties(self) -> tuple[str, ...]:
        """Properties some declared order sorts by (each has its sort attribute on every row)."""
        return tuple(dict.fromkeys(order.by for order in self.orders))

    def dynamodb_table(self) -> dict[str, Any]:
        """The table's key, attributes, GSIs and stream as template.yaml declares them (tests hold one to the other;
        `make tables` prints them)."""
        key_schema = [{"AttributeName": self.key[0], "KeyType": "HASH"}]
        if len(self.key) == 2:
            key_schema.append({"AttributeName": self.key[1], "KeyType": "RANGE"})
        attributes: dict[str, str] = {}

        def attribute(name: str) -> str:
            prop = self.property(name)
            attributes[name] = "N" if name == BUCKET else (prop.dynamodb_type if prop else "S")
            return name

        for name in self.key:
            attribute(name)
        indexes: list[dict[str, Any]] = [
            {
                "IndexName": index,
                "KeySchema": [{"AttributeName": attribute(name), "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
            for name, index in self.indexes.items()
        ]
        for order in self.orders:
            indexes.append(
                {
                    "IndexName": order.index_name,
                    "KeySchema": [
                        {"AttributeName": attribute(order.partition_attribute), "KeyType": "HASH"},
                        {"AttributeName": attribute(order.sort_attribute), "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            )
        table: dict[str, Any] = {
            "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in attributes.items()],
            "KeySchema": key_schema,
        }
        if indexes:
            table["GlobalSecondaryIndexes"] = indexes
        table["StreamSpecification"] = {"StreamViewType": "NEW_AND_OLD_IMAGES"}
        return table

    def order_for(self, name: str, within: str | None) -> SortOrder | None:
        """The declared order by property `name` within a partition property (None: across the set)."""
        return next((o for o in self.orders if o.by == name and o.within == within), None)


def _s(name: str, length: int | None, *, nullable: bool = True, searchable: bool = False) -> Prop:
    return Prop(name, "String", length, nullable, searchable=searchable)


def _money(name: str, *, nullable: bool = True) -> Prop:
    return Prop(name, "Decimal", nullable=nullable, precision=19, scale=4)


def _int(name: str, *, nullable: bool = True, type_: str = "Int32") -> Prop:
    return Prop(name, type_, nullable=nullable)


def _when(name: str) -> Prop:
    return Prop(name, "DateTimeOffset")


# Customers are filled from Salesforce Accounts: the billing address and phone take the Account fields' lengths.
_ACCOUNT_ADDRESS = (
    _s("Address", 255, searchable=True),  # BillingStreet
    _s("City", 40, searchable=True),  # BillingCity
    _s("Region", 80),  # BillingState
    _s("PostalCode", 20),  # BillingPostalCode
    _s("Country", 80, searchable=True),  # BillingCountry
    _s("Phone", 40),
)
_ADDRESS = (
    _s("Address", 60, searchable=True),
    _s("City", 15, searchable=True),
    _s("Region", 15),
    _s("PostalCode", 10),
    _s("Country", 15, searchable=True),
    _s("Phone", 24),
)

ENTITY_SETS: tuple[EntitySet, ...] = (
    EntitySet(
        "Customers",
        "Customer",
        ("CustomerID",),
        (
            _s("CustomerID", 18, nullable=False, searchable=True),
            _s("CompanyName", 255, nullable=False, searchable=True),  # Account.Name
            _s("ContactName", 30, searchable=True),
            _s("ContactTitle", 30),
            *_ACCOUNT_ADDRESS,
            _s("Fax", 40),
            _money("CreditLimit"),
            _s("SalesforceAccountId", 18),
        ),
        "CUSTOMERS_TABLE",
        orders=(SortOrder("CompanyName"), SortOrder("Country"), SortOrder("City", within="Country")),
        counted=("Country",),
    ),
    EntitySet(
        "Orders",
        "Order",
        ("OrderID",),
        (
            _int("OrderID", nullable=False),
            _s("CustomerID", 18),
            _int("EmployeeID"),
            _when("OrderDate"),
            _when("RequiredDate"),
            _when("ShippedDate"),
            _int("ShipVia"),
            _money("Freight"),
            # The worker ships to the Customer's address: the same lengths as the Customer's columns.
            _s("ShipName", 255, searchable=True),
            _s("ShipAddress", 255),
            _s("ShipCity", 40, searchable=True),
            _s("ShipRegion", 80),
            _s("ShipPostalCode", 20),
            _s("ShipCountry", 80, searchable=True),
            _s("SalesforceOpportunityId", 18),
            _money("SalesforceAmount"),
            # A won Opportunity's Order: whether it holds the Opportunity's lines, and why not (order_lines).
            _s("LinesStatus", 20),
            _s("LinesProblem", 1000),
        ),
        "ORDERS_TABLE",
        {"CustomerID": "CustomerID-index"},
        orders=(SortOrder("OrderDate"), SortOrder("OrderID"), SortOrder("OrderDate", within="CustomerID")),
        counted=("CustomerID",),
        shards=4,
    ),
    EntitySet(
        "Order_Details",
        "Order_Detail",
        ("OrderID", "ProductID"),
        (
            _int("OrderID", nullable=False),
            _int("ProductID", nullable=False),
            _money("UnitPrice", nullable=False),
            _int("Quantity", nullable=False, type_="Int16"),
            Prop("Discount", "Single", nullable=False),
        ),
        "ORDER_DETAILS_TABLE",
        {"ProductID": "ProductID-index"},
        orders=(SortOrder("OrderID"),),
        counted=("OrderID", "ProductID"),
        shards=4,
    ),
    EntitySet(
        "Products",
        "Product",
        ("ProductID",),
        (
            _int("ProductID", nullable=False),
            _s("ProductName", 40, nullable=False, searchable=True),
            _int("SupplierID"),
            _int("CategoryID"),
            _s("QuantityPerUnit", 20),
            _money("UnitPrice"),
            _int("UnitsInStock", type_="Int16"),
            _int("UnitsOnOrder", type_="Int16"),
            _int("ReorderLevel", type_="Int16"),
            Prop("Discontinued", "Boolean", nullable=False),
        ),
        "PRODUCTS_TABLE",
        {"CategoryID": "CategoryID-index", "SupplierID": "SupplierID-index"},
        orders=(SortOrder("ProductName"),),
        counted=("CategoryID", "SupplierID"),
    ),
    EntitySet(
        "Categories",
        "Category",
        ("CategoryID",),
        (
            _int("CategoryID", nullable=False),
            _s("CategoryName", 15, nullable=False, searchable=True),
            _s("Description", None, searchable=True),
        ),
        "CATEGORIES_TABLE",
        orders=(SortOrder("CategoryName"),),
    ),
    EntitySet(
        "Suppliers",
        "Supplier",
        ("SupplierID",),
        (
            _int("SupplierID", nullable=False),
            _s("CompanyName", 40, nullable=False, searchable=True),
            _s("ContactName", 30, searchable=True),
            _s("ContactTitle", 30),
            *_ADDRESS,
            _s("Fax", 24),
            _s("HomePage", None),
        ),
        "SUPPLIERS_TABLE",
        orders=(SortOrder("CompanyName"), SortOrder("Country"), SortOrder("City", within="Country")),
        counted=("Country",),
    ),
    EntitySet(
        "Shippers",
        "Shipper",
        ("ShipperID",),
        (_int("ShipperID", nullable=False), _s("CompanyName", 40, nullable=False, searchable=True), _s("Phone", 24)),
        "SHIPPERS_TABLE",
        orders=(SortOrder("CompanyName"),),
    ),
    EntitySet(
        "Employees",
        "Employee",
        ("EmployeeID",),
        (
            _int("EmployeeID", nullable=False),
            _s("LastName", 20, nullable=False, searchable=True),
            _s("FirstName", 10, nullable=False, searchable=True),
            _s("Title", 30, searchable=True),
            _s("TitleOfCourtesy", 25),
            _when("BirthDate"),
            _when("HireDate"),
            _s("Address", 60),
            _s("City", 15, searchable=True),
            _s("Region", 15),
            _s("PostalCode", 10),
            _s("Country", 15),
            _s("HomePhone", 24),
            _s("Extension", 4),
            _s("Notes", None),
            _int("ReportsTo"),
            _s("PhotoPath", 255),
        ),
        "EMPLOYEES_TABLE",
        orders=(SortOrder("LastName"),),
    ),
)
BY_NAME = {entity_set.name: entity_set for entity_set in ENTITY_SETS}
