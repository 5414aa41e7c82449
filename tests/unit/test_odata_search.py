"""`$search` as Salesforce sends it and as the OData 4.01 grammar reads it, and what it matches."""

from __future__ import annotations

import json

import pytest

from conftest import ROOT
from fakes.odata_store import MemoryTable
from sf_edge.odata.engine import ReadStats
from sf_edge.odata.feed import Feed, FeedAuth, FeedRequest
from sf_edge.odata.schema import BY_NAME
from sf_edge.odata.search import And, Not, Or, SearchSyntaxError, Words, anchors, matches, parse_search

CUSTOMERS = BY_NAME["Customers"]
ROWS = json.loads((ROOT / "data" / "northwind" / "Customers.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("blue", Words(("blue",))),
        ("blue green", And(Words(("blue",)), Words(("green",)))),
        ("blue AND green", And(Words(("blue",)), Words(("green",)))),
        ("blue OR green", Or(Words(("blue",)), Words(("green",)))),
        ("NOT blue", Not(Words(("blue",)))),
        ("blue NOT green", And(Words(("blue",)), Not(Words(("green",))))),
        ('"blue green"', Words(("blue", "green"))),
        ("(foo OR that) AND NOT quux", And(Or(Words(("foo",)), Words(("that",))), Not(Words(("quux",))))),
        ("a OR b c", Or(Words(("a",)), And(Words(("b",)), Words(("c",))))),  # AND binds tighter than OR
        # Words that are operators only where they can be: what a user types into global search.
        ("Portland OR", And(Words(("portland",)), Words(("or",)))),
        ("OR", Words(("or",))),
        ("NOT", Words(("not",))),
        ("NOT NOT", Not(Words(("not",)))),
        ("AND OR NOT", Or(Words(("and",)), Words(("not",)))),
        ("OR AND", And(Words(("or",)), Words(("and",)))),
        # Salesforce keeps hyphens: a word holding several words is their phrase.
        ("Smith -Jones", And(Words(("smith",)), Words(("jones",)))),
        ("brand-new", Words(("brand", "new"))),
        ("Sales Marketing", And(Words(("sales",)), Words(("marketing",)))),
        ("'\"blue'", Words(("blue",))),  # the grammar's single-quoted "incomplete" expression
        ("Δ", Words(("δ",))),
        ("", None),
    ],
)
def test_grammar(text: str, tree: object) -> None:
    assert parse_search(text) == tree


@pytest.mark.parametrize("text", ['"blue', "(blue", "blue)", "(a OR b", '"a" "b'])
def test_malformed_expressions_are_refused(text: str) -> None:
    with pytest.raises(SearchSyntaxError):
        parse_search(text)


@pytest.mark.parametrize(
    ("text", "fields", "expected"),
    [
        ("alfred", {"CompanyName": "Alfreds Futterkiste"}, True),  # a word matches the start of a word
        ("futter", {"CompanyName": "Alfreds Futterkiste"}, True),
        ("kiste", {"CompanyName": "Alfreds Futterkiste"}, False),  # not the middle of one
        ("ALFREDS", {"CompanyName": "Alfreds Futterkiste"}, True),  # case as typed does not matter
        ('"alfreds futterkiste"', {"CompanyName": "Alfreds Futterkiste"}, True),
        ('"futterkiste alfreds"', {"CompanyName": "Alfreds Futterkiste"}, False),  # a phrase keeps its order
        ('"alfreds berlin"', {"CompanyName": "Alfreds", "City": "Berlin"}, False),  # ... within one property
        ("alfreds berlin", {"CompanyName": "Alfreds", "City": "Berlin"}, True),
        ("alfreds NOT berlin", {"CompanyName": "Alfreds", "City": "Berlin"}, False),
        ("paris OR berlin", {"City": "Berlin"}, True),
        ("Smith -Jones", {"ContactName": "Ann Smith-Jones"}, True),
        ("9,81", {"Address": "Rue 9, 81"}, True),
        ("Sales & Marketing", {"ContactTitle": "Sales Marketing"}, True),  # Salesforce drops the '&' anyway
    ],
)
def test_what_matches(text: str, fields: dict[str, str], expected: bool) -> None:
    node = parse_search(text)
    assert node is not None
    assert matches(node, fields) is expected


def test_anchors_name_the_words_whose_postings_hold_every_match() -> None:
    assert anchors(parse_search("a b") or Words(())) == [{"a", "b"}]
    assert anchors(parse_search("a OR b c") or Words(())) == [{"a"}, {"b", "c"}]
    assert anchors(parse_search("a NOT b") or Words(())) == [{"a"}]
    assert anchors(parse_search("NOT b") or Words(())) is None  # only reading every row finds these
    assert anchors(parse_search("a OR NOT b") or Words(())) is None


def search(text: str, extra: str = "") -> tuple[list[str], int | None, int]:
    reads: list[ReadStats] = []
    table = MemoryTable(CUSTOMERS, ROWS)

    def store(_entity_set: object, stats: ReadStats) -> object:
        reads.append(stats)
        return table.store(stats)

    feed = Feed(store, FeedAuth("none"), entity_sets=(CUSTOMERS,))  # type: ignore[arg-type]
    from urllib.parse import quote

    response = feed.handle(
        FeedRequest(
            "GET", "/Customers", f"$select=CustomerID&$count=true&$search={quote(text)}{extra}", {}, "https://x/"
        )
    )
    assert response.status == 200, response.body
    body = json.loads(response.body)
    return [r["CustomerID"] for r in body["value"]], body.get("@odata.count"), reads[-1].items_read


def having(*prefixes: str) -> list[str]:
    """Customers with, for each prefix, a searchable word starting with it (an evaluation of our own)."""
    import re

    def words(row: dict[str, object]) -> list[str]:
        return [w for n in CUSTOMERS.searchable for w in re.findall(r"[^\W_]+", str(row.get(n) or "").lower())]

    return sorted(r["CustomerID"] for r in ROWS if all(any(w.startswith(p) for w in words(r)) for p in prefixes))


def test_search_through_the_feed_matches_an_independent_evaluation() -> None:
    found, count, items = search("Market")
    want = having("market")
    assert len(want) >= 4
    assert (sorted(found), count) == (want, len(want))
    assert items <= 2 * len(want)  # the postings, then the rows
    found, count, _ = search("Portland OR")  # a user's words, not an operator: both must match
    assert (sorted(found), count) == (having("portland", "or"), len(having("portland", "or")))
    assert having("portland")
    assert len(having("portland", "or")) < len(having("portland")) + len(having("or"))
    found, count, _ = search("NOT Germany")  # every row read, none skipped
    assert (sorted(found), count) == (
        sorted(r["CustomerID"] for r in ROWS if r.get("Country") != "Germany"),
        len(found),
    )
    found, _, items = search("NOT Germany", "&$orderby=CustomerID&$top=5")
    assert found == sorted(r["CustomerID"] for r in ROWS if r.get("Country") != "Germany")[:5]
    assert items == len(ROWS)  # no word to look up: every row is read


def test_search_results_are_sorted_and_paged_like_any_collection() -> None:
    found, count, _ = search("Market OR Futterkiste", "&$orderby=CustomerID desc&$top=2")
    assert count is not None
    assert count >= 3
    assert found == sorted(found, reverse=True)
    assert len(found) == 2


def test_search_and_filter_together_answer_the_rows_both_accept() -> None:
    # `length(Region) gt 1` is unknown (null) for a Customer without a Region: such a row is not an answer.
    found, count, _ = search("Market OR Futterkiste OR Portland", "&$filter=length(Region) gt 1")
    matching = set(having("market")) | set(having("futterkiste")) | set(having("portland"))
    regions = {r["CustomerID"]: r.get("Region") for r in ROWS}
    want = sorted(c for c in matching if regions[c] and len(regions[c]) > 1)
    assert want
    assert len(want) < len(matching)
    assert (sorted(found), count) == (want, len(want))
    found, count, _ = search("Market", "&$filter=Country eq 'Germany'")
    germans = sorted(
        c for c in having("market") if next(r for r in ROWS if r["CustomerID"] == c)["Country"] == "Germany"
    )
    assert (sorted(found), count) == (germans, len(germans))
