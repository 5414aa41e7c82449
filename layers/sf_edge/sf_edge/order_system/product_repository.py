"""Products in DynamoDB: single and batched key lookups."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sf_edge.order_system.entities import Product

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource, Table

_BATCH_GET_LIMIT = 100


class ProductRepository:
    """Reads Products (partition key `ProductID`)."""

    def __init__(self, table: Table, resource: DynamoDBServiceResource) -> None:
        self.table = table
        self.resource = resource

    def get(self, product_id: int) -> Product | None:
        """The Product with this id, if any."""
        item = self.table.get_item(Key={"ProductID": product_id}).get("Item")
        return Product.model_validate(item) if item else None

    def get_many(self, product_ids: Iterable[int]) -> dict[int, Product]:
        """The Products that exist among these ids, by id (BatchGetItem, unprocessed keys retried)."""
        wanted = sorted(set(product_ids))
        found: dict[int, Product] = {}
        for start in range(0, len(wanted), _BATCH_GET_LIMIT):
            request = {self.table.name: {"Keys": [{"ProductID": i} for i in wanted[start : start + _BATCH_GET_LIMIT]]}}
            while request:
                response = self.resource.batch_get_item(RequestItems=request)  # type: ignore[arg-type]
                for item in response.get("Responses", {}).get(self.table.name, []):
                    product = Product.model_validate(item)
                    found[product.ProductID] = product
                request = response.get("UnprocessedKeys") or {}  # type: ignore[assignment]
        return found
