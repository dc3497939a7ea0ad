"""Public unsubscribe routes (no IAM auth: the signed token is the credential).

GET  /u/{token}: a short confirmation page (Czech; ?lang=en or an English Accept-Language for English). A GET never
     unsubscribes: mail scanners and link previews follow links.
POST /u/{token}: unsubscribes at once: the RFC 8058 one-click POST a mail client sends
     (body "List-Unsubscribe=One-Click"), or the page's button.
A forged, altered or truncated token gets 400 and changes nothing.
"""

from __future__ import annotations

from functools import lru_cache
from http import HTTPStatus

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from jinja2 import Environment, FileSystemLoader, select_autoescape

from crm_automation.observability import logger, metrics, tracer
from crm_automation.services import suppressions
from crm_automation.services.runtime import Runtime

app = APIGatewayHttpResolver()
rt = Runtime()
_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"}


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(loader=FileSystemLoader(str(rt.settings.templates_dir)), autoescape=select_autoescape(["html"]))


def _locale() -> str:
    lang = (app.current_event.get_query_string_value("lang") or "").lower()
    if lang in ("cs", "en"):
        return lang
    accept = (app.current_event.headers or {}).get("accept-language", "").lower()
    return "en" if accept.startswith("en") else rt.settings.locale


def _page(status: HTTPStatus, state: str, already: bool = False) -> Response:
    # the page's form and language links are relative: they work wherever the API is mapped
    body = _env().get_template(f"unsubscribe_page/{_locale()}/page.html").render(state=state, already=already)
    return Response(status_code=status, content_type="text/html; charset=utf-8", body=body, headers=_HEADERS)


@app.get("/u/<token>")
def confirm(token: str) -> Response:
    try:
        suppressions.verify(token, rt.keys.unsubscribe)
    except suppressions.InvalidToken:
        return _page(HTTPStatus.BAD_REQUEST, "invalid")
    return _page(HTTPStatus.OK, "confirm")


@app.post("/u/<token>")
def unsubscribe(token: str) -> Response:
    try:
        body = app.current_event.decoded_body or ""
    except (UnicodeDecodeError, ValueError):  # a body that is not text: not the RFC 8058 one, still an unsubscribe
        body = ""
    via = "one-click" if "List-Unsubscribe=One-Click" in body else "page"
    try:
        result = suppressions.unsubscribe(rt, token, rt.clock.now(), via)
    except suppressions.InvalidToken:
        logger.warning("Unsubscribe with an invalid token refused")
        return _page(HTTPStatus.BAD_REQUEST, "invalid")
    return _page(HTTPStatus.OK, "done", already=result.already)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
