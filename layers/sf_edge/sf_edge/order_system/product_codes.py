"""The declared ProductCode → ProductID table (product_codes.toml): how a Salesforce line item names a product of
the order system. Read once per container; a code it does not hold is reported, never guessed."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from sf_edge.order_system import OrderSystemError

DECLARED_CODES = Path(__file__).with_name("product_codes.toml")


class ProductCodesError(OrderSystemError, ValueError):
    """The product code file is not what this module reads (raised at load: a bad file fails the cold start)."""


@dataclass(frozen=True)
class ProductCodes:
    """ProductCode → ProductID; codes compare as Salesforce stores them, trimmed."""

    codes: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = DECLARED_CODES) -> ProductCodes:
        """Read a `[codes]` table of `"<ProductCode>" = <ProductID>` lines."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as unreadable:
            raise ProductCodesError(f"{path}: {unreadable}") from unreadable
        table = data.get("codes")
        if not isinstance(table, dict):
            raise ProductCodesError(f"{path}: needs a [codes] table")
        bad = [code for code, value in table.items() if not code.strip() or type(value) is not int or value < 1]
        if bad:
            raise ProductCodesError(f"{path}: codes must be non-blank and name a ProductID ≥ 1: {bad[:5]}")
        return cls({code.strip(): value for code, value in table.items()})

    def product_id(self, code: str | None) -> int | None:
        """The ProductID a code names; None for a blank or unknown code."""
        return self.codes.get((code or "").strip())


@cache
def declared_codes() -> ProductCodes:
    """The shipped table, read once."""
    return ProductCodes.load()
