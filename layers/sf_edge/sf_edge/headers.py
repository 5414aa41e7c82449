"""HTTP headers looked up case-insensitively (HTTP field names are; API Gateway and Salesforce keep the sender's
case): the one accessor for the listener, the feeds and the callouts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class Headers(Mapping[str, str]):
    """Request headers, looked up case-insensitively (HTTP field names are; API Gateway keeps the sender's case)."""

    def __init__(self, headers: Mapping[str, str] | None) -> None:
        self._items = dict(headers or {})
        self._lowered = {k.lower(): v for k, v in self._items.items()}

    def __getitem__(self, name: str) -> str:
        return self._lowered[name.lower()]

    def get(self, name: str, default: Any = None) -> Any:
        return self._lowered.get(name.lower(), default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lowered
