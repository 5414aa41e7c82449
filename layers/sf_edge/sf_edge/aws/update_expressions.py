"""DynamoDB UpdateExpressions that set some attributes and remove others (a None value means remove it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class UpdateParts:
    """An UpdateExpression with its attribute names (`#a<n>`) and values (`:a<n>`)."""

    expression: str
    names: dict[str, str]
    values: dict[str, Any]


def set_or_remove(changes: Mapping[str, Any], *, more_sets: Sequence[str] = ()) -> UpdateParts:
    """SET each attribute with a value, REMOVE each one whose value is None; `more_sets` are further SET clauses,
    written as they are (with names and values of their own)."""
    sets = {name: value for name, value in changes.items() if value is not None}
    removes = [name for name, value in changes.items() if value is None]
    names = {f"#a{i}": name for i, name in enumerate([*sets, *removes])}
    alias = {name: key for key, name in names.items()}
    clauses = [f"{alias[name]} = :a{i}" for i, name in enumerate(sets)] + list(more_sets)
    expression = " ".join(
        part
        for part in (
            "SET " + ", ".join(clauses) if clauses else "",
            "REMOVE " + ", ".join(alias[name] for name in removes) if removes else "",
        )
        if part
    )
    return UpdateParts(expression, names, {f":a{i}": value for i, value in enumerate(sets.values())})
