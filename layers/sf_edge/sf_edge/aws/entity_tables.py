"""The entity sets' tables as the environment names them: `<SET>_TABLE` for each set `sf_edge.odata.schema` declares
(template.yaml sets them), and the OData index table. Settings shared by the feed and the indexer."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from sf_edge.odata.schema import ENTITY_SETS
from sf_edge.settings import FunctionSettings


class EntityTableSettings(FunctionSettings):
    """ODATA_INDEX_TABLE and CUSTOMERS_TABLE, ORDERS_TABLE, ...: an entity set whose table is unset is not served."""

    odata_index_table: str = ""
    entity_tables: dict[str, str] = Field(default_factory=dict)  # entity set name → table name

    @model_validator(mode="before")
    @classmethod
    def _gather_tables(cls, data: Any) -> Any:
        if isinstance(data, dict) and "ENTITY_TABLES" not in data and "entity_tables" not in data:
            data["ENTITY_TABLES"] = {s.name: data[s.table_env] for s in ENTITY_SETS if data.get(s.table_env)}
        return data
