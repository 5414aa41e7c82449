"""Write openapi/callouts.json, the OpenAPI 3.0 document of the callout API, from the code (`make openapi`).

The document is what Salesforce External Services imports; a test fails when this file and the code disagree.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "openapi" / "callouts.json"


def document() -> dict[str, Any]:
    """The callout API's OpenAPI 3.0 document, as the function serves it."""
    for path in (ROOT / "layers" / "sf_edge", ROOT / "functions" / "callout_api"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "callout_api")
    import callout_api

    return callout_api.openapi_document()


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def main() -> None:
    from openapi_spec_validator import validate

    doc = document()
    validate(doc)  # OpenAPI 3.0 schema validation: the import into External Services expects a valid document
    OUTPUT.write_text(render(doc), encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)} (OpenAPI {doc['openapi']}, {len(doc['paths'])} paths)")


if __name__ == "__main__":
    main()
