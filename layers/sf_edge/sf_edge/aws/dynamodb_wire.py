"""DynamoDB reads without botocore's per-attribute parsing.

DynamoDB's JSON wire format already is the output structure of Query, Scan, GetItem and BatchGetItem (attribute
values stay `{"S": ...}`, `{"N": "..."}`): for our attribute types only blobs would differ, and no entity stores
any. botocore nevertheless walks every attribute of every item through the service model, about 50 us an item;
handing the body to orjson is about 3 us. A client built with `fast_reads_session()` gets this parser for those four
operations' successful answers; errors and every other operation are parsed by botocore as usual.
"""

from __future__ import annotations

from typing import Any

import orjson
from botocore.parsers import JSONParser, ResponseParserFactory
from botocore.session import Session, get_session

_RAW_OUTPUTS = frozenset({"QueryOutput", "ScanOutput", "GetItemOutput", "BatchGetItemOutput"})


class _ReadsParser(JSONParser):
    def _handle_json_body(self, raw_body: Any, shape: Any) -> Any:
        if raw_body and shape is not None and shape.name in _RAW_OUTPUTS:
            return orjson.loads(raw_body)
        return super()._handle_json_body(raw_body, shape)  # type: ignore[misc]


class _ReadsParserFactory(ResponseParserFactory):
    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "json":
            return _ReadsParser(**getattr(self, "_defaults", {}))
        return super().create_parser(protocol_name)


def fast_reads_session() -> Session:
    """A botocore session whose JSON-protocol clients parse DynamoDB reads with orjson."""
    session = get_session()
    session.register_component("response_parser_factory", _ReadsParserFactory())
    return session
