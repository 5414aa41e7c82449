"""OData 2.0 on the same declarations, planner and engine as 4.0: what Salesforce Connect's 2.0 adapter reads.

Only the edges differ: `$metadata` is EDMX 1.0 (dates are Edm.DateTime), the query options are 2.0's
(`$inlinecount=allpages`, `substringof`, typed literals, a configurable search parameter), and answers are JSON
verbose (`{"d": {"results": [...], "__count": "91", "__next": ...}}`) or AtomPub, with 2.0 error bodies.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from lxml import etree

from sf_edge.odata.csdl import add_entity_type
from sf_edge.odata.request import ODataError, QueryOptions, bind_options
from sf_edge.odata.schema import NAMESPACE, EntitySet, Prop
from sf_edge.odata.writes import NOT_XML

EDMX = "http://schemas.microsoft.com/ado/2007/06/edmx"
EDM = "http://schemas.microsoft.com/ado/2008/09/edm"
M = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"
D = "http://schemas.microsoft.com/ado/2007/08/dataservices"
ATOM = "http://www.w3.org/2005/Atom"
APP = "http://www.w3.org/2007/app"
SCHEME = "http://schemas.microsoft.com/ado/2007/08/dataservices/scheme"
JSON = "application/json;charset=utf-8"
ATOM_FEED = "application/atom+xml;type=feed;charset=utf-8"
ATOM_ENTRY = "application/atom+xml;type=entry;charset=utf-8"
_V2_OPTIONS = {"$filter", "$orderby", "$select", "$top", "$skip", "$inlinecount", "$format", "$skiptoken", "$expand"}


def edm_type(prop: Prop) -> str:
    """2.0 has no DateTimeOffset in Salesforce's adapter's eyes: dates are Edm.DateTime (UTC)."""
    return "Edm.DateTime" if prop.type == "DateTimeOffset" else prop.edm_type


def metadata_xml(entity_sets: tuple[EntitySet, ...]) -> bytes:
    """EDMX 1.0 with DataServiceVersion 2.0."""
    edmx = etree.Element(f"{{{EDMX}}}Edmx", nsmap={"edmx": EDMX}, Version="1.0")
    services = etree.SubElement(edmx, f"{{{EDMX}}}DataServices", nsmap={"m": M})
    services.set(f"{{{M}}}DataServiceVersion", "2.0")
    schema = etree.SubElement(services, f"{{{EDM}}}Schema", nsmap={None: EDM}, Namespace=NAMESPACE)  # type: ignore[dict-item]
    for entity_set in entity_sets:
        add_entity_type(schema, EDM, entity_set, edm_type=edm_type, unbounded="Max")
    container = etree.SubElement(schema, f"{{{EDM}}}EntityContainer", Name="Container")
    container.set(f"{{{M}}}IsDefaultEntityContainer", "true")
    for entity_set in entity_sets:
        etree.SubElement(
            container, f"{{{EDM}}}EntitySet", Name=entity_set.name, EntityType=f"{NAMESPACE}.{entity_set.entity_type}"
        )
    return etree.tostring(edmx, xml_declaration=True, encoding="UTF-8")


def bind_v2_options(entity_set: EntitySet, raw: dict[str, str], search_parameter: str) -> QueryOptions:
    """2.0 options mapped onto the engine's; the next link keeps the 2.0 names the client sent."""
    mapped: dict[str, str] = {}
    for name, value in raw.items():
        if name == search_parameter:
            mapped["$search"] = value
        elif name == "$inlinecount":
            if value not in ("allpages", "none"):
                raise ODataError(
                    400, "InvalidOption", f"$inlinecount must be allpages or none, not {value!r}", "$inlinecount"
                )
            mapped["$count"] = "true" if value == "allpages" else "false"
        elif name.startswith("$"):
            if name not in _V2_OPTIONS:
                raise ODataError(400, "UnknownOption", f"Unknown OData 2.0 query option {name}", name)
            if name != "$format":
                mapped[name] = value
    options = bind_options(entity_set, mapped, v2=True)
    return dataclasses.replace(
        options,
        raw={k: v for k, v in raw.items() if k != "$skiptoken"}
        | ({"$skiptoken": raw["$skiptoken"]} if "$skiptoken" in raw else {}),
    )


def wants_atom(accept: str | None, format_option: str | None) -> bool:
    """`$format` wins over `Accept`; JSON unless Atom is asked for."""
    if format_option:
        kind = format_option.lower()
        if kind not in ("json", "atom", "xml", "application/json", "application/atom+xml"):
            raise ODataError(400, "InvalidOption", f"$format {format_option} is not json or atom", "$format")
        return kind in ("atom", "xml", "application/atom+xml")
    accept = (accept or "").lower()
    return "atom" in accept or ("xml" in accept and "json" not in accept)


# ---- values ------------------------------------------------------------------------------------------------------


def json_value(prop: Prop, value: Any) -> Any:
    """JSON verbose values: /Date(ms)/ for dates, strings for Decimal and Int64, numbers otherwise."""
    if value is None:
        return None
    if prop.type == "DateTimeOffset":
        return f"/Date({_epoch_ms(value)})/"
    if prop.type in ("Decimal", "Int64"):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    return value


def atom_value(prop: Prop, value: Any) -> str:
    """A value as AtomPub text; characters XML 1.0 cannot carry (written by another writer) become U+FFFD, so a
    stored value never fails a read."""
    if prop.type == "DateTimeOffset":
        try:
            return _moment(value).strftime("%Y-%m-%dT%H:%M:%S")
        except ValueError:
            pass  # not a date-time we can read: written out as stored
    if prop.type == "Boolean":
        return "true" if value else "false"
    return NOT_XML.sub("\ufffd", str(value))


def from_json_value(prop: Prop, value: Any) -> Any:
    """A 2.0 body value as the 4.0 validation expects it (dates /Date(ms)/ or ISO, decimals as strings)."""
    if isinstance(value, str) and prop.type == "DateTimeOffset" and value.startswith("/Date("):
        millis = int(value[6:].split(")")[0].split("+")[0].split("-")[0] or 0)
        return datetime.fromtimestamp(millis / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, str) and prop.type == "DateTimeOffset" and "Z" not in value and "+" not in value[10:]:
        return value + "Z"
    if isinstance(value, str) and prop.type in ("Int16", "Int32", "Int64") and value.lstrip("-").isdigit():
        return int(value)
    return value


def _moment(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _epoch_ms(value: Any) -> int:
    return int(_moment(value).timestamp() * 1000)


# ---- documents ---------------------------------------------------------------------------------------------------


def entity_uri(service_root: str, entity_set: EntitySet, row: dict[str, Any]) -> str:
    parts = [(k, row.get(k)) for k in entity_set.key]
    literal = [("'" + str(v).replace("'", "''") + "'") if isinstance(v, str) else str(v) for _, v in parts]
    key = literal[0] if len(parts) == 1 else ",".join(f"{k}={lit}" for (k, _), lit in zip(parts, literal, strict=True))
    encoded = quote(key, safe="'=,()")
    return f"{service_root}{entity_set.name}({encoded})"


def json_entity(
    service_root: str, entity_set: EntitySet, row: dict[str, Any], select: tuple[str, ...] | None
) -> dict[str, Any]:
    names = select if select is not None else tuple(p.name for p in entity_set.properties)
    entity: dict[str, Any] = {
        "__metadata": {
            "uri": entity_uri(service_root, entity_set, row),
            "type": f"{NAMESPACE}.{entity_set.entity_type}",
        }
    }
    for name in names:
        prop = entity_set.property(name)
        assert prop is not None
        entity[name] = json_value(prop, row.get(name))
    return entity


def json_collection(
    service_root: str,
    entity_set: EntitySet,
    rows: list[dict[str, Any]],
    select: tuple[str, ...] | None,
    count: int | None,
    next_link: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"results": [json_entity(service_root, entity_set, r, select) for r in rows]}
    if count is not None:
        body["__count"] = str(count)
    if next_link:
        body["__next"] = next_link
    return {"d": body}


def atom_feed(
    service_root: str,
    entity_set: EntitySet,
    rows: list[dict[str, Any]],
    select: tuple[str, ...] | None,
    count: int | None,
    next_link: str | None,
) -> bytes:
    feed = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM, "d": D, "m": M})  # type: ignore[dict-item]
    feed.set("{http://www.w3.org/XML/1998/namespace}base", service_root)
    etree.SubElement(feed, f"{{{ATOM}}}id").text = f"{service_root}{entity_set.name}"
    etree.SubElement(feed, f"{{{ATOM}}}title", type="text").text = entity_set.name
    etree.SubElement(feed, f"{{{ATOM}}}updated").text = _now()
    etree.SubElement(feed, f"{{{ATOM}}}link", rel="self", title=entity_set.name, href=entity_set.name)
    if count is not None:
        etree.SubElement(feed, f"{{{M}}}count").text = str(count)
    for row in rows:
        feed.append(_atom_entry(service_root, entity_set, row, select))
    if next_link:
        etree.SubElement(feed, f"{{{ATOM}}}link", rel="next", href=next_link)
    return etree.tostring(feed, xml_declaration=True, encoding="UTF-8")


def atom_entry(service_root: str, entity_set: EntitySet, row: dict[str, Any], select: tuple[str, ...] | None) -> bytes:
    entry = _atom_entry(service_root, entity_set, row, select)
    return etree.tostring(entry, xml_declaration=True, encoding="UTF-8")


def _atom_entry(
    service_root: str, entity_set: EntitySet, row: dict[str, Any], select: tuple[str, ...] | None
) -> etree._Element:
    uri = entity_uri(service_root, entity_set, row)
    entry = etree.Element(f"{{{ATOM}}}entry", nsmap={None: ATOM, "d": D, "m": M})  # type: ignore[dict-item]
    etree.SubElement(entry, f"{{{ATOM}}}id").text = uri
    etree.SubElement(entry, f"{{{ATOM}}}title", type="text")
    etree.SubElement(entry, f"{{{ATOM}}}updated").text = _now()
    etree.SubElement(etree.SubElement(entry, f"{{{ATOM}}}author"), f"{{{ATOM}}}name")
    etree.SubElement(
        entry, f"{{{ATOM}}}link", rel="edit", title=entity_set.entity_type, href=uri.removeprefix(service_root)
    )
    etree.SubElement(entry, f"{{{ATOM}}}category", term=f"{NAMESPACE}.{entity_set.entity_type}", scheme=SCHEME)
    content = etree.SubElement(entry, f"{{{ATOM}}}content", type="application/xml")
    properties = etree.SubElement(content, f"{{{M}}}properties")
    names = select if select is not None else tuple(p.name for p in entity_set.properties)
    for name in names:
        prop = entity_set.property(name)
        assert prop is not None
        element = etree.SubElement(properties, f"{{{D}}}{name}")
        if prop.type != "String":
            element.set(f"{{{M}}}type", edm_type(prop))
        value = row.get(name)
        if value is None:
            element.set(f"{{{M}}}null", "true")
        else:
            element.text = atom_value(prop, value)
    return entry


def service_document_json(entity_sets: tuple[EntitySet, ...]) -> dict[str, Any]:
    return {"d": {"EntitySets": [s.name for s in entity_sets]}}


def service_document_xml(entity_sets: tuple[EntitySet, ...], service_root: str) -> bytes:
    service = etree.Element(f"{{{APP}}}service", nsmap={None: APP, "atom": ATOM})  # type: ignore[dict-item]
    service.set("{http://www.w3.org/XML/1998/namespace}base", service_root)
    workspace = etree.SubElement(service, f"{{{APP}}}workspace")
    etree.SubElement(workspace, f"{{{ATOM}}}title").text = "Default"
    for entity_set in entity_sets:
        collection = etree.SubElement(workspace, f"{{{APP}}}collection", href=entity_set.name)
        etree.SubElement(collection, f"{{{ATOM}}}title").text = entity_set.name
    return etree.tostring(service, xml_declaration=True, encoding="UTF-8")


def error_json(error: ODataError) -> dict[str, Any]:
    return {"error": {"code": error.code, "message": {"lang": "en-US", "value": error.message}}}


def error_xml(error: ODataError) -> bytes:
    root = etree.Element(f"{{{M}}}error", nsmap={None: M})  # type: ignore[dict-item]
    etree.SubElement(root, f"{{{M}}}code").text = error.code
    message = etree.SubElement(root, f"{{{M}}}message")
    message.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
    message.text = error.message
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
