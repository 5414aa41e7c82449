"""The entity sets the OData feeds publish, declared once: `$metadata`, the service document, query binding and
storage access all derive from these declarations. Adding an entity set is adding one `EntitySet` here (and its
table in template.yaml).

Types and lengths follow Northwind's published metadata, so Salesforce Connect's tutorials line up; ids that may
hold a Salesforce record id (CustomerID) are 18 characters long instead of 5.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

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


@dataclass(frozen=True, eq=False)  # declarations are compared and hashed by identity
class EntitySet:
    """An entity set: its entity type, key, properties, table and the secondary keys a GSI serves."""

    name: str
    entity_type: str
    key: tuple[str, ...]
    properties: tuple[Prop, ...]
    table_env: str
    indexes: dict[str, str] = field(default_factory=dict)  # property → GSI name

    def __post_init__(self) -> None:
        names = [p.name for p in self.properties]
        assert len(set(names)) == len(names), f"{self.name}: duplicate property"
        assert set(self.key) <= set(names), f"{self.name}: key not among the properties"

    def property(self, name: str) -> Prop | None:
        """The property called `name` (case-sensitive, as OData is)."""
        return self._by_name.get(name)

    @cached_property
    def _by_name(self) -> dict[str, Prop]:
        return {p.name: p for p in self.properties}

    @cached_property
    def searchable(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.properties if p.searchable)


def _s(name: str, length: int | None, *, nullable: bool = True, searchable: bool = False) -> Prop:
    return Prop(name, "String", length, nullable, searchable=searchable)


def _money(name: str, *, nullable: bool = True) -> Prop:
    return Prop(name, "Decimal", nullable=nullable, precision=19, scale=4)


def _int(name: str, *, nullable: bool = True, type_: str = "Int32") -> Prop:
    return Prop(name, type_, nullable=nullable)


def _when(name: str) -> Prop:
    return Prop(name, "DateTimeOffset")


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
            _s("CompanyName", 40, nullable=False, searchable=True),
            _s("ContactName", 30, searchable=True),
            _s("ContactTitle", 30),
            *_ADDRESS,
            _s("Fax", 24),
            _money("CreditLimit"),
            _s("SalesforceAccountId", 18),
        ),
        "CUSTOMERS_TABLE",
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
            _s("ShipName", 40, searchable=True),
            _s("ShipAddress", 60),
            _s("ShipCity", 15, searchable=True),
            _s("ShipRegion", 15),
            _s("ShipPostalCode", 10),
            _s("ShipCountry", 15, searchable=True),
            _s("SalesforceOpportunityId", 18),
            _money("SalesforceAmount"),
        ),
        "ORDERS_TABLE",
        {"CustomerID": "CustomerID-index"},
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
    ),
    EntitySet(
        "Shippers",
        "Shipper",
        ("ShipperID",),
        (_int("ShipperID", nullable=False), _s("CompanyName", 40, nullable=False, searchable=True), _s("Phone", 24)),
        "SHIPPERS_TABLE",
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
    ),
)
BY_NAME = {entity_set.name: entity_set for entity_set in ENTITY_SETS}
