"""The local web server of `allennlp rrnn-serve`: one page and one JSON endpoint, standard library only.

    GET  /                 the page (page.html): a text box; the label, the probabilities and, per
                           WFSA, its matched phrase highlighted in the text
    POST /api/predict      {"sentence": "..."} -> what `Explainer.explain` returns
    GET  /structure.svg    the learned structure (404 when the archive has none)

Bad requests get a JSON error with a 4xx status and never stop the server: invalid JSON, not an
object, a missing or non-string "sentence", an empty text (400), a body or a text over the limit
(413), an unknown path (404), another method (405).  An unexpected failure while explaining is a
500 with its message; the server keeps serving.  It binds to 127.0.0.1 unless told otherwise.
"""
import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

logger = logging.getLogger(__name__)

PAGE = (Path(__file__).parent / "page.html").read_text(encoding="utf-8")
DEFAULT_MAX_CHARS = 20000


class RequestError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_request(body: bytes, max_chars: int) -> str:
    """The text of a /api/predict request body, or RequestError saying what is wrong with it."""
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise RequestError(HTTPStatus.BAD_REQUEST, "the body is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"the body is not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(data, dict):
        raise RequestError(HTTPStatus.BAD_REQUEST, f'expected a JSON object {{"sentence": "..."}}, got {type(data).__name__}')
    if "sentence" not in data:
        raise RequestError(HTTPStatus.BAD_REQUEST, f'missing field "sentence" (the object has {sorted(data)})')
    text = data["sentence"]
    if not isinstance(text, str):
        raise RequestError(HTTPStatus.BAD_REQUEST, f'"sentence" must be a string, got {type(text).__name__}')
    if not text.strip():
        raise RequestError(HTTPStatus.BAD_REQUEST, '"sentence" is empty')
    if len(text) > max_chars:
        raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                           f'"sentence" has {len(text)} characters; this server takes at most {max_chars}')
    return text


def make_handler(explainer, max_chars: int):
    lock = threading.Lock()  # one explanation at a time: the model is not made for concurrent use

    class Handler(BaseHTTPRequestHandler):
        server_version = "rrnn-serve"

        def log_message(self, format: str, *args: Any) -> None:
            logger.info("%s %s", self.address_string(), format % args)

        def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: HTTPStatus, data: Dict[str, Any]) -> None:
            self._send(status, json.dumps(data).encode("utf-8"), "application/json; charset=utf-8")

        def do_GET(self) -> None:
            if self.path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, PAGE.encode("utf-8"), "text/html; charset=utf-8")
            elif self.path == "/structure.svg" and explainer.structure_svg is not None:
                self._send(HTTPStatus.OK, explainer.structure_svg.encode("utf-8"), "image/svg+xml")
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no page {self.path}"})

        def do_POST(self) -> None:
            if self.path != "/api/predict":
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no endpoint {self.path}"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0:  # rfile.read(-1) would read until the client closes, past the size limit
                self._json(HTTPStatus.BAD_REQUEST, {"error": "Content-Length is not a number >= 0"})
                self.close_connection = True
                return
            if length > 4 * max_chars + 1024:
                self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"the body has {length} bytes; too large"})
                self.close_connection = True
                return
            try:
                text = parse_request(self.rfile.read(length), max_chars)
                with lock:
                    answer = explainer.explain(text)
                self._json(HTTPStatus.OK, answer)
            except RequestError as error:
                self._json(error.status, {"error": str(error)})
            except Exception as error:  # noqa: BLE001 - one bad request must not stop the server
                logger.exception("explaining a request failed")
                self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(error).__name__}: {error}"})

        def _method_not_allowed(self) -> None:
            self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": f"{self.command} is not supported"})

        do_PUT = do_DELETE = do_PATCH = _method_not_allowed

    return Handler


def make_server(explainer, host: str = "127.0.0.1", port: int = 8000,
                max_chars: int = DEFAULT_MAX_CHARS) -> ThreadingHTTPServer:
    """A server bound to (host, port) (port 0: a free one); `serve_forever()` runs it."""
    server = ThreadingHTTPServer((host, port), make_handler(explainer, max_chars))
    server.daemon_threads = True
    return server


def address(server: ThreadingHTTPServer) -> Tuple[str, int]:
    host, port = server.server_address[:2]
    return str(host), int(port)
