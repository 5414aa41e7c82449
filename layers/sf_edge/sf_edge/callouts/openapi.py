"""OpenAPI 3.1 (what Powertools emits with pydantic v2) down to the 3.0 that Salesforce External Services imports.

External Services takes OpenAPI 2.0 or a subset of 3.0: no JSON Schema 2020 keywords, no `null` types, no
`examples` arrays in schemas. The conversion is mechanical: nullable unions become `nullable: true` (or the plain
reference, for an optional object), `examples` lists become one `example`, `const` an `enum`, numeric exclusive
bounds the 3.0 boolean form.
"""

from __future__ import annotations

from typing import Any

OPENAPI_30 = "3.0.3"
_DROP = {"$schema", "contentMediaType", "contentEncoding", "jsonSchemaDialect", "webhooks", "$id", "$defs"}


def to_openapi_30(document: dict[str, Any]) -> dict[str, Any]:
    """A 3.0.3 copy of a 3.1 document."""
    converted: dict[str, Any] = _convert(document, in_schema=False)
    converted["openapi"] = OPENAPI_30
    converted.get("info", {}).get("license", {}).pop("identifier", None)
    _prune_unreferenced(converted)
    return converted


def _prune_unreferenced(document: dict[str, Any]) -> None:
    """Drop component schemas no operation reaches (Powertools' default 422 models, once we replace them)."""
    schemas = document.get("components", {}).get("schemas", {})
    reached: set[str] = set()
    pending = [document.get("paths", {})]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in reached:
                    reached.add(name)
                    pending.append(schemas.get(name, {}))
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    for name in set(schemas) - reached:
        del schemas[name]


def _convert(node: Any, *, in_schema: bool) -> Any:
    if isinstance(node, list):
        return [_convert(item, in_schema=in_schema) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        child_in_schema = in_schema or key in ("schema", "schemas", "properties", "items", "additionalProperties")
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _convert(prop, in_schema=True) for name, prop in value.items()}
        elif key == "schemas" and isinstance(value, dict):
            out[key] = {name: _convert(schema, in_schema=True) for name, schema in value.items()}
        else:
            out[key] = _convert(value, in_schema=child_in_schema)
    if in_schema:
        _schema_30(out)
    elif isinstance(out.get("examples"), list):  # a parameter's or media type's examples list
        examples = out.pop("examples")
        if examples:
            out["example"] = examples[0]
    return out


def _schema_30(schema: dict[str, Any]) -> None:
    for union in ("anyOf", "oneOf"):
        options = schema.get(union)
        if isinstance(options, list) and any(o == {"type": "null"} for o in options):
            rest = [o for o in options if o != {"type": "null"}]
            del schema[union]
            if len(rest) == 1 and "$ref" in rest[0]:
                schema.update(rest[0])  # an optional object: absent rather than null
            elif len(rest) == 1:
                schema.update(rest[0])
                schema["nullable"] = True
            else:
                schema[union] = rest
                schema["nullable"] = True
    if isinstance(schema.get("type"), list):
        types = [t for t in schema["type"] if t != "null"]
        if len(types) < len(schema["type"]):
            schema["nullable"] = True
        schema["type"] = types[0] if len(types) == 1 else types
    if schema.get("nullable") and isinstance(schema.get("enum"), list) and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]  # 3.0.3: a nullable enum lists null among its values
    if isinstance(schema.get("examples"), list):
        examples = schema.pop("examples")
        if examples:
            schema["example"] = examples[0]
    if "const" in schema:
        schema["enum"] = [schema.pop("const")]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(schema.get(bound), int | float) and not isinstance(schema.get(bound), bool):
            schema[plain] = schema[bound]
            schema[bound] = True
    if "$ref" in schema and len(schema) > 1:  # 3.0 ignores siblings of $ref: keep only the reference
        ref = schema["$ref"]
        schema.clear()
        schema["$ref"] = ref
