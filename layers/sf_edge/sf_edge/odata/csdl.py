"""`$metadata` (CSDL XML, OData 4.0) and the service document, generated from the entity set declarations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lxml import etree

from sf_edge.odata.schema import NAMESPACE, EntitySet, Prop

EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
EDM = "http://docs.oasis-open.org/odata/ns/edm"
CONTAINER = "Container"


def add_entity_type(
    schema: etree._Element, edm: str, entity_set: EntitySet, *, edm_type: Callable[[Prop], str], unbounded: str
) -> None:
    """One EntityType (key, properties with their facets) in the `edm` namespace; both OData versions use it,
    differing only in how a property's type is named and how an unbounded MaxLength is spelled."""
    entity_type = etree.SubElement(schema, f"{{{edm}}}EntityType", Name=entity_set.entity_type)
    key = etree.SubElement(entity_type, f"{{{edm}}}Key")
    for name in entity_set.key:
        etree.SubElement(key, f"{{{edm}}}PropertyRef", Name=name)
    for prop in entity_set.properties:
        attributes = {"Name": prop.name, "Type": edm_type(prop), "Nullable": "true" if prop.nullable else "false"}
        if prop.type == "String":
            attributes["MaxLength"] = str(prop.max_length) if prop.max_length else unbounded
        if prop.precision is not None:
            attributes["Precision"] = str(prop.precision)
        if prop.scale is not None:
            attributes["Scale"] = str(prop.scale)
        etree.SubElement(entity_type, f"{{{edm}}}Property", attributes)


def metadata_xml(entity_sets: tuple[EntitySet, ...]) -> bytes:
    """The CSDL document: one EntityType per set (key, properties with their facets) and the container."""
    edmx = etree.Element(f"{{{EDMX}}}Edmx", nsmap={"edmx": EDMX}, Version="4.0")
    services = etree.SubElement(edmx, f"{{{EDMX}}}DataServices")
    schema = etree.SubElement(services, f"{{{EDM}}}Schema", nsmap={None: EDM}, Namespace=NAMESPACE)  # type: ignore[dict-item]
    for entity_set in entity_sets:
        add_entity_type(schema, EDM, entity_set, edm_type=lambda prop: prop.edm_type, unbounded="max")
    container = etree.SubElement(schema, f"{{{EDM}}}EntityContainer", Name=CONTAINER)
    for entity_set in entity_sets:
        etree.SubElement(
            container, f"{{{EDM}}}EntitySet", Name=entity_set.name, EntityType=f"{NAMESPACE}.{entity_set.entity_type}"
        )
    return etree.tostring(edmx, xml_declaration=True, encoding="UTF-8")


def service_document(entity_sets: tuple[EntitySet, ...], service_root: str) -> dict[str, Any]:
    """The JSON service document: every entity set with its URL (relative to the service root)."""
    return {
        "@odata.context": f"{service_root}$metadata",
        "value": [{"name": s.name, "kind": "EntitySet", "url": s.name} for s in entity_sets],
    }
