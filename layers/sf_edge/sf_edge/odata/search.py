"""`$search` (and OData 2.0's custom search parameter): the OData 4.01 search grammar, and what matches a row.

Salesforce sends what a user typed into global search as one phrase, case kept, ASCII punctuation removed except
hyphens (`Sales & Marketing` arrives as `Sales Marketing`). The grammar decides what that means: words next to
each other must all match (implicit AND), `OR` and `AND` are operators only between two terms and `NOT` only
before one (`Portland OR` searches for both words, `NOT` alone is a word), `"quoted phrases"` match in order,
parentheses group. Precedence: NOT, then AND, then OR.

A word matches a row when one of the entity set's searchable properties holds a word starting with it, case
and accents as typed aside (casefolded): `Alfred` finds "Alfreds Futterkiste", `Market` finds "Marketing" but not
"Supermarket". A search word holding several words (`brand-new`, `-Jones`, `9,81`) is the phrase of those words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sf_edge.odata import ODataEngineError
from sf_edge.odata.indexing import tokens
from sf_edge.odata.tree import balanced


class SearchSyntaxError(ODataEngineError, ValueError):
    """A malformed search expression (unbalanced parentheses or quotes): a 400."""


@dataclass(frozen=True)
class Words:
    """Words that must appear in this order in one property (each as the start of a word there)."""

    tokens: tuple[str, ...]


@dataclass(frozen=True)
class Not:
    operand: SearchNode


@dataclass(frozen=True)
class And:
    left: SearchNode
    right: SearchNode


@dataclass(frozen=True)
class Or:
    left: SearchNode
    right: SearchNode


SearchNode = Words | Not | And | Or

_LEX = re.compile(r'\s*(?:(?P<open>\()|(?P<close>\))|"(?P<phrase>[^"]*)"|(?P<quote>")|(?P<word>[^\s()"]+))')


def parse_search(text: str) -> SearchNode | None:
    """The expression, or None when it holds nothing to search for."""
    stripped = text.strip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] == "'":
        # The grammar's "incomplete expression": everything between single quotes is one phrase.
        return Words(tuple(tokens(stripped[1:-1].replace("''", "'"))))
    items: list[tuple[str, str]] = []
    position = 0
    stripped = text.rstrip()
    while position < len(stripped):
        match = _LEX.match(stripped, position)
        if match is None or match.group("quote") is not None:
            raise SearchSyntaxError(f"unbalanced double quote at offset {position}")
        kind = match.lastgroup or ""
        items.append((kind, match.group(kind) or ""))
        position = match.end()
    if not items:
        return None
    parser = _Parser(items)
    try:
        node = parser.expression()
    except RecursionError:  # nesting past what the recursive-descent parser follows: the same refusal as depth
        raise _too_deep() from None
    if parser.position != len(items):
        raise SearchSyntaxError("unbalanced parenthesis")
    if _depth(node) > MAX_DEPTH:
        raise _too_deep()
    return node


MAX_DEPTH = 100  # levels of a search expression: matching and planning walk it recursively, far from the limit


def _too_deep() -> SearchSyntaxError:
    return SearchSyntaxError(f"the expression is nested too deeply: at most {MAX_DEPTH} levels are allowed")


def _depth(node: SearchNode) -> int:
    deepest, pending = 0, [(node, 1)]
    while pending:
        current, level = pending.pop()
        deepest = max(deepest, level)
        match current:
            case Not(operand=operand):
                pending.append((operand, level + 1))
            case And(left=left, right=right) | Or(left=left, right=right):
                pending += [(left, level + 1), (right, level + 1)]
    return deepest


class _Parser:
    def __init__(self, items: list[tuple[str, str]]) -> None:
        self.items = items
        self.position = 0

    def _peek(self, offset: int = 0) -> tuple[str, str] | None:
        index = self.position + offset
        return self.items[index] if index < len(self.items) else None

    def _starts_term(self, offset: int) -> bool:
        item = self._peek(offset)
        return item is not None and item[0] in ("open", "phrase", "word")

    def _operator(self, word: str) -> bool:
        item = self._peek()
        return item == ("word", word) and self._starts_term(1)

    def expression(self) -> SearchNode:
        operands = [self._and()]
        while self._operator("OR"):
            self.position += 1
            operands.append(self._and())
        return balanced(Or, operands)

    def _and(self) -> SearchNode:
        operands = [self._unary()]
        while True:
            if self._operator("OR"):
                break
            if self._operator("AND"):
                self.position += 1
            elif not self._starts_term(0):
                break
            operands.append(self._unary())
        return balanced(And, operands)

    def _unary(self) -> SearchNode:
        if self._operator("NOT"):
            self.position += 1
            return Not(self._unary())
        kind, value = self.items[self.position]
        self.position += 1
        if kind == "open":
            node = self.expression()
            if self._peek() != ("close", ")"):
                raise SearchSyntaxError("unbalanced parenthesis")
            self.position += 1
            return node
        if kind == "close":
            raise SearchSyntaxError("unbalanced parenthesis")
        return Words(tuple(tokens(value)))


def matches(node: SearchNode, fields: Mapping[str, Any]) -> bool:
    """Whether a row whose searchable properties hold `fields` matches."""
    words = {name: tokens(value) for name, value in fields.items() if isinstance(value, str)}
    return _matches(node, words)


def _matches(node: SearchNode, fields: dict[str, list[str]]) -> bool:
    match node:
        case Words(tokens=wanted):
            return not wanted or any(_contains(found, wanted) for found in fields.values())
        case Not(operand=operand):
            return not _matches(operand, fields)
        case And(left=left, right=right):
            return _matches(left, fields) and _matches(right, fields)
        case Or(left=left, right=right):
            return _matches(left, fields) or _matches(right, fields)
    return False


def _contains(found: list[str], wanted: tuple[str, ...]) -> bool:
    span = len(wanted)
    return any(
        all(found[start + i].startswith(word) for i, word in enumerate(wanted))
        for start in range(len(found) - span + 1)
    )


def anchors(node: SearchNode) -> list[set[str]] | None:
    """Disjunctive sets of words whose postings hold every match: each set is ANDed, the sets ORed. None when
    some match needs no word at all (a NOT, or an empty term), so only reading the whole set finds them."""
    match node:
        case Words(tokens=wanted):
            return [set(wanted)] if wanted else None
        case Not():
            return None
        case Or(left=left, right=right):
            a, b = anchors(left), anchors(right)
            return None if a is None or b is None else a + b
        case And(left=left, right=right):
            a, b = anchors(left), anchors(right)
            if a is None:
                return b
            if b is None:
                return a
            return [x | y for x in a for y in b]
    return None
