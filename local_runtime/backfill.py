"""`make backfill SET=Orders`: apply every row of an entity set's table to the OData index (counts, search
postings, sort keys), on `make run`'s local AWS (MOTO_PORT, default 5000); every set without SET. It runs the
indexer function's own `{"backfill": "<set>"}` request, as deployed (README: the OData index); safe while the
streams run. Deployed: `aws lambda invoke --function-name <ODataIndexerFunctionName> --payload '{"backfill":...}'`.
"""

from __future__ import annotations

import importlib
import os
import sys

from local_runtime.aws_local import running_local_aws
from local_runtime.lambda_host import LocalContext, add_layer_to_path, composition_root
from local_runtime.template import Template


def main() -> int:
    running_local_aws()
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # a report on the console, not CloudWatch's lines
    template = Template({"AllowedOrgIds": "00D000000000001"})
    for logical_id in template.of_type("AWS::DynamoDB::Table"):  # `make run` names each table by its logical id
        template.physical[logical_id] = {"Ref": logical_id, "Arn": f"arn:aws:dynamodb:local:table/{logical_id}"}
    [spec] = [s for s in template.functions() if s.logical_id == "ODataIndexerFunction"]
    add_layer_to_path()
    sys.path.insert(0, str(spec.code_dir))
    from sf_edge.odata.schema import ENTITY_SETS

    module = importlib.import_module(spec.module)
    root = composition_root(module)
    root.configure(root.settings_type.from_env({**os.environ, **spec.environment}))
    wanted = os.environ.get("SET", "")
    sets = [s.name for s in ENTITY_SETS if not wanted or s.name == wanted]
    if not sets:
        print(f"SET={wanted}: no such entity set ({', '.join(s.name for s in ENTITY_SETS)})", file=sys.stderr)
        return 2
    for name in sets:
        try:
            done = getattr(module, spec.handler)({"backfill": name}, LocalContext(spec.logical_id))
        except Exception as exc:  # make run is not running on this port, or the table is not there
            print(f"{name}: {type(exc).__name__}: {exc}; is `make run` running (MOTO_PORT)?", file=sys.stderr)
            return 2
        print(f"{name}: {done.get('rows', 0)} rows, {done.get('changed', 0)} index states changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
