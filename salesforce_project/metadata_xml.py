"""Metadata files as Salesforce writes them: the metadata namespace, four-space indentation, elements in the order
the Metadata API's XML schema declares them (a node is an ordered list of (element, value) pairs, never a dict, so
the order is the one written here and the schema test holds it to the WSDL's)."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

METADATA_NS = "http://soap.sforce.com/2006/04/metadata"

type Value = str | int | float | bool | Sequence[tuple[str, Value]] | None
type Node = Sequence[tuple[str, Value]]


def metadata_file(root: str, children: Node) -> str:
    """One `-meta.xml` file whose root element is the metadata type `root`."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<{root} xmlns="{METADATA_NS}">']
    _write(children, 1, lines)
    lines.append(f"</{root}>")
    return "\n".join(lines) + "\n"


def _write(children: Node, depth: int, lines: list[str]) -> None:
    pad = "    " * depth
    for tag, value in children:
        if value is None:
            continue
        if isinstance(value, bool):
            lines.append(f"{pad}<{tag}>{'true' if value else 'false'}</{tag}>")
        elif isinstance(value, int | float | str):
            lines.append(f"{pad}<{tag}>{escape(str(value))}</{tag}>")
        else:
            lines.append(f"{pad}<{tag}>")
            _write(value, depth + 1, lines)
            lines.append(f"{pad}</{tag}>")
