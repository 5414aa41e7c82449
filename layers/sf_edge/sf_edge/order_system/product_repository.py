"""Products in DynamoDB: single and batched key lookups (eventually consistent: the catalogue changes rarely, and
a strongly consistent read would cost twice as much)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sf_edge.aws.item_table import ItemTable
from sf_edge.order_system.entities import Product

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class ProductRepository:
    """Reads Products (partition key `ProductID`)."""

    def __init__(self, table: Table) -> None:
        self.table = ItemTable(table)

    def get(self, product_id: int) -> Product | None:
        """The Product with this id, if any."""
        item = self.table.get({"ProductID": product_id}, consistent=False)
        return Product.model_validate(item) if item else None

    def get_many(self, product_ids: Iterable[int]) -> dict[int, Product]:
        """The Products that exist among these ids, by id (BatchGetItem, unprocessed keys retried)."""
        found = self.table.get_many([{"ProductID": i} for i in sorted(set(product_ids))], consistent=False)
        return {product.ProductID: product for product in map(Product.model_validate, found)}
