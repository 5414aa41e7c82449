"""Lambda's Invoke API on loopback, for the template's functions as `make run` composes them: what moto's Step
Functions executor calls for a workflow's `arn:aws:states:::lambda:invoke` tasks (moto's own Lambda would run the
functions in Docker). It stands in for Lambda's documented `POST /2015-03-31/functions/{FunctionName}/invocations`
(RequestResponse only): the function named by its name or ARN, the payload its event, the answer its result; a
function that raises answers 200 with `X-Amz-Function-Error: Unhandled` and `{"errorMessage", "errorType",
"stackTrace"}`, so the workflow's Retry and Catch see the exception's class name, as they do in AWS."""

from __future__ import annotations

import json
import logging
import threading
import traceback
from typing import Any
from urllib.parse import unquote

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from local_runtime.lambda_host import LocalFunction

log = logging.getLogger("local_runtime.lambda_invoke")
_PREFIX = "/2015-03-31/functions/"


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s -> %s", self.command, self.path, code)


class LocalLambdaInvoke:
    """Serves Invoke for `functions` (logical id → function) on `port`."""

    def __init__(self, port: int, functions: dict[str, LocalFunction]) -> None:
        self.functions = functions
        self.server: BaseWSGIServer = make_server(
            "127.0.0.1", port, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(target=self.server.serve_forever, name="lambda-invoke", daemon=True)

    def start(self) -> LocalLambdaInvoke:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        return self.answer(request)(environ, start_response)

    def answer(self, request: Request) -> Response:
        path = unquote(request.path)
        if request.method != "POST" or not path.startswith(_PREFIX) or not path.endswith("/invocations"):
            return _json(404, {"Type": "User", "message": f"no such resource: {request.method} {path}"})
        name = path.removeprefix(_PREFIX).removesuffix("/invocations").split(":function:")[-1].split(":")[0]
        function = self.functions.get(name)
        if function is None:
            return _json(404, {"Type": "User", "message": f"Function not found: {name}"}, "ResourceNotFoundException")
        try:
            event = json.loads(request.get_data() or b"{}")
        except ValueError:
            return _json(400, {"Type": "User", "message": "the payload is not JSON"}, "InvalidRequestContentException")
        try:
            result = function.invoke(event)
        except Exception as failure:
            log.warning("%s raised %s: %s", name, type(failure).__name__, failure)
            error = {
                "errorMessage": str(failure),
                "errorType": type(failure).__name__,
                "stackTrace": traceback.format_tb(failure.__traceback__)[-5:],
            }
            response = _json(200, error)
            response.headers["X-Amz-Function-Error"] = "Unhandled"
            return response
        return _json(200, result)


def _json(status: int, payload: Any, error_type: str = "") -> Response:
    response = Response(json.dumps(payload, default=str), status=status, content_type="application/json")
    response.headers["X-Amz-Executed-Version"] = "$LATEST"
    if error_type:
        response.headers["X-Amzn-ErrorType"] = error_type
    return response
