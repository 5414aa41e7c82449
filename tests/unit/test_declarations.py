"""One declaration (sf_edge/odata/schema.py) and what must agree with it: template.yaml's tables, GSIs, streams,
IAM and event sources, and the order system's pydantic entities."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from local_runtime.template import Template
from sf_edge.odata.schema import ENTITY_SETS, EntitySet
from sf_edge.order_system import entities

TEMPLATE = Template()


def table_of(entity_set: EntitySet) -> tuple[str, dict[str, Any]]:
    [(logical_id, resource)] = [
        (k, v)
        for k, v in TEMPLATE.resources.items()
        if v["Type"] == "AWS::DynamoDB::Table" and v.get("Metadata", {}).get("EntitySet") == entity_set.name
    ]
    return logical_id, resource


@pytest.mark.parametrize("entity_set", ENTITY_SETS, ids=lambda s: s.name)
def test_each_table_is_what_its_declaration_derives(entity_set: EntitySet) -> None:
    _, resource = table_of(entity_set)
    properties = dict(resource["Properties"])
    assert properties.pop("BillingMode") == "PAY_PER_REQUEST"
    assert properties.pop("PointInTimeRecoverySpecification") == {"PointInTimeRecoveryEnabled": True}
    assert properties == entity_set.dynamodb_table(), "run `make tables` and paste the table into template.yaml"


def function(logical_id: str) -> dict[str, Any]:
    return dict(TEMPLATE.resources[logical_id]["Properties"])


def statements(logical_id: str) -> list[dict[str, Any]]:
    found = []
    for policy in function(logical_id)["Policies"]:
        candidates = policy.get("Fn::If", [None, policy])[1:2] if isinstance(policy, dict) else []
        for candidate in candidates:
            found += candidate.get("Statement", []) if isinstance(candidate, dict) else []
    return found


def test_the_feed_may_query_every_index_and_read_the_counts() -> None:
    environment = function("ODataFeedFunction")["Environment"]["Variables"]
    resources = [r for s in statements("ODataFeedFunction") for r in _list(s["Resource"])]
    for entity_set in ENTITY_SETS:
        logical_id, _ = table_of(entity_set)
        assert environment[entity_set.table_env] == {"Ref": logical_id}
        if entity_set.dynamodb_table().get("GlobalSecondaryIndexes"):
            assert {"Fn::Sub": f"${{{logical_id}.Arn}}/index/*"} in resources, entity_set.name
    assert environment["ODATA_INDEX_TABLE"] == {"Ref": "ODataIndexTable"}
    assert {"Fn::GetAtt": ["ODataIndexTable", "Arn"]} in resources


def test_the_indexer_reads_every_entity_tables_stream() -> None:
    indexer = function("ODataIndexerFunction")
    streams = {
        e["Properties"]["Stream"]["Fn::GetAtt"][0] for e in indexer["Events"].values() if e["Type"] == "DynamoDB"
    }
    readable = [r for s in statements("ODataIndexerFunction") if s["Sid"] == "ReadStreams" for r in s["Resource"]]
    for entity_set in ENTITY_SETS:
        logical_id, _ = table_of(entity_set)
        assert logical_id in streams, entity_set.name
        assert {"Fn::GetAtt": [logical_id, "StreamArn"]} in readable
        assert indexer["Environment"]["Variables"][entity_set.table_env] == {"Ref": logical_id}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


MODELS = {"Customers": entities.Customer, "Orders": entities.Order, "Products": entities.Product}
MODELS["Order_Details"] = entities.OrderDetail


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_order_systems_entities_agree_with_the_declarations(name: str) -> None:
    """What the worker and the callouts write is what $metadata announces: names, types, lengths."""
    entity_set = next(s for s in ENTITY_SETS if s.name == name)
    python_types = {
        "String": str,
        "Int16": int,
        "Int32": int,
        "Int64": int,
        "Decimal": __import__("decimal").Decimal,
        "Single": __import__("decimal").Decimal,
        "Boolean": bool,
        "DateTimeOffset": str,
    }
    for field_name, field in MODELS[name].model_fields.items():
        prop = entity_set.property(field_name)
        if prop is None:
            assert field_name == "SalesforceModstamp", f"{name}.{field_name} is not declared"  # kept, not published
            continue
        types = set(get_args(field.annotation)) - {type(None)} or {field.annotation}
        assert types == {python_types[prop.type]}, field_name
        lengths = [m.max_length for m in field.metadata if hasattr(m, "max_length")]
        if prop.type == "String" and lengths:
            assert lengths == [prop.max_length], field_name
