"""The entity sets' tables as the environment names them: `<SET>_TABLE` for each set `sf_edge.odata.schema` declares
(template.yaml sets them), and the OData index table. Settings shared by the feed and the indexer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sf_edge.odata.schema import BY_NAME, ENTITY_SETS
from sf_edge.settings import FunctionSettings


@dataclass(frozen=True, kw_only=True)
class EntityTableSettings(FunctionSettings):
    """ODATA_INDEX_TABLE and CUSTOMERS_TABLE, ORDERS_TABLE, ...: an entity set whose table is unset is not served."""

    gathered: ClassVar[tuple[str, ...]] = ("entity_tables",)

    odata_index_table: str = ""
    entity_tables: dict[str, str] = field(default_factory=dict)  # entity set name → table name

    @classmethod
    def gather(cls, environ: Mapping[str, str]) -> dict[str, Any]:
        tables = {s.name: environ.get(s.table_env, "").strip() for s in ENTITY_SETS}
        return {"entity_tables": {name: table for name, table in tables.items() if table}}

    def to_env(self) -> dict[str, str]:
        return super().to_env() | {BY_NAME[name].table_env: table for name, table in self.entity_tables.items()}
