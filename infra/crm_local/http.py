"""The template's ``Type: HttpApi`` routes: API Gateway HTTP API payload format 2.0, locally.

Routing follows API Gateway HTTP APIs: the most specific route wins (literal segments before
``{param}``, ``{proxy+}`` greedy last, ``$default`` only when nothing else matches; an exact method
before ``ANY``). An unknown route is ``404 {"message":"Not Found"}``.

Auth: a route whose API has ``DefaultAuthorizer: AWS_IAM`` (or that names ``AWS_IAM``) needs a
credential; a route with ``Auth: {Authorizer: NONE}`` is public. Locally the credential is a bearer
token (``Authorization: Bearer <token>``; env ``CRM_LOCAL_TOKEN``, default ``local-admin-token``): no
header is ``401 {"message":"Unauthorized"}``, a wrong one ``403 {"message":"Forbidden"}``, neither invokes
the function. A good token fills ``requestContext.authorizer.iam`` as API Gateway does for IAM auth.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from crm_local.template import FunctionSpec, Template

if TYPE_CHECKING:
    from crm_local.cloud import LocalCloud

log = logging.getLogger("crm_local.http")

__all__ = ["HttpResponse", "Route", "HttpRouter", "HttpApiServer", "LOCAL_USER"]

LOCAL_USER = {
    "accessKey": "AKIALOCALADMIN000000",
    "callerId": "AIDALOCALADMIN000000",
    "userId": "AIDALOCALADMIN000000",
    "userName": "local-admin",
}

_TEXT_TYPES = re.compile(r"^(text/|application/(json|xml|x-www-form-urlencoded|javascript|.*\+json|.*\+xml))")


class HttpResponse(NamedTuple):
    """``(status, headers, body)``; ``body`` is ``str`` (or ``bytes`` for a base64-encoded response)."""

    status: int
    headers: dict[str, str]
    body: str | bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode() if isinstance(self.body, bytes) else self.body


def ok(response: HttpResponse, what: str) -> Any:
    """The demos' check of an API answer: the JSON (or the text, for a page), or RuntimeError naming `what`."""
    if response.status >= 400:
        raise RuntimeError(f"{what} failed: {response.status} {response.body}")
    return response.json() if response.text.startswith(("{", "[")) else response.text


@dataclass(frozen=True)
class Route:
    function: str  # logical id
    event: str
    api: str  # logical id of the HttpApi ("ServerlessHttpApi" when implicit)
    method: str  # upper case or ANY
    path: str  # "/contacts/{contact_id}" or "$default"
    auth: str  # "AWS_IAM" or "NONE"
    regex: re.Pattern[str] | None
    literal_segments: int
    greedy: bool

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


def _compile(path: str) -> tuple[re.Pattern[str] | None, int, bool]:
    if path == "$default":
        return None, 0, True
    parts, literal, greedy = [], 0, False
    for segment in path.strip("/").split("/") if path != "/" else []:
        m = re.fullmatch(r"\{([A-Za-z0-9_.\-]+)(\+?)\}", segment)
        if m and m.group(2):
            parts.append(f"(?P<{_group(m.group(1))}>.+)")
            greedy = True
        elif m:
            parts.append(f"(?P<{_group(m.group(1))}>[^/]+)")
        else:
            parts.append(re.escape(segment))
            literal += 1
    return re.compile("^/" + "/".join(parts) + "/?$" if parts else "^/$"), literal, greedy


def _group(name: str) -> str:
    return "p_" + re.sub(r"[^A-Za-z0-9_]", lambda m: f"_{ord(m.group()):x}_", name)


def _ungroup(name: str) -> str:
    return re.sub(r"_([0-9a-f]+)_", lambda m: chr(int(m.group(1), 16)), name[2:])


class HttpRouter:
    """Routes from the template, and the API Gateway 2.0 event/response mapping."""

    def __init__(self, template: Template, functions: Mapping[str, FunctionSpec]) -> None:
        self.routes: list[Route] = []
        apis = template.resources_of_type("AWS::Serverless::HttpApi")
        for fn in functions.values():
            for event in fn.events_of_type("HttpApi"):
                props = event.properties
                api_ref = self._api_logical_id(template, event, apis)
                api_auth = ((apis.get(api_ref) or {}).get("Properties") or {}).get("Auth") or {}
                default_auth = str(api_auth.get("DefaultAuthorizer") or "NONE")
                route_auth = str(((props.get("Auth") or {}).get("Authorizer")) or default_auth)
                if route_auth not in ("NONE", "AWS_IAM"):
                    log.warning(
                        "%s.%s: authorizer %s is emulated as AWS_IAM (bearer token)",
                        fn.logical_id, event.name, route_auth,
                    )
                    route_auth = "AWS_IAM"
                method = str(props.get("Method") or "ANY").upper()
                if method == "X-AMAZON-APIGATEWAY-ANY-METHOD":
                    method = "ANY"
                path = str(props.get("Path") or "$default")
                regex, literal, greedy = _compile(path)
                self.routes.append(
                    Route(fn.logical_id, event.name, api_ref, method, path, route_auth, regex, literal, greedy)
                )

    @staticmethod
    def _api_logical_id(template: Template, event: Any, apis: Mapping[str, Any]) -> str:
        """``ApiId: !Ref CrmHttpApi`` resolves to the API's logical id (the engine's Ref value for APIs)."""
        api_id = event.properties.get("ApiId")
        return str(api_id) if api_id else "ServerlessHttpApi"

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        candidates = []
        for route in self.routes:
            if route.method not in (method, "ANY"):
                continue
            if route.regex is None:
                candidates.append((route, {}))
                continue
            m = route.regex.match(path)
            if m:
                params = {_ungroup(k): v for k, v in m.groupdict().items()}
                candidates.append((route, params))
        if not candidates:
            return None

        def specificity(item: tuple[Route, dict[str, str]]) -> tuple[int, int, int, int]:
            route = item[0]
            return (
                route.regex is not None,  # $default last
                not route.greedy,
                route.literal_segments,
                route.method != "ANY",
            )

        return max(candidates, key=specificity)


def build_event(
    route: Route,
    path_params: Mapping[str, str],
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    now: datetime,
    source_ip: str,
    domain: str,
    account_id: str,
    authorizer: dict[str, Any] | None,
) -> dict[str, Any]:
    lower: dict[str, str] = {}
    for key, value in headers.items():
        k = key.lower()
        lower[k] = f"{lower[k]},{value}" if k in lower else value
    cookies = lower.pop("cookie", None)
    request_id = str(uuid.uuid4())
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": lower,
    }
    if cookies:
        event["cookies"] = [c.strip() for c in cookies.split(";") if c.strip()]
    if raw_query:
        query: dict[str, str] = {}
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value
        event["queryStringParameters"] = query
    request_context: dict[str, Any] = {
        "accountId": account_id,
        "apiId": "local",
        "domainName": domain,
        "domainPrefix": domain.split(".")[0].split(":")[0],
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": lower.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route.route_key,
        "stage": "$default",
        "time": now.astimezone(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if authorizer is not None:
        request_context["authorizer"] = authorizer
    event["requestContext"] = request_context
    if path_params:
        event["pathParameters"] = dict(path_params)
    if body is not None and body != b"":
        content_type = lower.get("content-type", "application/json")
        text = None
        if not content_type or _TEXT_TYPES.match(content_type):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is not None:
            event["body"] = text
            event["isBase64Encoded"] = False
        else:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event


def iam_authorizer(account_id: str) -> dict[str, Any]:
    return {
        "iam": {
            "accessKey": LOCAL_USER["accessKey"],
            "accountId": account_id,
            "callerId": LOCAL_USER["callerId"],
            "cognitoIdentity": None,
            "principalOrgId": None,
            "userArn": f"arn:aws:iam::{account_id}:user/{LOCAL_USER['userName']}",
            "userId": LOCAL_USER["userId"],
        }
    }


def to_response(result: Any) -> HttpResponse:
    """A handler's return value as API Gateway (payload 2.0) turns it into an HTTP response."""
    if isinstance(result, dict) and "statusCode" in result:
        headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        for key, values in (result.get("multiValueHeaders") or {}).items():
            headers[str(key).lower()] = ",".join(str(v) for v in values)
        if result.get("cookies"):
            headers["set-cookie"] = "; ".join(result["cookies"])
        body: str | bytes = result.get("body") or ""
        if not isinstance(body, str):
            body = json.dumps(body)
        if result.get("isBase64Encoded"):
            body = base64.b64decode(body)
        return HttpResponse(int(result["statusCode"]), headers, body)
    if isinstance(result, str):
        return HttpResponse(200, {"content-type": "application/json"}, result)
    return HttpResponse(200, {"content-type": "application/json"}, json.dumps(result, default=str))


def message(status: int, text: str) -> HttpResponse:
    return HttpResponse(status, {"content-type": "application/json"}, json.dumps({"message": text}))


class HttpApiServer:
    """``ThreadingHTTPServer`` in a thread, forwarding every request to ``LocalCloud.http_request``."""

    def __init__(self, cloud: LocalCloud, host: str = "127.0.0.1", port: int = 0) -> None:
        handler = _make_handler(cloud.http_request)
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="crm-local-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _make_handler(dispatch: Callable[..., HttpResponse]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "crm-local"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            split = urlsplit(self.path)
            try:
                response = dispatch(
                    self.command,
                    split.path,
                    query=split.query,
                    headers=dict(self.headers.items()),
                    body=body,
                    source_ip=self.client_address[0],
                    domain=self.headers.get("Host", "127.0.0.1"),
                )
            except Exception:  # noqa: BLE001 - never kill the server thread
                log.exception("local HTTP API failed")
                response = message(500, "Internal Server Error")
            payload = response.body.encode() if isinstance(response.body, str) else response.body
            self.send_response(response.status)
            for key, value in response.headers.items():
                if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("apigw-requestid", uuid.uuid4().hex[:16])
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.info("%s %s", self.address_string(), format % args)

    return Handler
