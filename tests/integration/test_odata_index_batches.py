"""The indexer's one-pass batches (IndexMaintainer.apply_batch) end at exactly the index the record-by-record path
reaches, on moto: states, postings and counts, with a row changed several times in one batch, rows deleted, and a
state moved under the batch by another writer (then the batch gives way and each record is applied)."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from conftest import Stack
from sf_edge.aws.clients import dynamodb_client
from sf_edge.aws.odata_index import IndexMaintainer
from sf_edge.odata.schema import BY_NAME

ORDERS = BY_NAME["Orders"]
CUSTOMERS = ["ALFKI", "ANATR", "BLAUS", "BONAP"]
WORDS = ["Alpha", "Beta", "Gamma", "Delta", "Epsilon"]


def maintainer(stack: Stack) -> IndexMaintainer:
    return IndexMaintainer(dynamodb_client(), stack.name("ODataIndexTable"), {"Orders": stack.name("OrdersTable")})


def index(stack: Stack) -> list[dict[str, Any]]:
    """The index as a reader sees it: states without their version (a move counter: one pass skips the moves in
    between), counters that count something."""
    items = stack.table("ODataIndexTable").scan()["Items"]
    kept = [
        {k: v for k, v in i.items() if k != "v"} for i in items if not (i["PK"].startswith("count#") and not i["n"])
    ]
    return sorted(kept, key=lambda i: (i["PK"], i["SK"]))


def clear(stack: Stack) -> None:
    table = stack.table("ODataIndexTable")
    with table.batch_writer() as batch:
        for item in table.scan()["Items"]:
            batch.delete_item(Key={"PK": item["PK"], "SK": item["SK"]})


def batches(seed: int) -> list[list[tuple[Any, dict[str, Any], dict[str, Any] | None]]]:
    """Stream-like batches: inserts, changes and deletes of 30 Orders, a row often changed twice in one batch."""
    rng = random.Random(seed)
    out = []
    for _ in range(6):
        batch = []
        for _ in range(rng.randint(5, 60)):
            order_id = rng.randint(1, 30)
            key = {"OrderID": Decimal(order_id)}
            if rng.random() < 0.2:
                batch.append((ORDERS, key, None))
            else:
                image = {
                    **key,
                    "CustomerID": rng.choice(CUSTOMERS),
                    "ShipName": " ".join(rng.sample(WORDS, rng.randint(1, 3))),
                    "OrderDate": f"1997-0{rng.randint(1, 9)}-01T00:00:00Z",
                }
                batch.append((ORDERS, key, image))
        out.append(batch)
    return out


def test_a_batch_in_one_pass_ends_where_applying_each_record_does(stack: Stack) -> None:
    indexer = maintainer(stack)
    for seed in range(4):
        clear(stack)
        for batch in batches(seed):
            for entity_set, key, image in batch:
                indexer.apply(entity_set, key, image)
        one_by_one = index(stack)
        clear(stack)
        for batch in batches(seed):
            done = indexer.apply_batch(batch)
            assert done is not None
        assert index(stack) == one_by_one, seed
    assert any(i["PK"].startswith("count#Orders#CustomerID") for i in one_by_one)  # counts were compared too
    assert any(i["PK"].startswith("word#Orders") for i in one_by_one)  # and postings


def test_a_state_moved_under_the_batch_makes_it_give_way_and_each_record_lands(stack: Stack) -> None:
    indexer = maintainer(stack)
    first = {"OrderID": Decimal(1), "CustomerID": "ALFKI", "ShipName": "Alpha"}
    assert indexer.apply_batch([(ORDERS, {"OrderID": Decimal(1)}, first)]) is not None
    moved = {**first, "CustomerID": "BLAUS"}
    stale = indexer._states  # what the batch read before another writer moved the row

    def read_then_moved(keys: Any) -> Any:
        states = stale(keys)
        indexer.apply(ORDERS, {"OrderID": Decimal(1)}, moved)  # the other writer, between the read and the commit
        return states

    indexer._states = read_then_moved  # type: ignore[method-assign]
    latest = {**first, "CustomerID": "BONAP"}
    assert indexer.apply_batch([(ORDERS, {"OrderID": Decimal(1)}, latest)]) is None
    indexer._states = stale  # type: ignore[method-assign]
    indexer.apply(ORDERS, {"OrderID": Decimal(1)}, latest)  # what the handler does then, record by record
    counts = {i["SK"]: int(i["n"]) for i in index(stack) if i["PK"] == "count#Orders#CustomerID"}
    assert {sk: n for sk, n in counts.items() if n} == {sk: 1 for sk, n in counts.items() if n}
    assert sum(counts.values()) == 1
    [total] = [int(i["n"]) for i in index(stack) if i["PK"] == "count#Orders"]
    assert total == 1
