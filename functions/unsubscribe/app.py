"""Public signed links (no IAM auth: the signed token is the credential): unsubscribe and double opt-in.

GET  /u/{token}: a short confirmation page (Czech; ?lang=en or an English Accept-Language for English). A GET never
     unsubscribes: mail scanners and link previews follow links.
POST /u/{token}: unsubscribes at once: the RFC 8058 one-click POST a mail client sends
     (body "List-Unsubscribe=One-Click"), or the page's button.
GET  /c/{token}: the double opt-in page with a confirm button. A GET never confirms (link scanners).
POST /c/{token}: confirms the consent (the ledger's `confirmed` entry carries this request's IP and user agent);
     confirming twice is a no-op page; an expired link gets 410, a request replaced or withdrawn meanwhile 410.
A forged, altered or truncated token gets 400 and changes nothing.
"""

from __future__ import annotations

from functools import lru_cache
from http import HTTPStatus

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from jinja2 import Environment, FileSystemLoader, select_autoescape

from crm_automation.errors import ConcurrentWriteError, TransientError
from crm_automation.observability import logger, metrics, tracer
from crm_automation.services import consent, suppressions
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


def _page(status: HTTPStatus, state: str, already: bool = False, page: str = "unsubscribe_page") -> Response:
    # the page's form and language links are relative: they work wherever the API is mapped
    body = _env().get_template(f"{page}/{_locale()}/page.html").render(state=state, already=already)
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


def _consent_page(status: HTTPStatus, state: str, already: bool = False) -> Response:
    return _page(status, state, already, page="consent_page")


@app.get("/c/<token>")
def consent_page(token: str) -> Response:
    try:
        consent.check_token(rt, token, rt.clock.now())
    except consent.InvalidToken:
        return _consent_page(HTTPStatus.BAD_REQUEST, "invalid")
    except consent.ExpiredToken:
        return _consent_page(HTTPStatus.GONE, "expired")
    return _consent_page(HTTPStatus.OK, "confirm")


def _request_metadata() -> dict[str, str]:
    """The confirming request, kept in the ledger as proof (IP address and user agent; deleted on erasure)."""
    event = app.current_event
    metadata = {"ip": event.request_context.http.source_ip or "",
                "user_agent": (event.headers or {}).get("user-agent", "")[:500]}
    return {k: v for k, v in metadata.items() if v}


@app.post("/c/<token>")
def consent_confirm(token: str) -> Response:
    try:
        result = consent.confirm(rt, token, rt.clock.now(), _request_metadata())
    except consent.InvalidToken:
        logger.warning("Consent confirmation with an invalid token refused")
        return _consent_page(HTTPStatus.BAD_REQUEST, "invalid")
    except consent.ExpiredToken:
        return _consent_page(HTTPStatus.GONE, "expired")
    except (TransientError, ConcurrentWriteError):  # throttled, or the record kept changing: nothing was written
        response = _consent_page(HTTPStatus.SERVICE_UNAVAILABLE, "retry")
        response.headers["Retry-After"] = "5"
        return response
    if result.outcome == "superseded":
        return _consent_page(HTTPStatus.GONE, "superseded")
    return _consent_page(HTTPStatus.OK, "done", already=result.outcome == "already")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
